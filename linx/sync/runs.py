"""A run's life: created queued, claimed (never two at once), rows recorded, finished.

- **Claim** is a compare-and-set from ``queued`` to ``running``; the database's
  one-running-run-per-(connection, kind) constraint makes it exactly-one across every
  process and host. The loser is recorded as ``skipped`` and told which run holds it.
- **Rows** are buffered and written in batches together with the counts and progress, so
  a big run costs a few hundred INSERTs, not one per row.
- **Heartbeat**: a running run says it is alive every few seconds from a background
  thread. A run whose heartbeat stopped (its worker was killed) is *dead*: it is marked
  failed, with its rows kept, by the next claim for that connection and kind or by
  ``reap_dead_runs``, so it never blocks the connection for ever.
- **One clock**: every stamp of a run's life (started, heartbeat, finished) is written
  with the database's clock (``Now()``) and compared with it, so a worker whose own
  clock is off neither reaps another worker's live run nor keeps a dead one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models.functions import Now
from django.utils import timezone

from integrations.errors import IntegrationError
from linx import audit
from linx.models import (
    AuditAction,
    Connection,
    FailureKind,
    Outcome,
    RowResult,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
    User,
)
from linx.sync import bulk_sql, failures
from linx.sync.classify import Failure, classify

if TYPE_CHECKING:
    from integrations.exaktime.client import ExakTimeClient
    from integrations.procore.client import ProcoreClient

log = logging.getLogger(__name__)

ROW_BATCH = 500
#: What a row result is written with, in this order (see `RunRecorder._write_rows`).
ROW_FIELDS = [
    "run", "entity_type", "outcome", "procore_id", "exaktime_id", "name", "changes",
    "message", "retryable", "hint", "needs", "created_at",
]  # fmt: skip
PROGRESS_SECONDS = 0.2  # how often an on_progress callback (a terminal's bar) is told


def heartbeat_seconds() -> float:
    """How often a running run says it is alive (0: only when it writes rows)."""
    return settings.LINX_RUN_HEARTBEAT_SECONDS


def dead_after() -> timedelta:
    """How long a running run may stay silent before it counts as dead."""
    return timedelta(seconds=settings.LINX_RUN_DEAD_AFTER)


class RunRefused(Exception):
    """The run could not start; ``run`` is recorded as skipped with the reason."""

    def __init__(self, run: SyncRun, message: str) -> None:
        super().__init__(message)
        self.run = run
        self.message = message


class AlreadyRunning(RunRefused):
    """Another run of the same kind holds the connection (CLI exit code 3)."""


class RunStopped(Exception):
    """The run must end now: cancelled by an operator, or the process is shutting down."""


#: Set when this process was asked to stop (SIGTERM to a command): a running run stops
#: at its next row, is closed as cancelled with what it did, and can be resumed.
stop_requested = threading.Event()

STOPPED_BY_SIGNAL = (
    "Stopped: the process running it was asked to stop (SIGTERM). The rows it did are "
    "kept; re-run it (linx_rerun) to finish the job."
)


class RunAborted(Exception):
    """The run cannot go on (configuration, authentication, unreachable service).

    ``message`` is for the operator: what is wrong and what to do. ``kind`` is what the
    run records as its failure kind; when not given it is the classified kind of the
    error this one was raised from (``raise RunAborted(...) from error``), else a
    configuration problem.
    """

    def __init__(self, message: str, *, kind: FailureKind | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._kind = kind

    @property
    def kind(self) -> FailureKind:
        if self._kind is not None:
            return self._kind
        if self.__cause__ is not None:
            return classify(self.__cause__).kind
        return FailureKind.CONFIGURATION


def stop_unless_only_this_list(error: IntegrationError, what: str, *, then: str = "") -> Failure:
    """Reading a whole Procore list (``what``) failed: stop the run, or say why not.

    Stops it (``RunAborted``) when nothing else can work either (the sign-in is refused)
    or when Procore did not answer (``then`` says what happens next); returns the
    failure when only this list is refused and an operator must fix it.
    """
    failure = classify(error)
    if failure.stops_the_run:
        raise RunAborted(failure.message) from error
    if failure.retry_may_help:
        raise RunAborted(
            f"Procore did not answer while Linx read {what}: {failure.message}{then}"
        ) from error
    return failure


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def create_run(
    connection: Connection,
    kind: RunKind,
    *,
    trigger: RunTrigger,
    started_by: User | None = None,
    dry_run: bool = False,
    parameters: dict | None = None,
    rerun_of: SyncRun | None = None,
    applied_from: SyncRun | None = None,
) -> SyncRun:
    """Record a queued run; nothing happens until it is claimed."""
    return SyncRun.objects.create(
        connection=connection,
        kind=kind,
        trigger=trigger,
        started_by=started_by,
        dry_run=dry_run,
        parameters=parameters or {},
        rerun_of=rerun_of,
        applied_from=applied_from,
    )


def _silent() -> dict:
    """Running runs whose heartbeat is older than ``dead_after``, by the database's clock."""
    return {"status": RunStatus.RUNNING, "heartbeat_at__lt": Now() - dead_after()}


