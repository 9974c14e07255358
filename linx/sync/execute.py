"""Doing a run: claim it, open the clients, run the pre-import, import or export, finish.

Every entry point (admin actions, the task queue, the command line, schedules) records
a run with `runs.create_run` and does it with `execute` (here and now, or in a queue
worker after `queueing.enqueue`), so they share one set of rules: no overlap, a fresh
pre-import first, and a finished run whatever happens.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from linx.clients import exaktime_client, procore_client
from linx.models import (
    Connection,
    FailureKind,
    Outcome,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
    User,
)
from linx.service_urls import problem_with
from linx.sync import failures, snapshot_links
from linx.sync.exports import Exporter
from linx.sync.imports import ENTITIES, ENTITY_OF, INCREMENTAL, Importer
from linx.sync.parameters import RunParameters
from linx.sync.preimport import PreImporter
from linx.sync.runs import (
    AlreadyRunning,
    RunAborted,
    RunRecorder,
    RunRefused,
    claim,
    create_run,
    reap_dead_runs,
)
from linx.sync.webhook_import import WebhookImport

log = logging.getLogger(__name__)

#: Changes made within this long before an import's bookmark are read again, so a
#: record saved in Procore while the previous import was reading is not missed.
LOOKBACK = timedelta(minutes=15)


def execute(run: SyncRun, *, on_progress: Callable[[RunRecorder], None] | None = None) -> SyncRun:
    """Claim ``run`` and do it in this process; returns it finished.

    Raises ``AlreadyRunning`` (another run of its kind holds the connection) or
    ``RunRefused`` (it is not queued); in both cases nothing was done.
    """
    run = claim(run)
    connection = run.connection
    try:
        with RunRecorder(run, on_progress=on_progress) as recorder:
            check_service_urls(connection)
            check_secrets(connection)
            with procore_client(connection) as procore, exaktime_client(connection) as exaktime:
                if run.kind == RunKind.PREIMPORT:
                    PreImporter(connection, recorder, procore, exaktime, dry_run=run.dry_run).run()
                elif run.kind == RunKind.IMPORT:
                    import_now(run, recorder, procore, exaktime)
                elif run.kind == RunKind.EXPORT:
                    ensure_preimport(run)
                    Exporter(connection, recorder, procore, exaktime, run=run).run()
                else:
                    raise RunAborted(f"Linx cannot do {run.kind!r} runs.")
            recorder.finish()
    except RunAborted:
        pass  # the recorder finished the run as failed with the operator's message
    run.refresh_from_db()
    return run


def import_now(run: SyncRun, recorder: RunRecorder, procore, exaktime) -> None:
    """An import: the pre-import if stale, the plan, the records, then the bookmarks."""
    connection = run.connection
    ensure_preimport(run)
    if run.trigger == RunTrigger.WEBHOOK:
        webhook_import_now(run, recorder, procore, exaktime)
        return
    since = incremental_plan(connection, run)
    parameters = RunParameters.from_json(run.parameters)
    importer = Importer(
        connection,
        recorder,
        procore,
        exaktime,
        dry_run=run.dry_run,
        only=_only(parameters.only),
        since=since,
        failing=failures.retry_ids(connection),
    )
    importer.run(parameters.entities or ENTITIES)
    if not run.dry_run and parameters.only is None:
        commit_bookmarks(connection, run, importer.completed, since)
        read_whole = importer.completed - set(since)
        failures.close_unseen(run, [kind for kind, e in ENTITY_OF.items() if e in read_whole])


def webhook_import_now(run: SyncRun, recorder: RunRecorder, procore, exaktime) -> None:
    """The records Procore's waiting notices name, each read once (no bookmark moves:
    scheduled imports still read everything that changed)."""
    importer = Importer(run.connection, recorder, procore, exaktime, dry_run=run.dry_run)
    WebhookImport(importer, run.webhook_events.all()).run()


def incremental_plan(connection: Connection, run: SyncRun) -> dict[str, datetime]:
    """For each entity that can be read incrementally, since when; absent: read it whole.

    Whole when asked (``full``), for re-runs, before the first complete import, and when
    the last full pass is older than the connection's setting. A dry run plans as the
    real run would, and the plan is kept in the run's parameters (``since``): the apply
    of a preview, which copies them, reads exactly what the preview read.
    """
    parameters = RunParameters.from_json(run.parameters)
    if parameters.full or parameters.only is not None:
        return {}
    if parameters.since is not None:
        return {entity: _moment(at) for entity, at in parameters.since.items()}
    plan = _plan_from_bookmarks(connection, run)
    parameters.since = {entity: at.isoformat() for entity, at in plan.items()}
    run.parameters = parameters.to_json()
    SyncRun.objects.filter(pk=run.pk).update(parameters=run.parameters)
    return plan


def _plan_from_bookmarks(connection: Connection, run: SyncRun) -> dict[str, datetime]:
    plan = {}
    for entity in INCREMENTAL:
        mark = (connection.import_bookmarks or {}).get(entity) or {}
        since, full = _moment(mark.get("since")), _moment(mark.get("full"))
        if since and full and run.started_at - full < connection.full_import_every:
            plan[entity] = since - LOOKBACK
    return plan


def commit_bookmarks(
    connection: Connection, run: SyncRun, completed: set[str], since: dict[str, datetime]
) -> None:
    """After a complete import, remember when it started (never later: capped at start)."""
    marks = dict(Connection.objects.get(pk=connection.pk).import_bookmarks or {})
    for entity in completed:
        previous = marks.get(entity) or {}
        marks[entity] = {
            "since": run.started_at.isoformat(),
            "full": previous.get("full") if entity in since else run.started_at.isoformat(),
        }
    Connection.objects.filter(pk=connection.pk).update(import_bookmarks=marks)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def check_secrets(connection: Connection) -> None:
    """Stop before any network call when a secret the run needs is not set."""
    if missing := connection.missing_secrets():
        unset = "; ".join(f"no {label} is set for {connection.name}" for label in missing)
        raise RunAborted(
            f"Cannot run: {unset}. Enter it on the connection's page in the admin, or with "
            "`manage.py linx_connection set`."
        )


def check_service_urls(connection: Connection) -> None:
    """Refuse to send secrets to a URL the connection may not point at (service_urls)."""
    for label, url in (
        ("Procore login URL", connection.procore_login_url),
        ("Procore API URL", connection.procore_api_url),
        ("ExakTime API URL", connection.exaktime_api_url),
    ):
        if problem := problem_with(url):
            raise RunAborted(
                f"The connection's {label} is refused: {problem} Correct it on the connection."
            )


def ensure_preimport(run: SyncRun) -> None:
    """Run the pre-import first when the connection's reference data is missing or stale."""
    connection = Connection.objects.get(pk=run.connection_id)
    fresh_since = timezone.now() - connection.preimport_max_age
    if connection.preimported_at and connection.preimported_at >= fresh_since:
        return
    pre = create_run(
        connection, RunKind.PREIMPORT, trigger=RunTrigger.AUTOMATIC, started_by=run.started_by
    )
    try:
        pre = execute(pre)
    except AlreadyRunning:
        if connection.preimported_at:
            return  # another worker is refreshing it; the data there is will do meanwhile
        # The first pre-import is under way elsewhere: its data is what this run needs.
        pre = wait_for_other_preimport(run)
    if pre.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
        raise RunAborted(
            f"The pre-import this {run.get_kind_display().lower()} needs failed (run "
            f"#{pre.pk}): {pre.message or 'see its rows'}",
            # Its own reason, or (every row failed) the data it was given.
            kind=FailureKind(pre.failure_kind or FailureKind.DATA),
        )


