"""A run's own pages: its header, rows, live progress, failed-rows CSV and buttons.

``SyncRunAdmin`` mounts these views under its URLs. Reading needs the admin's view
permission on runs; acting (re-run, cancel, apply a preview) needs ``linx.run_sync``
and a POST, and goes through ``linx.sync``: nothing here decides how a run runs.

Pages stay fast for a run of 100,000 rows: the rows are counted once and only the
shown page is fetched; the outcome counts come from the run's own ``counts``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from linx.admin.badges import badge, fix_or_retry
from linx.admin.mapping_places import place_to_fix
from linx.admin.readable import ChangeGroup, Names, change_groups
from linx.admin.readable import shown as shown_value
from linx.encryption import EncryptedTextField
from linx.models import (
    Connection,
    EntityType,
    Outcome,
    RowResult,
    RunStatus,
    RunTrigger,
    SyncRun,
)
from linx.sync.execute import why_not_rerun
from linx.sync.parameters import RunParameters
from linx.sync.queueing import apply_preview as request_apply
from linx.sync.queueing import queue_reruns
from linx.sync.runs import cancel, reap_dead_runs

ROWS_PER_PAGE = 100
ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
#: A preview worth applying: it went through every record (some may have failed).
APPLICABLE_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIAL})


def applicable(run: SyncRun) -> bool:
    """A finished preview that found something: one that found nothing has nothing to
    apply (an export of a week without time records, say)."""
    return run.dry_run and run.status in APPLICABLE_STATUSES and any(run.counts.values())


# Tones name the admin's own message colours, so badges follow light and dark mode.
STATUS_TONE = {
    RunStatus.QUEUED: "quiet",
    RunStatus.RUNNING: "info",
    RunStatus.SUCCEEDED: "success",
    RunStatus.PARTIAL: "warning",
    RunStatus.FAILED: "error",
    RunStatus.CANCELLED: "muted",
    RunStatus.SKIPPED: "muted",
}
OUTCOME_TONE = {
    Outcome.CREATED: "success",
    Outcome.UPDATED: "info",
    Outcome.UNCHANGED: "quiet",
    Outcome.LINKED: "info",
    Outcome.DEACTIVATED: "warning",
    Outcome.DELETED: "warning",
    Outcome.SKIPPED: "muted",
    Outcome.FAILED: "error",
}
TRIGGER_WORDS = {
    RunTrigger.ADMIN: "admin",
    RunTrigger.COMMAND: "command line / cron",
    RunTrigger.SCHEDULE: "schedule",
    RunTrigger.AUTOMATIC: "automatic",
}
ENTITY_LABELS = dict(EntityType.choices)
OUTCOME_ORDER = list(Outcome.values)
ENTITY_ORDER = list(EntityType.values)
#: A run's pages never need its connection's secrets: not loaded, so never decrypted.
CONNECTION_SECRETS = [
    f.name for f in Connection._meta.concrete_fields if isinstance(f, EncryptedTextField)
]
CSV_HEADER = ["Entity", "Procore ID", "ExakTime ID", "Name", "Message", "Retry may help"]


# --- How a run and its rows are shown (also used by the runs list) ----------------------


def status_badge(run: SyncRun) -> SafeString:
    return badge(run.get_status_display(), STATUS_TONE.get(run.status, "quiet"), badge="status")


def outcome_badge(row: RowResult) -> SafeString:
    return badge(row.get_outcome_display(), OUTCOME_TONE.get(row.outcome, "quiet"))


def failure_label(row: RowResult) -> SafeString:
    """Red "Fix needed" (an operator must act) or amber "Retry may help" (a passing fault)."""
    if row.outcome != Outcome.FAILED:
        return SafeString("")
    return fix_or_retry(row.retryable)


def counts_in_order(counts: dict | None) -> list[tuple[str, int]]:
    """(outcome, n) for the outcomes a run had, in the outcomes' own order."""
    counts = counts or {}
    known = [(o, counts[o]) for o in OUTCOME_ORDER if counts.get(o)]
    return known + [(o, n) for o, n in counts.items() if o not in OUTCOME_ORDER and n]


