"""Reconciliations: the list of what was checked, a form to check a range, and the report.

The report shows the totals first (per class, per worker, per project, per day), a chart
of hours per day (ExakTime beside Procore, drawn here as SVG like the dashboard's), the
differing lines with filters by class, worker and project, and a CSV and an XLSX of
them (the XLSX with a totals sheet too). From a
"missing in Procore" line an operator can export just those records, and from a
"different" line re-apply ExakTime's values; both go through a confirmation page, then
an ordinary export run restricted to those records, which only ever touches entries Linx
created.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from openpyxl import Workbook

from linx.admin.charts import ChartFrame, nice_scale
from linx.admin.mapping_places import message_to_fix
from linx.admin.run_forms import DateRangeForm
from linx.admin.run_views import run_url, spreadsheet_text
from linx.models import Connection, EntityType, Reconciliation, RunKind, RunTrigger, SyncRun
from linx.sync.parameters import RunParameters
from linx.sync.queueing import queue_runs
from linx.sync.reconcile import reconcile
from linx.sync.reconcile_compare import CLASS_NAMES, CLASSES, DIFFERENT, MISSING
from linx.sync.reconcile_totals import labels

#: Days the chart draws one pair of bars for; a longer range shows only days with hours.
CHART_DAYS = 62
CSV_COLUMNS = [
    "class", "date", "kind", "procore_worker_id", "exaktime_employee_id", "time_record_id",
    "timecard_entry_id", "project_id", "sub_job_id", "cost_code_id", "exaktime_hours",
    "procore_hours", "message",
]  # fmt: skip


class ReconcileForm(DateRangeForm):
    connection = forms.ModelChoiceField(queryset=Connection.objects.order_by("name"))
    field_order = ["connection", "first_day", "last_day"]


# --- the chart ------------------------------------------------------------------------


@dataclass
class DayBars:
    day: date
    exaktime: float
    procore: float
    x: float = 0
    procore_x: float = 0
    exaktime_y: float = 0
    procore_y: float = 0
    exaktime_h: float = 0
    procore_h: float = 0

    @property
    def title(self) -> str:
        return f"{self.day:%a %d %b}: ExakTime {self.exaktime:g} h, Procore {self.procore:g} h"


@dataclass(kw_only=True)
class HoursChart(ChartFrame):
    """Hours per day, ExakTime's bar beside Procore's."""

    days: list[DayBars]
    height: int = 140
    left: int = 40

    @property
    def summary(self) -> str:
        exaktime = sum(d.exaktime for d in self.days)
        procore = sum(d.procore for d in self.days)
        return (
            f"Hours per day, ExakTime beside Procore: {exaktime:g} h in ExakTime, "
            f"{procore:g} h in Procore."
        )


def hours_chart(done: Reconciliation) -> HoursChart:
    per_day = {
        row["name"]: (row["exaktime_hours"], row["procore_hours"])
        for row in done.totals.get("by_day", [])
    }
    span = (done.last_day - done.first_day).days + 1
    if span <= CHART_DAYS:
        days = [done.first_day + timedelta(days=n) for n in range(span)]
    else:
        days = sorted(date.fromisoformat(d) for d in per_day if d[:1].isdigit())
    chart = HoursChart(days=[DayBars(d, *per_day.get(d.isoformat(), (0.0, 0.0))) for d in days])
    peak = max((max(d.exaktime, d.procore) for d in chart.days), default=0)
    chart.scale_max = nice_scale(math.ceil(peak))
    slot = chart.slot(len(chart.days))
    chart.bar_width = round(slot * 0.35, 1)
    for i, bars in enumerate(chart.days):
        bars.x = round(chart.left + i * slot + slot * 0.15, 1)
        bars.procore_x = round(bars.x + chart.bar_width, 1)
        bars.exaktime_h = chart.bar_height(bars.exaktime)
        bars.procore_h = chart.bar_height(bars.procore)
        bars.exaktime_y = round(chart.base - bars.exaktime_h, 1)
        bars.procore_y = round(chart.base - bars.procore_h, 1)
        if len(chart.days) <= 14 or i % 7 == 0:
            chart.labels.append((round(bars.x + slot * 0.35, 1), f"{bars.day:%d %b}"))
    chart.draw_gridlines(lambda value: f"{value:g}")
    return chart


# --- the lines ------------------------------------------------------------------------


def labelled_lines(done: Reconciliation) -> list[dict]:
    """The differing lines with the names people know their worker and project by."""
    workers, projects = labels(done.connection)
    shown = []
    for line in done.lines:
        worker, employee = line.get("procore_worker_id"), line.get("exaktime_employee_id")
        who = workers.label(worker, employee)
        key = f"p{worker}" if worker is not None else f"e{employee}"
        project = line.get("project_id")
        shown.append(
            {
                **line,
                "class_name": CLASS_NAMES[line["class"]],
                "worker": who,
                "worker_key": key,
                "project": projects.get(project)
                or (f"Procore project {project}" if project else "-"),
                "project_key": str(project or ""),
                "can_export": line["class"] in (MISSING, DIFFERENT) and line["time_record_id"],
                "why": why(done, line),
            }
        )
    return shown


def why(done: Reconciliation, line: dict) -> SafeString | str:
    """A line's message, where it names the export run that last tried its record, with
    that run a link to the record's row there, and what the row said (when it names a
    missing link or project code) a link to the place that fixes it."""
    run_id = line.get("run_id")
    head, named, said = line["message"].partition(f"run #{run_id}: ")
    if not run_id or not named:
        return line["message"]
    row = (
        run_url(run_id)
        + "?"
        + urlencode({"entity": EntityType.TIME_RECORD, "q": line["time_record_id"] or ""})
    )
    return format_html(
        '{}<a href="{}">run #{}</a>: {}',
        head,
        row,
        run_id,
        message_to_fix(done.connection_id, line.get("needs"), said),
    )


def filtered(lines: list[dict], params) -> list[dict]:
    for name, key in (("class", "class"), ("worker", "worker_key"), ("project", "project_key")):
        if wanted := params.get(name):
            lines = [line for line in lines if str(line[key]) == wanted]
    return lines


def choices(lines: list[dict], key: str, label: str) -> list[tuple[str, str]]:
    return sorted({(str(line[key]), line[label]) for line in lines}, key=lambda c: c[1])


# --- the downloads --------------------------------------------------------------------

XLSX = ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
TOTAL_COLUMNS = ["name", "exaktime_hours", "procore_hours", "difference"]
GROUP_NAMES = {"by_worker": "Per worker", "by_project": "Per project", "by_day": "Per day"}


def line_cells(line: dict) -> list:
    """A line's values in CSV_COLUMNS order; text a spreadsheet would run as a formula
    (it starts with = + - @) is quoted, since messages carry what Procore said."""
    return [spreadsheet_text(v) if isinstance(v, str) else v for v in map(line.get, CSV_COLUMNS)]


def reconciliation_xlsx(done: Reconciliation) -> bytes:
    """A totals sheet (the range's totals, then per worker, project and day) and a lines
    sheet with the CSV's columns."""
    book = Workbook(write_only=True)
    totals = book.create_sheet("Totals")
    t = done.totals
    totals.append([spreadsheet_text(str(done)), done.get_status_display()])
    totals.append(["", *TOTAL_COLUMNS[1:], *CLASSES])
    totals.append(["All", *(t.get(key) for key in TOTAL_COLUMNS[1:]), *map(t.get, CLASSES)])
    for group, heading in GROUP_NAMES.items():
        totals.append([])
        totals.append([heading, *TOTAL_COLUMNS[1:]])
        for row in t.get(group, []):
            totals.append([spreadsheet_text(str(row["name"])), *map(row.get, TOTAL_COLUMNS[1:])])
    lines = book.create_sheet("Lines")
    lines.append(CSV_COLUMNS)
    for line in done.lines:
        lines.append(line_cells(line))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download(content, done: Reconciliation, extension: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="linx-reconciliation-{done.pk}-{done.connection.name}.{extension}"'
    )
    return response


# --- the screen -----------------------------------------------------------------------


@admin.register(Reconciliation)
class ReconciliationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "differences", "started_by", "started_at", "trigger"]
    list_filter = ["status", "connection", "trigger"]
    list_select_related = ["connection", "started_by"]
    change_list_template = "admin/linx/reconciliation/change_list.html"

    @admin.display(description="differing lines")
    def differences(self, obj: Reconciliation) -> int:
        return len(obj.lines)

    def has_add_permission(self, request) -> bool:
        return False  # started from "Reconcile a range", never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a record of what was checked: never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may read the runs may read what was checked against them.
        user = request.user
        return user.has_perm("linx.view_reconciliation") or user.has_perm("linx.view_syncrun")

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("linx.run_sync")

    def changelist_view(self, request, extra_context=None):
        extra = {"can_run": self.has_run_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path("reconcile/", view(self.start_view), name="linx_reconciliation_start"),
            path("<int:pk>/csv/", view(self.csv_view), name="linx_reconciliation_csv"),
            path("<int:pk>/xlsx/", view(self.xlsx_view), name="linx_reconciliation_xlsx"),
            path("<int:pk>/export/", view(self.export_view), name="linx_reconciliation_export"),
            *super().get_urls(),
        ]

    def _context(self, request, title: str, **context) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **context,
        }

    def _get(self, request, pk) -> Reconciliation:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(Reconciliation.objects.select_related("connection"), pk=pk)

    def start_view(self, request):
        """Pick a connection and a range; the comparison runs now and its report shows."""
        if not self.has_run_permission(request):
            raise PermissionDenied
        connections = Connection.objects.order_by("name")
        chosen = connections.filter(pk=request.GET.get("connection") or None).first()
        initial, why = default_range(chosen or connections.first())
        form = ReconcileForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            done = reconcile(
                data["connection"],
                data["first_day"],
                data["last_day"],
                trigger=RunTrigger.ADMIN,
                user=request.user,
            )
            return redirect(reverse("admin:linx_reconciliation_change", args=[done.pk]))
        return TemplateResponse(
            request,
            "admin/linx/reconciliation/start.html",
            self._context(
                request,
                "Reconcile a range",
                form=form,
                default_help=why,
                others=connections if connections.count() > 1 else [],
            ),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The report: totals first, the chart, then the differing lines, filtered."""
        done = self._get(request, object_id)
        lines = labelled_lines(done)
        context = self._context(
            request,
            str(done),
            done=done,
            counts=[(c, CLASS_NAMES[c], done.totals.get(c, 0)) for c in CLASSES],
            chart=hours_chart(done) if done.totals else None,
            lines=filtered(lines, request.GET),
            filters={key: request.GET.get(key, "") for key in ("class", "worker", "project")},
            class_choices=[(c, CLASS_NAMES[c]) for c in CLASSES if c != "matched"],
            worker_choices=choices(lines, "worker_key", "worker"),
            project_choices=choices(lines, "project_key", "project"),
            missing_ids=",".join(
                str(line["time_record_id"])
                for line in lines
                if line["class"] == MISSING and line["time_record_id"]
            ),
            can_run=self.has_run_permission(request),
        )
        return TemplateResponse(request, "admin/linx/reconciliation/report.html", context)

    def csv_view(self, request, pk):
        done = self._get(request, pk)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for line in done.lines:
            writer.writerow(["" if value is None else value for value in line_cells(line)])
        return download(out.getvalue(), done, "csv", "text/csv; charset=utf-8")

    def xlsx_view(self, request, pk):
        done = self._get(request, pk)
        return download(reconciliation_xlsx(done), done, *XLSX)

    def export_view(self, request, pk):
        """Confirm, then queue an export of chosen records (re-applying over edits)."""
        done = self._get(request, pk)
        if not self.has_run_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        reapply = data.get("reapply") == "1"
        offered = {
            line["time_record_id"]: line
            for line in done.lines
            if line["class"] == (DIFFERENT if reapply else MISSING) and line["time_record_id"]
        }
        try:
            asked = [int(i) for i in data.get("records", "").split(",") if i.strip()]
        except ValueError:
            asked = []
        chosen = [i for i in dict.fromkeys(asked) if i in offered]
        if not chosen:
            messages.warning(request, "None of those time records is a line this report offers.")
            return redirect(reverse("admin:linx_reconciliation_change", args=[done.pk]))
        if request.method == "POST" and "confirm" in request.POST:
            return self._queue_export(request, done, chosen, reapply)
        return TemplateResponse(
            request,
            "admin/linx/reconciliation/confirm_export.html",
            self._context(
                request,
                "Re-apply ExakTime's values" if reapply else "Export these records",
                done=done,
                lines=[line for line in labelled_lines(done) if line["time_record_id"] in chosen],
                records=",".join(str(i) for i in chosen),
                reapply=reapply,
            ),
        )

    def _queue_export(self, request, done: Reconciliation, chosen: list[int], reapply: bool):
        parameters = {
            "from": done.first_day.isoformat(),
            "to": done.last_day.isoformat(),
            "only_time_records": chosen,
        }
        if reapply:
            parameters["reapply"] = chosen
        (run,) = queue_runs(
            [done.connection],
            RunKind.EXPORT,
            trigger=RunTrigger.ADMIN,
            started_by=request.user,
            parameters=parameters,
        )
        messages.success(
            request,
            f"Queued export #{run.pk} of {len(chosen)} time record(s). Reconcile again once it "
            "has finished to see the result.",
        )
        return redirect(run_url(run.pk))


def latest_export_range(connection: Connection) -> tuple[SyncRun, date, date] | None:
    """The connection's latest real (not preview) export that ran, and its range."""
    runs = SyncRun.objects.filter(
        connection=connection, kind=RunKind.EXPORT, dry_run=False, started_at__isnull=False
    ).order_by("-started_at", "-id")
    for run in runs[:5]:
        parameters = RunParameters.from_json(run.parameters)
        try:
            first = date.fromisoformat(parameters.first_day or "")
            last = date.fromisoformat(parameters.last_day or "")
        except ValueError:
            continue  # a run refused for its dates: the one before it
        return run, first, last
    return None


def default_range(connection: Connection | None) -> tuple[dict, str]:
    """The form's starting values and a sentence saying where its range comes from: the
    connection's latest real export, else the last complete week in its time zone."""
    if connection is None:
        return {}, ""
    found = latest_export_range(connection)
    if found is not None:
        run, first, last = found
        why = (
            f"The range of {connection.name}'s latest export, #{run.pk} "
            f"({timezone.localtime(run.started_at):%Y-%m-%d %H:%M}, {run.get_status_display().lower()})."
        )
    else:
        first, last = connection.last_complete_week()
        why = (
            f"The last complete week in {connection.name}'s time zone ({connection.time_zone}): "
            "it has no export yet."
        )
    return {"connection": connection.pk, "first_day": first, "last_day": last}, why
