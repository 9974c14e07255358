"""One reading of an error from Procore or ExakTime: what a row or a run records.

Every place that turns an error into a failure asks `classify`: the message a person
reads, the hint (what to do) as its own field, whether an operator must fix something
first or a retry may help (the error's own ``permanent``), and the kind of failure a
whole run records when the error stops it.

This module is the one place that knows which error family means what; the rest of
Linx asks a `Failure` (``kind``, ``fix_needed``) instead of catching concrete classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from integrations.errors import IntegrationError, OutcomeUnknown
from integrations.exaktime.errors import (
    STATUS_HINTS as EXAKTIME_HINTS,
)
from integrations.exaktime.errors import (
    ExakTimeAuthError,
    ExakTimeConflict,
    ExakTimeNotFound,
    ExakTimePermissionError,
    ExakTimeValidationError,
)
from integrations.procore.errors import (
    ProcoreAuthError,
    ProcoreNotFound,
    ProcorePermissionError,
    ProcoreValidationError,
    hint_for,
)
from linx.models import FailureKind

#: What a permanent error of each family means, first match wins.
_PERMANENT_KINDS: tuple[tuple[tuple[type[IntegrationError], ...], FailureKind], ...] = (
    # A read-only ExakTime key is refused every write, like a wrong one: no write can work.
    ((ProcoreAuthError, ExakTimeAuthError, ExakTimePermissionError), FailureKind.AUTHENTICATION),
    ((ProcorePermissionError,), FailureKind.CONFIGURATION),
    (
        (ProcoreNotFound, ProcoreValidationError, ExakTimeNotFound, ExakTimeConflict),
        FailureKind.DATA,
    ),
    ((ExakTimeValidationError,), FailureKind.DATA),
)

#: Kinds that stop a whole run wherever they happen: nothing else can work until fixed.
STOPS_THE_RUN = frozenset({FailureKind.AUTHENTICATION})


@dataclass(frozen=True)
class Failure:
    """What went wrong, as a row or a run records it."""

    #: The whole sentence, hint included (what rows and runs have always shown).
    message: str
    #: What to do about it; empty when Linx has no advice. The clients end their
    #: messages with it; `words` is the message without it.
    hint: str
    kind: FailureKind
    #: An operator must change something (in Procore, ExakTime or the connection) first.
    fix_needed: bool
    #: The write may or may not have happened: reconcile before sending it again.
    outcome_unknown: bool = False

    @property
    def retry_may_help(self) -> bool:
        return not self.fix_needed

    @property
    def stops_the_run(self) -> bool:
        return self.kind in STOPS_THE_RUN

    @property
    def words(self) -> str:
        """The message without its hint: what the service said."""
        if self.hint and self.message.endswith(self.hint):
            return self.message[: -len(self.hint)].rstrip()
        return self.message


def classify(error: BaseException) -> Failure:
    """Read any error into a `Failure`; one Linx does not know is a crash of Linx."""
    if not isinstance(error, IntegrationError):
        return Failure(
            message=f"Linx stopped on an unexpected error ({type(error).__name__}).",
            hint="",
            kind=FailureKind.CRASHED,
            fix_needed=False,
        )
    return Failure(
        message=error.message,
        hint=_hint(error),
        kind=_kind(error),
        fix_needed=error.permanent,
        outcome_unknown=isinstance(error, OutcomeUnknown),
    )


def _kind(error: IntegrationError) -> FailureKind:
    if not error.permanent:
        return FailureKind.RATE_LIMITED if error.status == 429 else FailureKind.UNAVAILABLE
    for families, kind in _PERMANENT_KINDS:
        if isinstance(error, families):
            return kind
    return FailureKind.CONFIGURATION


def _hint(error: IntegrationError) -> str:
    """What Linx advises for this error (the clients also end their messages with it)."""
    if error.service == "Procore":
        return hint_for(error.message, error.status) or ""
    return (EXAKTIME_HINTS.get(error.status) if error.status is not None else None) or ""
