"""One bulk create out on a thread of its own while the run's thread records the last.

An export's creates go to Procore one batch after another. Recording an answer (the
ledger lines completed, a row per record) does not need Procore, and Procore's answer
does not need Linx: `SendAhead` sends the batches on a worker thread, in order, each as
soon as the one before it is settled, while the run's thread records the answers. A
batch created is settled when its answer arrives (the next goes out at once, not when
the run's thread gets to it); one refused, or whose outcome is unknown, is settled when
the run's thread has dealt with it (`settled`), and `stop` keeps the rest from going
out. Still only one create is out at a time, in the same order, and a batch's ledger
intent is committed before it is handed over (the caller writes it first).

The worker makes only the HTTP call. The connection's token lives in the database, which
a worker never touches: it is read on the run's thread and handed to the call; a call
that would need a new one (it expires soon, or Procore answered 401, which means the
request was refused unprocessed) has the token renewed on the run's thread, as the
worker would have, and is made there.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from integrations.procore.client import ProcoreClient
from linx.sync.read_ahead import TOKEN_REUSE_SECONDS, PinnedToken, RenewOnRunThread
from linx.sync.write_pool import in_worker


class SendAhead:
    """Sends bulk creates on one worker thread; `answer` waits for one."""

    def __init__(self, procore: ProcoreClient) -> None:
        self.procore = procore
        self._executor: ThreadPoolExecutor | None = None
        self._pinned = None
        self._pinned_at = 0.0
        self._last: Gate | None = None  # the gate of the create handed over last
        self._gates: list[Gate] = []

    def _token(self, store):
        """The connection's token, read on this thread and reused for the creates sent
        within `TOKEN_REUSE_SECONDS` (as `ReadAhead` does: reading the row, and
        decrypting the token, for each create was a cost of its own). One renewed
        elsewhere meanwhile is refused with 401 and the create made again here."""
        if self._pinned is None or time.monotonic() - self._pinned_at >= TOKEN_REUSE_SECONDS:
            self._pinned, self._pinned_at = store.current(), time.monotonic()
        return self._pinned

    def send(self, entries: Sequence[dict[str, Any]]) -> Future:
        """Hand a bulk create over: it goes out once the one handed over before it is
        settled, or never (`NotSent`) if the run stops first. Its answer (or error) is
        taken with `answer`."""
        store = getattr(self.procore, "token_store", None)
        future: Future
        if store is None:  # not a client whose token can be handed over: sent by `answer`
            future = Future()
            future.entries, future.gate = entries, None  # type: ignore[attr-defined]
            return future
        client = copy.copy(self.procore)
        client.token_store = PinnedToken(self._token(store))
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="linx-procore-bulk")
        before, gate = self._last, Gate()
        self._last = gate
        self._gates.append(gate)

        def create() -> list[int]:
            if before is not None and not before.wait():
                raise NotSent
            ids = client.create_timecard_entry_ids(entries)
            gate.open()  # created: the next goes out now
            return ids

        future = self._executor.submit(in_worker, create)
        future.entries, future.gate = entries, gate  # type: ignore[attr-defined]
        return future

    def settled(self, future: Future) -> None:
        """The run's thread has dealt with this create's answer: the next may go out."""
        if future.gate is not None:  # type: ignore[attr-defined]
            future.gate.open()  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Nothing handed over and not yet out goes out (each raises `NotSent`)."""
        for gate in self._gates:
            gate.close()

    def answer(self, future: Future) -> list[int]:
        """The created entries' ids; raises what the create raised (`NotSent` for one that
        never went out). A call that needed a new token is made here, on the run's thread."""
        if future.gate is None:  # type: ignore[attr-defined]
            return self.procore.create_timecard_entry_ids(future.entries)  # type: ignore[attr-defined]
        try:
            return future.result()
        except RenewOnRunThread as needed:
            # Renewed as the worker would have (once, unless another caller already
            # has), so the create is not refused a second time with the same token.
            self.procore.auth.renew(self.procore.token_store, stale=needed.stale)
            self._pinned = None  # the next creates take the renewed one
            return self.procore.create_timecard_entry_ids(future.entries)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Wait for a create still out (its ledger lines stay pending if it was not
        taken: the next export settles them from Procore) and stop the thread; none
        handed over and not yet out goes out."""
        self.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class NotSent(Exception):
    """A create handed over that never went out: the run stopped before its turn."""


class Gate:
    """Whether the create after this one may go out: opened (yes) or closed (no) once."""

    def __init__(self) -> None:
        self._decided = threading.Event()
        self._open = False
        self._lock = threading.Lock()

    def open(self) -> None:
        self._decide(True)

    def close(self) -> None:
        self._decide(False)

    def _decide(self, value: bool) -> None:
        with self._lock:
            if not self._decided.is_set():
                self._open = value
                self._decided.set()

    def wait(self) -> bool:
        self._decided.wait()
        return self._open