#: How often a run waiting for another worker's first pre-import looks again.
PREIMPORT_POLL_SECONDS = 1.0


def wait_for_other_preimport(run: SyncRun) -> SyncRun:
    """Wait until the pre-import another worker is running finishes; return it.

    Waits as long as that run shows signs of life: one that dies is reaped (marked
    failed), which ends the wait, and this run then stops with a retryable message.
    """
    while True:
        holder = (
            SyncRun.objects.filter(connection_id=run.connection_id, kind=RunKind.PREIMPORT)
            .exclude(status__in=[RunStatus.QUEUED, RunStatus.SKIPPED])
            .order_by("-created_at")
            .first()
        )
        if holder is None or holder.is_finished:
            if holder is None:
                raise RunAborted(
                    "The pre-import this run needs did not run. Re-run it.",
                    kind=FailureKind.OTHER,
                )
            return holder
        reap_dead_runs(run.connection_id, RunKind.PREIMPORT)
        time.sleep(PREIMPORT_POLL_SECONDS)


def _only(spec: dict | None) -> dict[str, set[int] | None] | None:
    if spec is None:
        return None
    return {kind: (None if ids == "all" else set(ids)) for kind, ids in spec.items()}


def stopped_early(run: SyncRun) -> bool:
    """Whether ``run`` ended before going through every record (its failure kind says why)."""
    return run.status in (RunStatus.FAILED, RunStatus.CANCELLED) and bool(run.failure_kind)


