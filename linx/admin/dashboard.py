"""What the console shows at a glance: each connection's health, and the admin's index.

The index (the dashboard) shows, per connection, its health, its last runs and a chart
of rows synced and failed per day over the last 30 days, drawn here as SVG: no chart
library, no network. Everything on it comes from a constant number of queries, however
many connections and runs there are; row counts come from each run's `counts`, not
from its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, RowNumber, TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince, timeuntil

from linx.admin.badges import badge
from linx.admin.charts import ChartFrame, nice_scale
from linx.models import (
    SECRET_NAMES,
    Connection,
    OpenFailure,
    Outcome,
    ProcoreAuthMode,
    RunKind,
    RunStatus,
    SyncRun,
)

#: Outcomes that changed something: what the chart calls "synced".
SYNCED_OUTCOMES = (
    Outcome.CREATED,
    Outcome.UPDATED,
    Outcome.DEACTIVATED,
    Outcome.LINKED,
    Outcome.DELETED,
)
CHART_DAYS = 30
LAST_RUNS = 5
#: The most connections the dashboard draws; the connection list has them all.
DASHBOARD_CONNECTIONS = 50

#: A run status → the badge's tone.
TONES = {
    RunStatus.SUCCEEDED: "ok",
    RunStatus.PARTIAL: "warn",
    RunStatus.FAILED: "bad",
    RunStatus.RUNNING: "info",
    RunStatus.QUEUED: "quiet",
    RunStatus.CANCELLED: "quiet",
    RunStatus.SKIPPED: "quiet",
}
HEALTH_KINDS = (RunKind.IMPORT, RunKind.EXPORT, RunKind.PREIMPORT)
#: Runs that went through or were stopped by an error (not cancelled, not skipped).
DECIDED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED)


def run_badge(status: str) -> SafeString:
    return badge(RunStatus(status).label, TONES.get(status, "quiet"))


def when(moment: datetime | None) -> SafeString:
    """ "3 hours ago", with the exact time on hover."""
    if moment is None:
        return mark_safe('<span class="quiet">never</span>')
    exact = date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    now = timezone.now()
    if moment > now:
        return format_html('<span title="{}">in {}</span>', exact, timeuntil(moment, now))
    if now - moment < timedelta(minutes=1):
        return format_html('<span title="{}">just now</span>', exact)
    return format_html('<span title="{}">{} ago</span>', exact, timesince(moment, now))


# Connection health ---------------------------------------------------------------------


def _int(key: str):
    return Cast(KT(f"counts__{key}"), IntegerField())


def with_health(connections: QuerySet[Connection]) -> QuerySet[Connection]:
    """Annotate each connection with its latest real (not dry) run of each kind.

    Adds ``last_<kind>_id``, ``_status``, ``_at`` and ``_failed`` for import, export and
    pre-import; ``open_<kind>``, its open failures; ``stopped_<kind>_id``, its latest
    finished real run when a whole-run error stopped it; and whether a token, refresh
    token and client secret are stored: one query for the whole list, each subquery
    served by an index.
    """
    annotations = {}
    for kind in HEALTH_KINDS:
        annotations |= _failure_annotations(kind)
        latest = SyncRun.objects.filter(
            connection=OuterRef("pk"), kind=kind, dry_run=False
        ).order_by("-created_at", "-id")
        annotations |= {
            f"last_{kind}_id": Subquery(latest.values("pk")[:1]),
            f"last_{kind}_status": Subquery(latest.values("status")[:1]),
            f"last_{kind}_at": Subquery(
                latest.values(at=Coalesce("finished_at", "started_at", "created_at"))[:1]
            ),
            f"last_{kind}_failed": Subquery(latest.values(n=_int("failed"))[:1]),
        }
    stored = {
        "has_token": ~Q(procore_access_token=""),
        "has_refresh_token": ~Q(procore_refresh_token=""),
        "has_client_secret": ~Q(procore_client_secret=""),
        "has_api_key": ~Q(exaktime_api_key=""),
    }
    for name, condition in stored.items():
        annotations[name] = Case(When(condition, then=Value(True)), default=Value(False))
    return connections.annotate(**annotations)


def _failure_annotations(kind: str) -> dict:
    failing = (
        OpenFailure.objects.filter(connection=OuterRef("pk"), kind=kind)
        .order_by()
        .values("connection")
        .annotate(n=Count("pk"))
        .values("n")
    )
    finished = (
        SyncRun.objects.filter(
            connection=OuterRef("pk"), kind=kind, dry_run=False, status__in=DECIDED_STATUSES
        )
        .order_by("-created_at", "-id")
        .annotate(
            stopped=Case(
                When(Q(status=RunStatus.FAILED) & ~Q(message=""), then=F("pk")),
                default=Value(None),
                output_field=IntegerField(),
            )
        )
    )
    return {
        f"open_{kind}": Coalesce(Subquery(failing[:1]), 0),
        f"stopped_{kind}_id": Subquery(finished.values("stopped")[:1]),
    }


def last_run(connection: Connection, kind: str) -> SafeString:
    """The badge and age of the connection's latest run of `kind` (from `with_health`)."""
    run_id = getattr(connection, f"last_{kind}_id", None)
    if run_id is None:
        return mark_safe('<span class="quiet">never</span>')
    url = reverse("admin:linx_syncrun_change", args=[run_id])
    return format_html(
        '<a class="linx-run" href="{}">{}</a> <span class="linx-when">{}</span>',
        url,
        run_badge(getattr(connection, f"last_{kind}_status")),
        when(getattr(connection, f"last_{kind}_at")),
    )