def counts_text(counts: dict | None) -> str:
    """``120 created · 3 failed``; empty when the run has no rows yet."""
    return " · ".join(f"{n:,} {outcome}" for outcome, n in counts_in_order(counts))


def counts_html(counts: dict | None) -> SafeString:
    parts = counts_in_order(counts)
    if not parts:
        return format_html('<span class="linx-quiet">{}</span>', "—")
    return format_html_join(
        " · ",
        '<span class="linx-count linx-count--{}">{} {}</span>',
        ((outcome, f"{n:,}", outcome) for outcome, n in parts),
    )


def format_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    exact = max(0.0, delta.total_seconds())
    if exact < 10:
        # Most runs take well under a second: whole seconds would show them all as "0 s".
        return "under 0.1 s" if exact < 0.1 else f"{exact:.1f} s"
    seconds = int(exact)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_url(run_id: int) -> str:
    return reverse("admin:linx_syncrun_change", args=[run_id])


def starter(run: SyncRun) -> SafeString:
    """Who or what started the run: a person's email, and for a re-run which run it redoes.

    Needs ``started_by`` selected with the run; ``rerun_of`` is only read by id.
    """
    who = run.started_by.email if run.started_by_id and run.started_by else ""
    if run.trigger == RunTrigger.RERUN:
        what = (
            format_html('re-run of <a href="{}">#{}</a>', run_url(run.rerun_of_id), run.rerun_of_id)
            if run.rerun_of_id
            else SafeString("re-run")
        )
        return format_html("{} · {}", who, what) if who else what
    if who:
        return format_html("{}", who)
    return format_html(
        '<span class="linx-quiet">{}</span>', TRIGGER_WORDS.get(run.trigger, run.trigger)
    )


@dataclass
class EntityProgress:
    entity: str
    label: str
    done: int
    total: int

    @property
    def percent(self) -> int:
        if self.total <= 0:
            return 0
        return min(100, round(self.done * 100 / self.total))

    def as_json(self) -> dict:
        return {
            "entity": self.entity,
            "label": self.label,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
        }


def progress_entries(progress: dict | None) -> list[EntityProgress]:
    """The run's progress per entity type, in a fixed order (PostgreSQL sorts JSON keys)."""
    entries = []
    for entity, value in (progress or {}).items():
        value = value if isinstance(value, dict) else {}
        done, total = int(value.get("done") or 0), int(value.get("total") or 0)
        entries.append(
            EntityProgress(entity, ENTITY_LABELS.get(entity, entity), done, max(done, total))
        )
    rank = {entity: i for i, entity in enumerate(ENTITY_ORDER)}
    return sorted(entries, key=lambda e: (rank.get(e.entity, len(rank)), e.entity))


def overall_progress(entries: list[EntityProgress]) -> EntityProgress:
    return EntityProgress("", "All", sum(e.done for e in entries), sum(e.total for e in entries))


def progress_payload(run: SyncRun) -> dict:
    """What the progress bar polls: status, progress per entity type and counts."""
    entries = progress_entries(run.progress)
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "status_tone": STATUS_TONE.get(run.status, "quiet"),
        "finished": run.is_finished,
        "cancel_requested": run.cancel_requested,
        "progress": run.progress or {},
        "entities": [e.as_json() for e in entries],
        "overall": overall_progress(entries).as_json(),
        "counts": run.counts or {},
        "counts_text": counts_text(run.counts),
        "count_parts": [[outcome, n] for outcome, n in counts_in_order(run.counts)],
        "duration": format_duration(run.duration),
    }


