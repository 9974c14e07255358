"""One bulk create out while the run's thread records the last, with no thread.

An export's creates go to Procore one batch after another, and each answer is recorded
(the ledger lines completed, a row per record) before the next batch is sent. Recording
does not need Procore, and Procore's answer does not need Linx: `SendAhead.send` writes a
batch's request to Procore now, on the run's thread, and `answer` reads its answer after
the previous batch is recorded (see `integrations.early_send`). Still only one create is
out at a time, in the same order, and a batch's ledger intent is committed before it is
sent (the caller writes it first). It did this on a worker thread before: the two threads
taking turns at Python from two cores cost more than the recording they overlapped.

The token is read on the run's thread and reused for the creates sent within a second; a
create that needs a new one (it expires soon, or Procore answered 401, which means the
request was refused unprocessed) has it renewed and is made again, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from integrations.procore.client import ProcoreClient
from linx.sync.read_ahead import RenewOnRunThread, TokenPin


class Sent:
    """A bulk create written (or, when it could not be, to be made in full by `answer`)."""

    def __init__(self, entries: Sequence[dict[str, Any]]) -> None:
        self.entries = entries
        self.answer: Callable[[], list[int]] | None = None
        self.renew: RenewOnRunThread | None = None  # a new token is needed first


class SendAhead:
    """Writes bulk creates now; `answer` reads one's answer."""

    def __init__(self, procore: ProcoreClient) -> None:
        self.procore = procore
        # The token is read once and reused for the creates sent within a second, as
        # lists read ahead reuse it: reading the row, and decrypting the token, for each
        # create was a cost of its own. One renewed elsewhere meanwhile is refused with
        # 401 and the create made again.
        self._pin = TokenPin(procore)
        self._out: list[Sent] = []  # written, their answers not yet taken

    def send(self, entries: Sequence[dict[str, Any]]) -> Sent:
        """Write a bulk create now; its answer (or error) is taken with `answer`."""
        sent = Sent(entries)
        if not hasattr(self.procore, "token_store"):
            return sent  # not a client whose token can be pinned: made in full by `answer`
        try:
            sent.answer = self._pin.client().send_timecard_entries(entries)
        except RenewOnRunThread as needed:
            sent.renew = needed
        self._out.append(sent)
        return sent

    def answer(self, sent: Sent) -> list[int]:
        """The created entries' ids; raises what the create raised. One that needed a new
        token is made again once it is renewed."""
        if sent in self._out:
            self._out.remove(sent)
        try:
            if sent.renew is not None:
                raise sent.renew
            if sent.answer is None:
                return self.procore.create_timecard_entry_ids(sent.entries)
            return sent.answer()
        except RenewOnRunThread as needed:
            # Renewed once (unless another caller already has), so the create is not
            # refused a second time with the same token.
            self.procore.auth.renew(self.procore.token_store, stale=needed.stale)
            self._pin.forget()  # the next creates take the renewed one
            return self.procore.create_timecard_entry_ids(sent.entries)

    def close(self) -> None:
        """A create still out is left unanswered (the run is ending early): its ledger
        lines stay pending, and the next export settles them from what Procore holds."""
        for sent in self._out:
            if sent.answer is not None and (drop := getattr(sent.answer, "drop", None)):
                drop()
        self._out = []