def failures_outstanding(connection: Connection) -> SafeString:
    """Records still failing (open failures, not the last run's rows), per kind, linked
    to their list; and each kind whose latest run a whole-run error stopped (sign-in
    refused, service unreachable), linked to that run: each such run counts as one."""
    parts = []
    total = 0
    changelist = reverse("admin:linx_openfailure_changelist")
    for kind in HEALTH_KINDS:
        label = RunKind(kind).label.lower()
        failing = getattr(connection, f"open_{kind}", 0) or 0
        if failing:
            query = urlencode({"connection__id__exact": connection.pk, "kind__exact": kind})
            parts.append((f"{changelist}?{query}", f"{failing:,} in {label}"))
            total += failing
        if stopped := getattr(connection, f"stopped_{kind}_id", None):
            parts.append((reverse("admin:linx_syncrun_change", args=[stopped]), f"{label} stopped"))
            total += 1
    if not parts:
        return mark_safe('<span class="linx-none">0</span>')
    links = format_html_join(", ", '<a href="{}">{}</a>', parts)
    return format_html(
        '<strong class="linx-bad">{}</strong> <span class="mini">({})</span>', f"{total:,}", links
    )


def _stored(connection: Connection, secret: str, annotation: str) -> bool:
    """Whether a secret is set: from `with_health`'s annotation when the list deferred it."""
    if hasattr(connection, annotation):
        return getattr(connection, annotation)
    return bool(getattr(connection, secret))


#: Each secret a run needs → the `with_health` annotation that says it is stored.
SECRET_ANNOTATIONS = {
    "procore_client_secret": "has_client_secret",
    "exaktime_api_key": "has_api_key",
}


def missing_secrets(connection: Connection) -> SafeString:
    """A red badge for each secret a run needs that is not set; empty when all are."""
    return format_html_join(
        " ",
        "{}",
        (
            (
                badge(
                    f"no {label}",
                    "bad",
                    "Every run fails until it is entered on the connection's page.",
                ),
            )
            for name, label in SECRET_NAMES.items()
            if not _stored(connection, name, SECRET_ANNOTATIONS[name])
        ),
    )


def token_health(connection: Connection) -> SafeString:
    """The Procore token: valid until when, expired, or none; red when a person must act.

    An expired token renews itself at the next run when it can (a refresh token, or the
    app's client secret for a service account): that is amber, not red.
    """
    expires = connection.procore_token_expires_at
    code_flow = connection.procore_auth_mode == ProcoreAuthMode.AUTHORIZATION_CODE
    has_token = _stored(connection, "procore_access_token", "has_token")
    renewable = (
        _stored(connection, "procore_refresh_token", "has_refresh_token")
        if code_flow
        else _stored(connection, "procore_client_secret", "has_client_secret")
    )
    if not has_token or expires is None:
        if renewable and not code_flow:
            return badge("no token", "warn", "Linx signs in as the app at the next run.")
        fix = "Use Connect to Procore." if code_flow else "Enter the Procore client secret."
        return badge("no token", "bad", fix)
    if expires <= timezone.now():
        if renewable:
            return format_html(
                '{} <span class="linx-when">{}</span>',
                badge("expired", "warn", "Renews itself at the next run."),
                when(expires),
            )
        return format_html(
            '{} <span class="linx-when">{}</span>',
            badge("expired", "bad", "Use Connect to Procore again."),
            when(expires),
        )
    return format_html('{} <span class="linx-when">{}</span>', badge("valid", "ok"), when(expires))


# The dashboard -------------------------------------------------------------------------


@dataclass
class Bar:
    day: date
    synced: int
    failed: int
    x: float = 0
    synced_y: float = 0
    synced_h: float = 0
    failed_y: float = 0
    failed_h: float = 0

    @property
    def title(self) -> str:
        return f"{self.day:%a %d %b}: {self.synced:,} synced, {self.failed:,} failed"


@dataclass(kw_only=True)
class Chart(ChartFrame):
    """A 30-day bar chart: synced rows with failed rows stacked on top."""

    bars: list[Bar]

    @property
    def synced(self) -> int:
        return sum(b.synced for b in self.bars)

    @property
    def failed(self) -> int:
        return sum(b.failed for b in self.bars)

    @property
    def summary(self) -> str:
        return (
            f"Rows synced and failed per day, last {len(self.bars)} days: "
            f"{self.synced:,} synced, {self.failed:,} failed."
        )


