"""One bulk create out on a thread of its own while the run's thread records the last.

An export's creates go to Procore one batch after another, and each answer is recorded
(the ledger lines completed, a row per record) before the next batch is sent. Recording
does not need Procore, and Procore's answer does not need Linx: `SendAhead` sends a
batch on a worker thread so the run's thread can record the previous batch meanwhile.
Still only one create is out at a time, in the same order, and a batch's ledger intent
is committed before it is sent (the caller writes it first).

The worker makes only the HTTP call. The connection's token lives in the database, which
a worker never touches: it is read on the run's thread and handed to the call; a call
that would need a new one (it expires soon, or Procore answered 401, which means the
request was refused unprocessed) has the token renewed on the run's thread, as the
worker would have, and is made there.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from integrations.procore.client import ProcoreClient
from linx.sync.read_ahead import RenewOnRunThread, TokenPin
from linx.sync.write_pool import in_worker


class SendAhead:
    """Sends bulk creates on one worker thread; `answer` waits for one."""

    def __init__(self, procore: ProcoreClient) -> None:
        self.procore = procore
        self._executor: ThreadPoolExecutor | None = None
        # The token is read on this thread and reused for the creates sent within a
        # second, as lists read ahead reuse it: reading the row, and decrypting the token,
        # for each create was a cost of its own. One renewed elsewhere meanwhile is
        # refused with 401 and the create made again here.
        self._pin = TokenPin(procore)

    def send(self, entries: Sequence[dict[str, Any]]) -> Future:
        """Send a bulk create now; its answer (or error) is taken with `answer`."""
        if not hasattr(self.procore, "token_store"):
            # Not a client whose token can be handed over: sent inline.
            future: Future = Future()
            try:
                future.set_result(self.procore.create_timecard_entry_ids(entries))
            except Exception as error:
                future.set_exception(error)
            return future
        client = self._pin.client()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="linx-procore-bulk")
        future = self._executor.submit(in_worker, lambda: client.create_timecard_entry_ids(entries))
        future.entries = entries  # type: ignore[attr-defined]
        return future

    def answer(self, future: Future) -> list[int]:
        """The created entries' ids; raises what the create raised. A call that needed a new
        token is made here, on the run's thread."""
        try:
            return future.result()
        except RenewOnRunThread as needed:
            # Renewed as the worker would have (once, unless another caller already
            # has), so the create is not refused a second time with the same token.
            self.procore.auth.renew(self.procore.token_store, stale=needed.stale)
            self._pin.forget()  # the next creates take the renewed one
            return self.procore.create_timecard_entry_ids(future.entries)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Wait for a create still out (its ledger lines stay pending if it was not
        taken: the next export settles them from Procore) and stop the thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
