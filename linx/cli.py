"""What the run commands share: options, the one JSON object, the summary, exit codes.

The interface is docs/cli.md: scripts depend on it, so it changes only
by adding.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from linx.models import Connection, Outcome, RowResult, RunStatus, SyncRun
from linx.sync import failures
from linx.sync.execute import execute
from linx.sync.queueing import enqueue
from linx.sync.runs import AlreadyRunning, RunRecorder, RunRefused, stop_requested

EXIT_SUCCEEDED = 0
EXIT_ROWS_FAILED = 1
EXIT_COULD_NOT_RUN = 2
EXIT_ALREADY_RUNNING = 3

#: The counts every --json object carries, whatever happened.
COUNT_KEYS = ("created", "updated", "unchanged", "deactivated", "deleted", "skipped", "failed")
#: Row entity types as the contract names them.
CONTRACT_ENTITY = {
    "sub_job": "location",
    "location_group": "location",
    "location_category": "location",
}
FAILURES_LISTED = 100


class CommandExit(Exception):
    """Leave the command with this exit code (after printing what was decided)."""

    def __init__(self, code: int) -> None:
        self.code = code


class CouldNotRun(CommandError):
    """A run that could not run (bad input, an unknown name): exit 2, the message says why."""

    def __init__(self, message: str, *, run: SyncRun | None = None) -> None:
        super().__init__(message, returncode=EXIT_COULD_NOT_RUN)
        self.run = run


def connection_named(name: str) -> Connection:
    try:
        return Connection.objects.get(name=name)
    except Connection.DoesNotExist:
        known = ", ".join(Connection.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise CouldNotRun(
            f"No connection named {name!r} (known: {known}). Add one with "
            "`manage.py linx_connection add`."
        ) from None


def could_not_run_json(message: str, *, kind: str | None, run: SyncRun | None = None) -> dict:
    """The one JSON object of a run that could not run: nothing counted, the error named."""
    result: dict = {"run": run.pk if run else None}
    if kind or run:
        result["kind"] = run.kind if run else kind
    return result | {
        "status": "failed",
        "counts": dict.fromkeys(COUNT_KEYS, 0),
        "failures": [],
        "error": message,
    }


def json_status(run: SyncRun) -> str:
    if run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.SKIPPED):
        return run.status
    return "failed"


def exit_code(run: SyncRun) -> int:
    if run.status == RunStatus.SUCCEEDED:
        return EXIT_SUCCEEDED
    if run.status == RunStatus.SKIPPED:
        return EXIT_ALREADY_RUNNING
    if run.status == RunStatus.PARTIAL:
        return EXIT_ROWS_FAILED
    if run.status == RunStatus.FAILED and not run.failure_kind:
        return EXIT_ROWS_FAILED  # it finished; every row failed
    return EXIT_COULD_NOT_RUN  # stopped early: its failure kind and message say why


def as_json(run: SyncRun) -> dict:
    counts = {key: int(run.counts.get(key, 0)) for key in COUNT_KEYS}
    if run.counts.get(Outcome.LINKED):
        counts["linked"] = int(run.counts[Outcome.LINKED])
    failures = [
        {
            "entity": CONTRACT_ENTITY.get(row.entity_type, row.entity_type),
            "source_id": row.exaktime_id
            if row.entity_type == "time_record"
            else ("" if row.procore_id is None else str(row.procore_id)),
            "message": row.message,
        }
        for row in RowResult.objects.filter(run=run, outcome=Outcome.FAILED).order_by("id")[
            :FAILURES_LISTED
        ]
    ]
    result = {
        "run": run.pk,
        "kind": run.kind,
        "status": json_status(run),
        "counts": counts,
        "failures": failures,
    }
    if run.message:
        result["message"] = run.message
    return result


def summary(run: SyncRun) -> str:
    counts = (
        ", ".join(f"{n} {outcome}" for outcome, n in sorted(run.counts.items()) if n) or "no rows"
    )
    seconds = run.duration.total_seconds() if run.duration else 0
    lines = [
        f"{run.get_kind_display()} #{run.pk} of {run.connection.name}"
        f"{' (dry run: nothing written)' if run.dry_run else ''}: "
        f"{run.get_status_display().lower()}, {counts} in {seconds:.1f} s."
    ]
    if run.message:
        lines.append(run.message)
    failed = RowResult.objects.filter(run=run, outcome=Outcome.FAILED).order_by("id")
    for row in failed[:10]:
        lines.append(
            f"  failed {row.get_entity_type_display().lower()} {row.name or row.procore_id}: {row.message}"
        )
    more = failed.count() - 10
    if more > 0:
        lines.append(f"  ... and {more} more failed rows (see the run in the admin).")
    if run.counts.get(Outcome.FAILED):
        lines.append(f"Re-run only the failed rows with: manage.py linx_rerun {run.pk}")
    lines.append(still_open(run))
    return "\n".join(lines)


def still_open(run: SyncRun) -> str:
    """The run's failures beside the connection's: records still failing, whichever run
    last tried them (a plain import retries them all; a dry run changes none)."""
    failing = failures.counts_by_kind(run.connection).get(run.kind, 0)
    kind = run.get_kind_display().lower()
    this_run = f"{run.counts.get(Outcome.FAILED, 0):,} failed in this run"
    if run.dry_run:
        this_run = f"{run.counts.get(Outcome.FAILED, 0):,} would fail"
    return f"{this_run}; {failing:,} {kind} failures still open on {run.connection.name}."


class RunCommand(BaseCommand):
    """A command that starts one run and reports it by the CLI contract."""

    #: The kind of run the command starts (None: it depends on the run, as for re-runs).
    kind: str | None = None

    def add_run_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument(
            "--enqueue", action="store_true", help="Hand the run to the task queue; print its id."
        )

    def create_parser(self, prog_name, subcommand, **kwargs):
        """A parser whose refusals (a missing option, a malformed value) still print the
        contract's JSON object when --json was asked for; argparse then exits 2."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parse_args, refuse = parser.parse_args, parser.error
        asked = {"json": False}

        def parse(args=None, namespace=None):
            asked["json"] = "--json" in (sys.argv[1:] if args is None else list(args))
            return parse_args(args, namespace)

        def error(message):
            if asked["json"]:
                self.stdout.write(json.dumps(self.refusal_json(message)))
            refuse(message)

        parser.parse_args, parser.error = parse, error
        return parser

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except CommandExit as leave:
            sys.exit(leave.code)
        except CommandError as refused:
            # Every refusal is a run that could not run: exit 2, and the JSON with --json.
            run = getattr(refused, "run", None)
            if options.get("json"):
                self.stdout.write(json.dumps(self.refusal_json(str(refused), run=run)))
            raise CouldNotRun(str(refused), run=run) from None

    def refusal_json(self, message: str, *, run=None) -> dict:
        """The one JSON object of a command that could not run."""
        return could_not_run_json(message, kind=self.kind, run=run)

    def report(self, run: SyncRun, options) -> None:
        """Do (or enqueue) ``run`` and print it; leaves with the contract's exit code."""
        if options["enqueue"]:
            enqueue(run)
            if options["json"]:
                self.stdout.write(json.dumps({"run": run.pk, "kind": run.kind, "status": "queued"}))
            else:
                self.stdout.write(f"Queued {run.get_kind_display().lower()} #{run.pk}.")
            return
        progress = None if options["json"] or not self.stdout.isatty() else self._progress_bar()
        # SIGTERM (a deploy, a cron timeout) stops the run cleanly at its next row: it is
        # closed with what it did and can be resumed with linx_rerun.
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.set())
        try:
            run = execute(run, on_progress=progress)
        except AlreadyRunning as refused:
            run = refused.run
        except RunRefused as refused:
            raise CouldNotRun(refused.message, run=refused.run) from None
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
            stop_requested.clear()
        if progress:
            self.stdout.write("")
        code = exit_code(run)
        if options["json"]:
            result = as_json(run)
            if code == EXIT_COULD_NOT_RUN:
                result["error"] = run.message or run.get_status_display()
                self.stderr.write(result["error"])
            self.stdout.write(json.dumps(result))
        elif run.status != RunStatus.SUCCEEDED or options["verbosity"] > 0:
            target = self.stdout if run.status == RunStatus.SUCCEEDED else self.stderr
            target.write(summary(run))
        if code:
            raise CommandExit(code)

    def _progress_bar(self) -> Callable[[RunRecorder], None]:
        def show(recorder: RunRecorder) -> None:
            parts = []
            for entity, step in recorder.progress.items():
                total = max(step.get("total", 0), step.get("done", 0))
                parts.append(f"{entity} {step.get('done', 0)}/{total}")
            done = sum(s.get("done", 0) for s in recorder.progress.values())
            total = max(sum(s.get("total", 0) for s in recorder.progress.values()), done, 1)
            filled = int(30 * done / total)
            self.stdout.write(
                f"\r[{'#' * filled}{' ' * (30 - filled)}] {'  '.join(parts)}", ending=""
            )
            self.stdout.flush()

        return show