def describe_parameters(run: SyncRun) -> list[tuple[str, str]]:
    """The run's parameters as (label, value) lines a person can read."""
    params = RunParameters.from_json(run.parameters)
    lines = []
    if params.entities is not None:
        lines.append(("Entities", ", ".join(e.replace("_", " ") for e in params.entities)))
    if params.first_day is not None or params.last_day is not None:
        lines.append(("Work dates", f"{params.first_day or '…'} → {params.last_day or '…'}"))
    if params.approved_only is not None:
        lines.append(("Approved only", "yes" if params.approved_only else "no"))
    if params.only is not None:
        lines.append(("Only these records", "; ".join(
            f"{ENTITY_LABELS.get(entity, entity)}: " + ("all" if ids == "all" else f"{len(ids):,}")
            for entity, ids in sorted(params.only.items())
        )))  # fmt: skip
    if params.only_time_records is not None:
        lines.append(("Only these time records", f"{len(params.only_time_records):,}"))
    if params.employees is not None:
        lines.append(("Employees", f"{len(params.employees):,}"))
    if params.full is not None:
        lines.append(("Full pass", "yes" if params.full else "no"))
    if params.since is not None:
        # The import's plan, kept so applying a preview reads what the preview read.
        lines.append(("Read changed since", "; ".join(
            f"{entity.replace('_', ' ')}: {at[:19].replace('T', ' ')} UTC"
            for entity, at in sorted(params.since.items())
        ) or "nothing: every record read"))  # fmt: skip
    if params.schedule is not None:
        lines.append(("Schedule", shown_value(params.schedule) or "—"))
    for key, value in sorted(params.extra.items()):  # what this version does not know
        lines.append((key.replace("_", " ").capitalize(), shown_value(value) or "—"))
    return lines


# --- Rows of a run ----------------------------------------------------------------------


@dataclass
class RowFilters:
    outcome: str = ""
    entity: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, params) -> RowFilters:
        outcome = params.get("outcome", "")
        entity = params.get("entity", "")
        return cls(
            outcome=outcome if outcome in Outcome.values else "",
            entity=entity if entity in EntityType.values else "",
            q=params.get("q", "").strip()[:200],
        )

    def apply(self, rows: QuerySet[RowResult]) -> QuerySet[RowResult]:
        if self.outcome:
            rows = rows.filter(outcome=self.outcome)
        if self.entity:
            rows = rows.filter(entity_type=self.entity)
        if self.q:
            match = Q(name__icontains=self.q) | Q(exaktime_id=self.q)
            if self.q.isdigit() and len(self.q) <= 18:  # fits a BIGINT
                match |= Q(procore_id=int(self.q))
            rows = rows.filter(match)
        return rows

    def query(self, **override: str) -> str:
        """This page's query string with some filters changed (the page starts again)."""
        values = {"outcome": self.outcome, "entity": self.entity, "q": self.q, **override}
        kept = {k: v for k, v in values.items() if v}
        return "?" + urlencode(kept) if kept else "?"

    @property
    def active(self) -> bool:
        return bool(self.outcome or self.entity or self.q)


@dataclass
class ShownRow:
    row: RowResult
    outcome_badge: SafeString
    failure_label: SafeString
    changes: list[ChangeGroup]
    fix_url: str | None = None  # the missing link's place in Mappings, when it names one


def outcome_choices(run: SyncRun, filters: RowFilters) -> list[tuple[str, str]]:
    """The outcomes this run counted (all of them if it counted none), and the chosen one."""
    present = {outcome for outcome, _ in counts_in_order(run.counts)} | {filters.outcome}
    if not run.counts:
        present = set(Outcome.values)
    return [(value, label) for value, label in Outcome.choices if value in present]


def entity_choices(run: SyncRun, filters: RowFilters) -> list[tuple[str, str]]:
    """The entity types this run has rows of (from its progress, else from its rows)."""
    present = set((run.progress or {}).keys())
    if not present:
        present = set(run.rows.order_by().values_list("entity_type", flat=True).distinct())
    present.add(filters.entity)
    return [(e, ENTITY_LABELS[e]) for e in ENTITY_ORDER if e in present]


# --- Views ------------------------------------------------------------------------------


def without_secrets(path: str) -> list[str]:
    """The connection's secret fields under ``path`` (e.g. ``"connection__"``), to defer."""
    return [path + name for name in CONNECTION_SECRETS]


