"""Reading Procore's lists for an import: a refusal, a cut or a change noted once.

A list whose first page Procore refuses fails as one row (or stops the run, when
nothing else can work either); a page after the first that cannot be read fails the
rest of the list; a list that changed while its pages were read may have hidden a
record. In each case nothing of that kind is deactivated for being missing, and the
part is not complete, so the next import reads it again from the same point.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from integrations.errors import IntegrationError
from integrations.procore.errors import ProcoreError
from linx.models import EntityType, Outcome
from linx.sync.classify import classify
from linx.sync.runs import RunAborted, RunRecorder, stop_unless_only_this_list

log = logging.getLogger(__name__)


class ListReader:
    """Reads one import run's Procore lists and remembers which were not read whole."""

    def __init__(
        self,
        recorder: RunRecorder,
        row: Callable[..., None],
        entity_of: dict[str, str],
    ) -> None:
        self.recorder = recorder
        self.row = row
        self.entity_of = entity_of
        # Import entities some list of which was not read whole: not complete.
        self.part_failures: set[str] = set()
        self.refused: set[str] = set()  # parts Procore refused outright (not enabled, ...)
        # Kinds read from a Procore list that changed while its pages were read: a record
        # may have gone unseen, so no record of theirs is deactivated for not being seen.
        self.unsteady: set[str] = set()

    def read(self, kind: str, what: str, fetch: Callable[[], Any]):
        """Start reading a Procore list; a refusal of the whole list ends this part."""
        try:
            listing = fetch()
            # Force the first page now so a refusal surfaces here, not mid-loop.
            return Primed(
                listing,
                on_changed=lambda: self._list_changed(kind, what),
                on_error=lambda error: self._list_cut_short(kind, what, error),
            )
        except ProcoreError as error:
            stop_unless_only_this_list(error, what, then=" The run stopped; re-run it later.")
            self._part_failed(kind, what, error)
            return None

    def _list_changed(self, kind: str, what: str) -> None:
        """Procore's list changed while Linx read it: some record may have gone unseen.

        Nothing read from it (nor from what hangs on it: projects carry sub-jobs and
        crews) is deactivated for being missing, and the part is not complete, so the
        next import reads it again from the same point.
        """
        log.warning("Procore's %s changed while Linx read it", what)
        self.unsettle(kind)

    def _list_cut_short(self, kind: str, what: str, error: ProcoreError) -> None:
        """A page after the first could not be read: what was read stands, the rest of
        the list fails as one row, and nothing is deactivated for not being in it."""
        if classify(error).stops_the_run:
            raise RunAborted(error.message) from error
        self._part_failed(kind, f"the rest of the {what}", error)

    def unsettle(self, kind: str) -> None:
        """Not every record of ``kind`` was seen: none is deactivated for being missing
        (nor, for projects, any of their sub-jobs and crews), and the part is not
        complete, so the next import reads it again from the same point."""
        kinds = (
            {kind, EntityType.SUB_JOB, EntityType.CREW} if kind == EntityType.LOCATION else {kind}
        )
        self.unsteady |= kinds
        self.part_failures |= {self.entity_of.get(k, k) for k in kinds}

    def changed_or_failing(
        self, kind: str, listing: Iterable[Any], since: datetime, failing: set[int], every=False
    ) -> list[Any]:
        """Of a whole list read in place of a changed-since one: what the changed-since
        read would have listed, and the failing records (all of it when ``every``)."""
        records = [
            record
            for record in listing
            if every
            or record.id in failing
            or record.updated_at is None
            or record.updated_at >= since
        ]
        self.recorder.expect(kind, len(records))
        return records

    def counted(self, kind: str, listing: Primed):
        if listing.total is not None:
            self.recorder.expect(kind, listing.total)
        yield from listing  # a page that cannot be read ends it (see _list_cut_short)

    def _part_failed(self, kind: str, what: str, error: IntegrationError) -> None:
        """A refusal of a whole list: one failed row says what to fix (the client's hint).

        Not every record of the kind was seen (one project's sub-jobs refused hides
        them, and every later project's): none is deactivated for being missing.
        """
        failure = classify(error)
        if failure.fix_needed:
            self.refused.add(kind)
        self.unsettle(kind)
        self.row(
            kind,
            Outcome.FAILED,
            None,
            "",
            f"(reading {what})",
            message=f"Linx could not read {what} from Procore: {failure.message} Then re-run "
            "the failed rows.",
            retryable=failure.retry_may_help,
            hint=failure.hint,
        )


class Primed:
    """A Procore listing whose first page has been fetched (so errors surface early)."""

    def __init__(
        self,
        listing,
        on_changed: Callable[[], None] | None = None,
        on_error: Callable[[ProcoreError], None] | None = None,
    ) -> None:
        self._iter = iter(listing)
        self._listing = listing
        self._on_changed = on_changed
        self._on_error = on_error
        self._first: list = []
        with contextlib.suppress(StopIteration):
            self._first.append(next(self._iter))

    @property
    def total(self) -> int | None:
        return getattr(self._listing, "total", None)

    def __iter__(self):
        yield from self._first
        self._first = []
        try:
            yield from self._iter
        except ProcoreError as error:
            if self._on_error is None:
                raise
            self._on_error(error)  # raises, or records the rest of the list as failed
            return
        if getattr(self._listing, "changed", False) and self._on_changed:
            self._on_changed()