def reap_dead_runs(connection_id: int | None = None, kind: str | None = None) -> list[int]:
    """Mark running runs whose heartbeat stopped as failed; return their ids."""
    dead = SyncRun.objects.filter(**_silent())
    if connection_id is not None:
        dead = dead.filter(connection_id=connection_id)
    if kind is not None:
        dead = dead.filter(kind=kind)
    reaped = []
    for run in dead:
        # Still silent now (compare-and-set): a late heartbeat saves it.
        updated = SyncRun.objects.filter(pk=run.pk, **_silent()).update(
            status=RunStatus.FAILED,
            finished_at=Now(),
            message=(
                f"The worker running it ({run.worker or 'unknown'}) stopped without finishing "
                f"(no sign of life since {run.heartbeat_at:%Y-%m-%d %H:%M:%S %Z}). The rows it "
                "recorded are kept; re-run it to finish the job."
            ),
            failure_kind=FailureKind.CRASHED,
        )
        if updated:
            log.warning("run %s of connection %s marked dead", run.pk, run.connection_id)
            reaped.append(run.pk)
    return reaped


def claim(run: SyncRun) -> SyncRun:
    """Move ``run`` from queued to running, or raise ``RunRefused``/``AlreadyRunning``."""
    reap_dead_runs(run.connection_id, run.kind)
    try:
        with transaction.atomic():
            won = SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING,
                started_at=Now(),
                heartbeat_at=Now(),
                worker=worker_name(),
            )
    except IntegrityError:
        holder = (
            SyncRun.objects.filter(
                connection_id=run.connection_id, kind=run.kind, status=RunStatus.RUNNING
            )
            .exclude(pk=run.pk)
            .first()
        )
        message = (
            f"Another {run.get_kind_display().lower()} is already running for "
            f"{run.connection.name}"
            + (
                f" (run #{holder.pk}, started {holder.started_at:%Y-%m-%d %H:%M %Z})"
                if holder
                else ""
            )
            + ". Nothing was done."
        )
        skip(run, message)
        raise AlreadyRunning(run, message) from None
    if not won:
        run.refresh_from_db()
        raise RunRefused(run, f"Run #{run.pk} is {run.get_status_display().lower()}, not queued.")
    run.refresh_from_db()
    log.info(
        "run started",
        extra={
            "event": "run_started",
            "run": run.pk,
            "connection": run.connection.name,
            "kind": run.kind,
            "trigger": run.trigger,
            "dry_run": run.dry_run,
            "worker": run.worker,
        },
    )
    return run


def skip(run: SyncRun, message: str) -> None:
    SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.SKIPPED, message=message, finished_at=Now()
    )
    run.refresh_from_db()


