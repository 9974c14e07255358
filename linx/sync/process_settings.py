"""A process-wide setting changed while at least one run needs it, put back after the last.

Runs share their process (a worker's, or a web process running one here and now), and
several may be open at once: the first to open a `WhileRunning` changes the setting, the
last to leave puts back what the first found, even when a run fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class WhileRunning:
    """``read()`` the setting, ``change(before)`` it while open, ``restore(before)`` after."""

    def __init__(
        self,
        read: Callable[[], Any],
        change: Callable[[Any], None],
        restore: Callable[[Any], None],
    ) -> None:
        self._read, self._change, self._restore = read, change, restore
        self._lock = threading.Lock()
        self._users = 0
        self._before: Any = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._before = self._read()
                self._change(self._before)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._restore(self._before)