def get_run(model_admin, request: HttpRequest, run_id) -> SyncRun:
    """The run, if this person may see it (404 if there is none, 403 if they may not)."""
    try:
        run = (
            model_admin.get_queryset(request)
            .select_related("connection", "started_by")
            .defer(*without_secrets("connection__"))
            .get(pk=int(run_id))
        )
    except (SyncRun.DoesNotExist, ValueError, TypeError):
        raise Http404(f"There is no run #{run_id}.") from None
    if not model_admin.has_view_permission(request, run):
        raise PermissionDenied
    return run


def _check_can_run(model_admin, request: HttpRequest) -> None:
    if not model_admin.has_rerun_permission(request):
        raise PermissionDenied


def run_page(request: HttpRequest, model_admin, run_id) -> HttpResponse:
    """A run: its header, counts, live progress, buttons and a page of its rows."""
    run = get_run(model_admin, request, run_id)
    filters = RowFilters.from_query(request.GET)
    rows = filters.apply(RowResult.objects.filter(run=run)).order_by("id")
    # Django's paginator counts once (a cached property) and slices only the page.
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    names = Names(run.connection, [row.changes or {} for row in page.object_list])
    shown = [
        ShownRow(
            row,
            outcome_badge(row),
            failure_label(row),
            change_groups(row.changes, names),
            place_to_fix(run.connection_id, row.needs),
        )
        for row in page.object_list
    ]
    has_failed = RowResult.objects.filter(run=run, outcome=Outcome.FAILED).exists()
    can_run = model_admin.has_rerun_permission(request)
    entries = progress_entries(run.progress)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{run.get_kind_display()} #{run.pk} of {run.connection.name}",
        "subtitle": None,
        "opts": model_admin.opts,
        "media": model_admin.media,
        "run": run,
        "status_badge": status_badge(run),
        "counts_text": counts_text(run.counts),  # what the live parts show, for the script
        "starter": starter(run),
        "duration": format_duration(run.duration),
        "parameters": describe_parameters(run),
        "counts": [
            (outcome, f"{n:,}", OUTCOME_TONE.get(outcome, "quiet"), filters.query(outcome=outcome))
            for outcome, n in counts_in_order(run.counts)
        ],
        "active": run.status in ACTIVE_STATUSES,
        "progress": entries,
        "overall": overall_progress(entries),
        "page": page,
        "rows": shown,
        "filters": filters,
        "outcome_links": [
            (value, label, filters.query(outcome=value))
            for value, label in outcome_choices(run, filters)
        ],
        "entity_links": [
            (value, label, filters.query(entity=value))
            for value, label in entity_choices(run, filters)
        ],
        "all_outcomes_link": filters.query(outcome=""),
        "all_entities_link": filters.query(entity=""),
        "page_query": filters.query().lstrip("?"),
        "has_failed": has_failed,
        "can_cancel": can_run and run.status in ACTIVE_STATUSES and not run.cancel_requested,
        "rerun_of_url": run_url(run.rerun_of_id) if run.rerun_of_id else "",
        **rerun_and_apply(run, can_run),
    }
    return TemplateResponse(request, "admin/linx/syncrun/run.html", context)


def rerun_and_apply(run: SyncRun, can_run: bool) -> dict:
    """Whether the page offers a re-run or an apply, why not, and the linked runs."""
    applied = run.live_apply() if run.dry_run else None
    rerun_blocked = why_not_rerun(run)
    return {
        "can_rerun": can_run and not rerun_blocked,
        "rerun_blocked": rerun_blocked,
        "can_apply": can_run and applicable(run) and applied is None,
        "applied": applied,
        "applied_url": run_url(applied.pk) if applied else "",
        "applied_from_url": run_url(run.applied_from_id) if run.applied_from_id else "",
    }


