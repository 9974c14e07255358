"""Quicker handoffs between a run's threads while it waits on answers and works at once.

An export reads its pages, its project lists and its bulk creates on threads of their
own while the run's thread plans and records. Python lets one thread run at a time: a
thread whose answer has arrived waits until the busy one gives way, which it does every
`sys.getswitchinterval()` seconds (5 ms by default). A request's answer is taken up in a
few such steps (the status line, the headers, the body), so each of the 367 bulk creates
of a big week waited up to tens of milliseconds on the run's own work, on top of
Procore's time. While `quick_handoffs` is open the interval is 1 ms; it is put back
when the last user leaves.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Seconds a thread runs before one that waits may take over (Python's default: 0.005).
INTERVAL = 0.001

_lock = threading.Lock()
_users = 0
_before = 0.0


@contextmanager
def quick_handoffs() -> Iterator[None]:
    global _users, _before
    with _lock:
        if _users == 0:
            _before = sys.getswitchinterval()
            sys.setswitchinterval(min(_before, INTERVAL))
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                sys.setswitchinterval(_before)