@dataclass
class Row:
    """One source record's outcome, before it is written."""

    entity_type: str
    outcome: Outcome
    procore_id: int | None = None
    exaktime_id: str = ""
    name: str = ""
    changes: dict = field(default_factory=dict)
    message: str = ""
    retryable: bool = False
    hint: str = ""  # what to do about a failure (the message ends with it too)
    needs: dict | None = None  # the record a missing link is about (RowResult.needs)


class RunRecorder:
    """Records a claimed run's rows, counts and progress; finishes it.

    Use as a context manager around the run's work: it keeps the heartbeat going and,
    if the work raises, finishes the run as failed with what it had recorded.
    """

    def __init__(
        self,
        run: SyncRun,
        *,
        batch: int = ROW_BATCH,
        on_progress: Callable[[RunRecorder], None] | None = None,
    ) -> None:
        self.run = run
        self.batch = batch
        self.on_progress = on_progress
        self._progress_shown = 0.0
        self.counts: Counter[str] = Counter(run.counts or {})
        self.progress: dict[str, dict[str, int]] = dict(run.progress or {})
        self._rows: list[tuple[Row, datetime]] = []  # each with when it was recorded
        self._stop_heartbeat = threading.Event()
        self._heartbeat: threading.Thread | None = None
        #: What the run has to say when it goes through to the end (nothing to do, say).
        self.note = ""

    # --- context -------------------------------------------------------------------

    def __enter__(self) -> RunRecorder:
        if heartbeat_seconds() > 0:
            self._heartbeat = threading.Thread(
                target=self._beat, name=f"linx-run-{self.run.pk}-heartbeat", daemon=True
            )
            self._heartbeat.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._stop_heartbeat.set()
        if self._heartbeat:
            self._heartbeat.join(timeout=heartbeat_seconds() * 2)
        if exc is None:
            return False
        if isinstance(exc, RunStopped):
            # An orderly end, not an error: the run is closed as cancelled.
            self.finish(RunStatus.CANCELLED, str(exc) or "Cancelled.", FailureKind.STOPPED)
            return True
        if isinstance(exc, RunAborted):
            self.finish(RunStatus.FAILED, exc.message, exc.kind)
        else:
            log.exception("run %s crashed", self.run.pk)
            self.finish(
                RunStatus.FAILED,
                f"{classify(exc).message} The rows recorded so far are kept; re-run it. If it "
                f"happens again, report it with run #{self.run.pk}.",
                FailureKind.CRASHED,
            )
        return False

    def _beat(self) -> None:
        try:
            while not self._stop_heartbeat.wait(heartbeat_seconds()):
                SyncRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING).update(
                    heartbeat_at=Now()
                )
        finally:
            close_old_connections()

    # --- recording -----------------------------------------------------------------

    def expect(self, entity_type: str, total: int) -> None:
        """Announce how many ``entity_type`` records this run will go through."""
        entry = self.progress.setdefault(entity_type, {"done": 0, "total": 0})
        entry["total"] = total

    def record(self, row: Row) -> None:
        """Add one row's outcome; written with the next batch."""
        if stop_requested.is_set():
            raise RunStopped(STOPPED_BY_SIGNAL)
        self.counts[row.outcome] += 1
        entry = self.progress.setdefault(row.entity_type, {"done": 0, "total": 0})
        entry["done"] += 1
        entry["total"] = max(entry["total"], entry["done"])
        if row.exaktime_id is None or row.name is None or len(row.name) > 255:
            row = replace(row, exaktime_id=row.exaktime_id or "", name=(row.name or "")[:255])
        self._rows.append((row, timezone.now()))
        if len(self._rows) >= self.batch:
            self.flush()
        if self.on_progress and time.monotonic() - self._progress_shown > PROGRESS_SECONDS:
            self._progress_shown = time.monotonic()
            self.on_progress(self)

    def flush(self) -> None:
        """Write buffered rows with the current counts and progress; check for cancel."""
        with transaction.atomic():
            self._write_rows()
            SyncRun.objects.filter(pk=self.run.pk).update(
                counts=dict(self.counts),
                progress=self.progress,
                heartbeat_at=Now(),
            )
        if SyncRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise RunStopped("Cancelled by an operator.")

    def finish(
        self,
        status: RunStatus | None = None,
        message: str = "",
        failure_kind: FailureKind | str = "",
    ) -> SyncRun:
        """Write what is left and close the run; the status follows the rows if not given.

        ``failure_kind`` says why it stopped early; blank when it went through to the end.
        """
        with transaction.atomic():
            self._write_rows()
            if status is None:  # it went through to the end
                failures.settle_lists(self.run, self.entity_types_done())
            SyncRun.objects.filter(pk=self.run.pk).update(
                status=status or self.status_from_counts(),
                counts=dict(self.counts),
                progress=self.progress,
                message=message or (self.note if status is None else ""),
                failure_kind=failure_kind,
                finished_at=Now(),
            )
        self.run.refresh_from_db()
        log.info(
            "run finished",
            extra={
                "event": "run_finished",
                "run": self.run.pk,
                "connection": self.run.connection.name,
                "kind": self.run.kind,
                "status": self.run.status,
                "counts": dict(self.counts),
                "duration_seconds": round(self.run.duration.total_seconds(), 3)
                if self.run.duration
                else None,
            },
        )
        return self.run

    def _write_rows(self) -> None:
        """Write the buffered rows and, with them, the connection's open failures."""
        if self._rows:
            # One prepared INSERT for the batch: the ORM's bulk_create built it value by
            # value, which was most of what recording a row cost.
            run_id = self.run.pk
            bulk_sql.insert(
                RowResult,
                ROW_FIELDS,
                [
                    (
                        run_id,
                        str(row.entity_type),
                        str(row.outcome),
                        row.procore_id,
                        row.exaktime_id,
                        row.name,
                        row.changes,
                        row.message,
                        row.retryable,
                        row.hint,
                        row.needs,
                        at,
                    )
                    for row, at in self._rows
                ],
            )
            failures.track(self.run, [row for row, _ in self._rows])
            self._rows = []

    def entity_types_done(self) -> list[str]:
        return [entity for entity, step in self.progress.items() if step.get("done")]

    def status_from_counts(self) -> RunStatus:
        failed = self.counts.get(Outcome.FAILED, 0)
        if not failed:
            return RunStatus.SUCCEEDED
        if sum(self.counts.values()) > failed:
            return RunStatus.PARTIAL
        return RunStatus.FAILED


class RunWork:
    """What every kind of run's work holds: its connection, where its rows go, the two
    services' clients, and whether it only shows what it would do (a dry run)."""

    def __init__(
        self,
        connection: Connection,
        recorder: RunRecorder,
        procore: ProcoreClient,
        exaktime: ExakTimeClient,
        *,
        dry_run: bool = False,
    ) -> None:
        self.connection = connection
        self.recorder = recorder
        self.procore = procore
        self.exaktime = exaktime
        self.dry_run = dry_run


@transaction.atomic
def cancel(run: SyncRun, *, acting_user: User | None) -> bool:
    """Stop a queued run now, or ask a running one to stop at its next batch of rows."""
    stopped = SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED,
        message="Cancelled by an operator.",
        failure_kind=FailureKind.STOPPED,
        finished_at=Now(),
    )
    asked = SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        cancel_requested=True
    )
    if stopped or asked:
        audit.record(
            AuditAction.CANCEL,
            acting_user=acting_user,
            connection=run.connection_id,
            target=f"{run.get_kind_display()} run #{run.pk}",
            details={"run": run.pk, "was": "queued" if stopped else "running"},
        )
    return bool(stopped or asked)