#: What the next run of each kind does with records whose rows said to fix them first.
RETRIED_ONCE_FIXED = {
    RunKind.IMPORT: "the next import retries those records once fixed",
    RunKind.EXPORT: "the next export of those dates retries those time records once fixed",
    RunKind.PREIMPORT: "the next pre-import reads them again once fixed",
}


def why_not_rerun(run: SyncRun) -> str:
    """Why re-running ``run``'s failed rows is not offered; empty when it is.

    Not when every failed row says a re-run alone cannot help (it needs a change in
    Procore or ExakTime first): the next run retries those records once fixed. Unless
    the fix was a link in Mappings that a failed row asked for, made since. A run
    that stopped early is resumed whatever its rows say.
    """
    if not run.is_finished:
        return f"run #{run.pk} has not finished yet."
    failed = run.rows.filter(outcome=Outcome.FAILED)
    if not failed.exists():
        return f"no row of run #{run.pk} failed."
    if stopped_early(run) or failed.filter(retryable=True).exists():
        return ""
    if snapshot_links.links_made_since(run):
        return ""  # an operator has since made a link a failed row asked for
    return (
        "every failed row needs a change in Procore or ExakTime first (each row says what); "
        f"{RETRIED_ONCE_FIXED.get(run.kind, 'the next run retries them once fixed')}."
    )


def rerun_failed(run: SyncRun, *, trigger: RunTrigger, started_by: User | None = None) -> SyncRun:
    """A new run of the same kind for ``run``'s failed rows, and only those.

    A run that stopped early (cancelled, SIGTERM, Procore unreachable, a worker killed:
    its failure kind and message say why) is run again whole instead: the rows it
    already did come out unchanged at no cost, and the ones it never reached get done.
    """
    failed = run.rows.filter(outcome=Outcome.FAILED).values_list(
        "entity_type", "procore_id", "exaktime_id"
    )
    parameters = RunParameters.from_json(run.parameters)
    if stopped_early(run) or not failed.exists():
        parameters.only = parameters.only_time_records = None  # resume: the same run again
    elif run.kind == RunKind.EXPORT:
        parameters.only_time_records = sorted({int(x) for _, _, x in failed if x})
    else:
        only: dict[str, list[int] | str] = defaultdict(list)
        for entity_type, procore_id, _ in failed:
            if procore_id is None or only.get(entity_type) == "all":
                only[entity_type] = "all"  # a whole list failed: read it all again
            else:
                only[entity_type].append(procore_id)
        parameters.only = dict(only)
        if run.kind == RunKind.IMPORT:
            parameters.entities = sorted(
                {ENTITY_OF[kind] for kind in only if kind in ENTITY_OF},
                key=ENTITIES.index,
            )
    return create_run(
        run.connection,
        run.kind,
        trigger=trigger,
        started_by=started_by,
        dry_run=run.dry_run,
        parameters=parameters.to_json(),
        rerun_of=run,
    )


__all__ = [
    "AlreadyRunning",
    "RunRefused",
    "execute",
    "rerun_failed",
    "why_not_rerun",
]
