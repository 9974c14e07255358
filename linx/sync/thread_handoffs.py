"""Quicker handoffs between a run's threads while it waits on answers and works at once.

An export reads its pages and its project lists on threads of their own while the run's
thread plans; an import sends its ExakTime writes, and reads per-project lists while
Procore answers slowly, on threads too. Python lets one thread run at a time: a thread
whose answer has arrived waits until the busy one gives way, which it does every
`sys.getswitchinterval()` seconds (5 ms by default). A request's answer is taken up in a
few such steps (the status line, the headers, the body), so each answer waited up to
tens of milliseconds on the run's own work, on top of the service's time (measured on
the 367 bulk creates of a big week, when they were sent from a thread; they are written
on the run's own thread now, see `send_ahead`). While `quick_handoffs` is open the
interval is 1 ms; it is put back when the last user leaves.
"""

from __future__ import annotations

import sys

from linx.sync.process_settings import WhileRunning

#: Seconds a thread runs before one that waits may take over (Python's default: 0.005).
INTERVAL = 0.001

quick_handoffs = WhileRunning(
    sys.getswitchinterval,
    lambda before: sys.setswitchinterval(min(before, INTERVAL)),
    sys.setswitchinterval,
)
