"""Up to N ExakTime writes at once, each finished on the run's own thread.

ExakTime has no bulk write: a first import of a large company is one request per
record, and at internet latency nearly all of its time is spent waiting on them. A
`WritePool` sends up to ``limit`` of them side by side. Only the HTTP call goes to a
worker thread; what a write's answer means (its mapping saved, its row recorded) is
done by `finish` or `fail` on the run's thread, because SQLite allows one writer and
Django's connections belong to the thread that opened them. No database transaction
is open while a call is out.

Each write names the record it touches (its ``key``): a second write of the same
record waits for the first to be finished, so one record is never written twice at
once. Pacing, 429 and ``Retry-After`` are the HTTP client's, shared by every thread of
the connection (see `integrations.http`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import connections

from integrations.exaktime.errors import ExakTimeError

log = logging.getLogger(__name__)


@dataclass
class _Job:
    future: Future
    finish: Callable[[Any], Any]
    fail: Callable[[ExakTimeError], Any]


def in_worker(call: Callable[[], Any]) -> Any:
    try:
        return call()
    finally:
        connections.close_all()  # a worker never keeps a database connection open


class WritePool:
    """Sends ExakTime calls, up to ``limit`` at once (1: one after another, inline)."""

    def __init__(self, limit: int, name: str = "linx-exaktime-write") -> None:
        self.limit = max(1, limit)
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._pending: dict[Hashable, _Job] = {}  # in the order sent

    def run(
        self,
        key: Hashable,
        call: Callable[[], Any],
        finish: Callable[[Any], Any],
        fail: Callable[[ExakTimeError], Any],
        *,
        wait: bool = True,
    ) -> Any:
        """Send ``call``; ``finish(answer)`` or ``fail(error)`` says what it means.

        ``wait``: the caller needs the outcome now (finish's value is returned); else
        it is sent alongside the others and finished later (None is returned).
        """
        self.settle(key)  # never the same record twice at once
        while len(self._pending) >= self.limit:
            self._complete(next(iter(self._pending)))  # at most `limit` out at once
        if wait or self.limit == 1:
            try:
                answer = call()
            except ExakTimeError as error:
                return fail(error)
            return finish(answer)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.limit, thread_name_prefix=self._name)
        self._pending[key] = _Job(self._executor.submit(in_worker, call), finish, fail)
        return None

    def settle(self, key: Hashable) -> None:
        """Finish the write of this record that is out, if any."""
        if key in self._pending:
            self._complete(key)

    def drain(self) -> None:
        """Finish every write that is out, oldest first."""
        while self._pending:
            self._complete(next(iter(self._pending)))

    def close(self) -> None:
        """Finish what is out even when the run is ending on an error (each write that
        happened keeps its mapping and, while rows can be recorded, its row), then stop
        the worker threads."""
        try:
            while self._pending:
                try:
                    self._complete(next(iter(self._pending)))
                except Exception:  # the run is already ending on the first error
                    log.warning("an ExakTime write finished after the run stopped failed too")
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _complete(self, key: Hashable) -> Any:
        job = self._pending.pop(key)
        try:
            answer = job.future.result()
        except ExakTimeError as error:
            return job.fail(error)
        return job.finish(answer)
