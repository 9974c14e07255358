"""Quicker handoffs between a run's threads while it waits on answers and works at once.

An export reads its pages, its project lists and its bulk creates on threads of their
own while the run's thread plans and records. Python lets one thread run at a time: a
thread whose answer has arrived waits until the busy one gives way, which it does every
`sys.getswitchinterval()` seconds (5 ms by default). A request's answer is taken up in a
few such steps (the status line, the headers, the body), so each of the 367 bulk creates
of a big week waited up to tens of milliseconds on the run's own work, on top of
Procore's time. An import's per-project lists, read one ahead on a worker while the
run's thread writes, are taken up the same way. While `quick_handoffs` is open the
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