def progress(request: HttpRequest, model_admin, run_id) -> JsonResponse:
    """The run's status, progress and counts as JSON, for the live progress bar (the
    admin's own wrapper marks it never cached)."""
    run = get_run(model_admin, request, run_id)
    if run.status == RunStatus.RUNNING and reap_dead_runs(run.connection_id, run.kind):
        run = get_run(model_admin, request, run_id)  # its worker died: now failed
    return JsonResponse(progress_payload(run))


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can stream."""

    def write(self, value: str) -> str:
        return value


def spreadsheet_text(text: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula; names come from Procore.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def failed_rows_csv(request: HttpRequest, model_admin, run_id) -> StreamingHttpResponse:
    """The run's failed rows as CSV, streamed a chunk at a time however many there are."""
    run = get_run(model_admin, request, run_id)
    failed = (
        RowResult.objects.filter(run=run, outcome=Outcome.FAILED)
        .order_by("id")
        .values_list("entity_type", "procore_id", "exaktime_id", "name", "message", "retryable")
    )
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(CSV_HEADER)
        for entity, procore_id, exaktime_id, name, message, retryable in failed.iterator(
            chunk_size=2000
        ):
            yield writer.writerow(
                [
                    ENTITY_LABELS.get(entity, entity),
                    "" if procore_id is None else procore_id,
                    spreadsheet_text(exaktime_id),
                    spreadsheet_text(name),
                    spreadsheet_text(message),
                    "yes" if retryable else "no",
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="linx-{run.kind}-{run.pk}-failed-rows.csv"'
    )
    return response


@require_POST
def rerun(request: HttpRequest, model_admin, run_id) -> HttpResponse:
    """Queue a re-run of the run's failed rows, then show the new run."""
    _check_can_run(model_admin, request)
    run = get_run(model_admin, request, run_id)
    queued, left_out = queue_reruns([run], started_by=request.user)
    if not queued:
        (_, reason), *_ = left_out
        messages.warning(request, f"Nothing to re-run yet: {reason}")
        return redirect(run_url(run.pk))
    new = queued[0]
    messages.success(
        request,
        format_html(
            'Queued run <a href="{}">#{}</a>: a re-run of the failed rows of <a href="{}">#{}</a>.',
            run_url(new.pk),
            new.pk,
            run_url(run.pk),
            run.pk,
        ),
    )
    return redirect(run_url(new.pk))


@require_POST
def cancel_run(request: HttpRequest, model_admin, run_id) -> HttpResponse:
    """Cancel a queued run, or ask a running one to stop at its next batch of rows."""
    _check_can_run(model_admin, request)
    run = get_run(model_admin, request, run_id)
    _tell(
        request,
        cancel(run, acting_user=request.user),
        done=f"Asked run #{run.pk} to stop; a running run stops at its next batch of rows.",
        not_done=f"Run #{run.pk} was not queued or running: nothing to cancel.",
    )
    return redirect(run_url(run.pk))


@require_POST
def apply_preview(request: HttpRequest, model_admin, run_id) -> HttpResponse:
    """Run a finished dry run for real: the same kind and parameters, as this person."""
    _check_can_run(model_admin, request)
    run = get_run(model_admin, request, run_id)
    if not applicable(run):
        messages.warning(
            request,
            f"Run #{run.pk} is not a finished preview (a dry run) that found something to "
            "do: nothing to apply.",
        )
        return redirect(run_url(run.pk))
    new, queued = request_apply(run, started_by=request.user)
    _tell(
        request,
        queued,
        done=format_html(
            'Queued {} <a href="{}">#{}</a> for real, as previewed by <a href="{}">#{}</a>.',
            new.get_kind_display().lower(),
            run_url(new.pk),
            new.pk,
            run_url(run.pk),
            run.pk,
        ),
        not_done=f"Preview #{run.pk} was already applied: run #{new.pk} "
        f"({new.get_status_display().lower()}) does it. Nothing more was queued.",
    )
    return redirect(run_url(new.pk))


def _tell(request: HttpRequest, happened: bool, *, done: str, not_done: str) -> None:
    """Say what a button did, in green, or why it did nothing, in amber."""
    if happened:
        messages.success(request, done)
    else:
        messages.warning(request, not_done)