def build_chart(days: list[date], per_day: dict[date, tuple[int, int]]) -> Chart:
    chart = Chart(bars=[Bar(day, *per_day.get(day, (0, 0))) for day in days])
    chart.scale_max = nice_scale(max((b.synced + b.failed for b in chart.bars), default=0))
    slot = chart.slot(len(chart.bars))
    for i, bar in enumerate(chart.bars):
        bar.x = round(chart.left + i * slot + slot * 0.15, 1)
        bar.synced_h = chart.bar_height(bar.synced)
        bar.synced_y = round(chart.base - bar.synced_h, 1)
        bar.failed_h = chart.bar_height(bar.failed)
        bar.failed_y = round(bar.synced_y - bar.failed_h, 1)
        if (len(chart.bars) - 1 - i) % 7 == 0:  # a date under every 7th bar, today's last
            chart.labels.append((round(bar.x + slot * 0.35, 1), f"{bar.day:%d %b}"))
    chart.bar_width = round(slot * 0.7, 1)
    chart.draw_gridlines(lambda value: f"{round(value):,}")
    return chart


def _recent_runs(ids: list[int], since: datetime) -> dict[int, list[SyncRun]]:
    """Each connection's last `LAST_RUNS` runs since `since`, newest first (one query)."""
    recent = (
        SyncRun.objects.filter(connection_id__in=ids, created_at__gte=since)
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("connection_id")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(position__lte=LAST_RUNS)
        .select_related("started_by")
        .order_by("connection_id", "position")
    )
    runs: dict[int, list[SyncRun]] = {}
    for run in recent:
        runs.setdefault(run.connection_id, []).append(run)
    return runs


def _per_day(ids: list[int], since: datetime) -> dict[int, dict[date, tuple[int, int]]]:
    """(synced, failed) rows per connection and day of real runs since `since` (one query).

    Previews wrote nothing and are left out. A re-run of failed rows tries records its
    first run already counted as failed: what it syncs counts, what fails again does not
    count twice.
    """
    synced = sum((Coalesce(_int(outcome), 0) for outcome in SYNCED_OUTCOMES), Value(0))
    failed_first_time = Case(
        When(rerun_of__isnull=True, then=Coalesce(_int("failed"), 0)),
        default=Value(0),
        output_field=IntegerField(),
    )
    totals = (
        SyncRun.objects.filter(connection_id__in=ids, created_at__gte=since, dry_run=False)
        .annotate(day=TruncDate("created_at"))
        .values("connection_id", "day")
        .annotate(synced=Sum(synced), failed=Sum(failed_first_time))
        .order_by()
    )
    per_day: dict[int, dict[date, tuple[int, int]]] = {}
    for row in totals:
        per_day.setdefault(row["connection_id"], {})[row["day"]] = (
            row["synced"] or 0,
            row["failed"] or 0,
        )
    return per_day


def webhook_status(connection: Connection) -> SafeString:
    """Near-real-time import: a gap or drift the last check found, or when the last notice came."""
    if connection.webhook_problem:
        return format_html('<span class="linx-bad">{}</span>', connection.webhook_problem)
    return format_html("last notice {}", when(connection.webhook_last_event_at))


def dashboard(user) -> list[dict]:
    """Per connection: health, last runs and the 30-day chart. Three queries in all."""
    if not (user.has_perm("linx.view_connection") and user.has_perm("linx.view_syncrun")):
        return []
    connections = list(
        with_health(Connection.objects.order_by("-is_active", "name"))[:DASHBOARD_CONNECTIONS]
    )
    if not connections:
        return []
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    since = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    ids = [c.pk for c in connections]
    runs, per_day = _recent_runs(ids, since), _per_day(ids, since)
    return [
        {
            "connection": connection,
            "last_import": last_run(connection, RunKind.IMPORT),
            "last_export": last_run(connection, RunKind.EXPORT),
            "failures": failures_outstanding(connection),
            "token": token_health(connection),
            "missing_secrets": missing_secrets(connection),
            "webhooks": webhook_status(connection),
            "runs": [
                {
                    "run": run,
                    "badge": run_badge(run.status),
                    "when": when(run.finished_at or run.started_at or run.created_at),
                }
                for run in runs.get(connection.pk, [])
            ],
            "chart": build_chart(days, per_day.get(connection.pk, {})),
        }
        for connection in connections
    ]


def _index_with_dashboard(index):
    def view(request, extra_context=None):
        context = {
            "linx_dashboard": dashboard(request.user),
            "linx_dashboard_limit": DASHBOARD_CONNECTIONS,
            **(extra_context or {}),
        }
        return index(request, extra_context=context)

    return view


# The admin's index is the dashboard (templates/admin/index.html draws it).
admin.site.index = _index_with_dashboard(admin.site.index)
