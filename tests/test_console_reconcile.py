"""The reconciliation screens: start one, read its report, act on its lines (confirmed)."""

from __future__ import annotations

import csv
import html as html_text
import io
import re
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlparse

import time_machine
from django import db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.admin.run_views import run_url
from linx.clients import procore_client
from linx.models import Connection, Reconciliation, RunKind, SyncRun
from linx.sync.execute import execute
from linx.sync.parameters import RunParameters
from linx.sync.reconcile import reconcile
from tests import test_export
from tests.test_console_fix_places import links_on
from tests.test_console_runs import staff_in
from tests.test_export import DAY, export
from tests.test_reconcile import worker_of_linked_employee

linked, punch = test_export.linked, test_export.punch
FIRST, LAST = date(2026, 11, 16), date(2026, 11, 22)


def report_url(done: Reconciliation) -> str:
    return reverse("admin:linx_reconciliation_change", args=[done.pk])


def export_url(done: Reconciliation, records, *, reapply=False) -> str:
    url = reverse("admin:linx_reconciliation_export", args=[done.pk])
    return f"{url}?records={records}" + ("&reapply=1" if reapply else "")


def a_week_with_each_kind_of_line(punch, linked) -> dict:
    """One matched record, one edited in Procore, one never exported, one entry by hand."""
    matched = punch(work_date="2026-11-16", ot1_hours=0, ot2_hours=0)
    edited = punch(work_date="2026-11-17", ot1_hours=0, ot2_hours=0)
    export(linked)
    missing = punch(work_date="2026-11-19", ot1_hours=0, ot2_hours=0)
    with procore_client(linked) as procore:
        for entry in procore.timecard_entries(date(2026, 11, 17), date(2026, 11, 17)):
            procore.update_timecard_entry(entry.id, {"hours": "6"})
        by_hand = procore.create_timecard_entry(
            pc.PROJECT_PJA, {"party_id": worker_of_linked_employee(), "date": DAY, "hours": "4"}
        )
    return {"matched": matched, "edited": edited, "missing": missing, "by_hand": by_hand}


def test_an_operator_reconciles_a_range_and_reads_totals_chart_and_lines(punch, linked):
    a_week_with_each_kind_of_line(punch, linked)
    client, user = staff_in("Operators")
    page = client.get(reverse("admin:linx_reconciliation_changelist"))
    assert "Reconcile a range" in page.content.decode()
    response = client.post(
        reverse("admin:linx_reconciliation_start"),
        {"connection": linked.pk, "first_day": "2026-11-16", "last_day": "2026-11-22"},
    )
    done = Reconciliation.objects.get()
    assert response.status_code == 302 and response["Location"] == report_url(done)
    assert done.started_by == user and done.trigger == "admin"
    html = client.get(report_url(done)).content.decode()
    assert html.index('id="reconciliation-totals"') < html.index('id="reconciliation-lines"')
    assert '<td data-class="matched">1</td>' in html
    assert '<td data-class="different">1</td>' in html
    assert '<td data-class="extra_in_procore">1</td>' in html
    assert '<td data-class="missing_in_procore">1</td>' in html
    days = re.findall(r'data-day="([\d-]+)" data-exaktime="([\d.]+)" data-procore="([\d.]+)"', html)
    assert len(days) == 7  # one pair of bars per day of the range
    assert ("2026-11-17", "8.0", "6.0") in days and ("2026-11-18", "0.0", "4.0") in days
    assert "entered by hand" in html and "edited in Procore after export" in html
    assert 'id="by-worker"' in html and 'id="by-project"' in html and 'id="by-day"' in html


def start_form(client, **query) -> tuple[dict[str, str], str]:
    """The start form's range as it is first shown, and the sentence saying why."""
    html = client.get(reverse("admin:linx_reconciliation_start"), query).content.decode()
    values = dict(re.findall(r'name="(first_day|last_day)" value="([\d-]+)"', html))
    why = re.search(r'id="default-range">([^<]*)', html)
    return values, html_text.unescape(why.group(1).strip()) if why else ""


def test_the_form_starts_on_the_range_of_the_latest_real_export(punch, linked):
    punch()
    run = export(linked)  # the week of 2026-11-16
    export(linked, dry_run=True, **{"from": "2026-11-23", "to": "2026-11-29"})  # a preview
    client, _ = staff_in("Operators")
    values, why = start_form(client)
    assert values == {"first_day": "2026-11-16", "last_day": "2026-11-22"}
    assert why.startswith(f"The range of {linked.name}'s latest export, #{run.pk} (")


def test_without_an_export_the_form_starts_on_last_week_in_the_connections_zone(linked):
    linked.time_zone = "America/Los_Angeles"
    linked.save()
    other = Connection.objects.create(name="other", time_zone="UTC")
    client, _ = staff_in("Operators")
    # Sunday 21:00 in Los Angeles, already Monday in UTC: the week has not ended there.
    with time_machine.travel(datetime(2026, 11, 23, 5, 0, tzinfo=UTC), tick=False):
        values, why = start_form(client, connection=linked.pk)
        assert values == {"first_day": "2026-11-09", "last_day": "2026-11-15"}
        assert why.startswith(
            f"The last complete week in {linked.name}'s time zone (America/Los_Angeles)"
        )
        assert (
            f'href="?connection={other.pk}"'
            in client.get(reverse("admin:linx_reconciliation_start")).content.decode()
        )
        values, _ = start_form(client, connection=other.pk)
        assert values == {"first_day": "2026-11-16", "last_day": "2026-11-22"}


def test_lines_filter_by_class_worker_and_project(punch, linked):
    a_week_with_each_kind_of_line(punch, linked)
    done = reconcile(linked, FIRST, LAST)
    client, _ = staff_in("Viewers")

    def classes(**query) -> list[str]:
        html = client.get(report_url(done), query).content.decode()
        table = html[html.index('id="reconciliation-lines"') :]
        return re.findall(r'<tr data-class="(\w+)"', table)

    assert sorted(classes()) == ["different", "extra_in_procore", "missing_in_procore"]
    assert classes(**{"class": "different"}) == ["different"]
    worker = f"p{worker_of_linked_employee()}"
    assert len(classes(worker=worker)) == 3 and classes(worker="p1") == []
    assert len(classes(project=str(pc.PROJECT_PJA))) == 3 and classes(project="1") == []


def test_the_lines_download_as_csv(punch, linked):
    a_week_with_each_kind_of_line(punch, linked)
    done = reconcile(linked, FIRST, LAST)
    client, _ = staff_in("Viewers")
    response = client.get(reverse("admin:linx_reconciliation_csv", args=[done.pk]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(r["class"] for r in rows) == [
        "different",
        "extra_in_procore",
        "missing_in_procore",
    ]
    assert response["Content-Disposition"].startswith("attachment")


def test_a_failed_rows_line_leads_to_that_row_and_to_the_place_that_fixes_it(punch, linked):
    record = punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY, ot1_hours=0, ot2_hours=0)
    run = export(linked)  # its row fails: the employee is linked to no Procore worker
    done = reconcile(linked, FIRST, LAST)
    client, _ = staff_in("Operators")
    html = client.get(report_url(done), {"class": "missing_in_procore"}).content.decode()
    table = html[html.index('id="reconciliation-lines"') :]

    row_link = f"{run_url(run.pk)}?entity=time_record&q={record['id']}"
    assert f'<a href="{html_text.escape(row_link)}">run #{run.pk}</a>' in table
    ((message, place),) = links_on(table).items()
    assert "is not linked to a Procore worker" in message
    assert urlparse(place).path == reverse("admin:linx_entitymapping_changelist")
    assert parse_qs(urlparse(place).query)["exaktime"] == [str(et.EMPLOYEE_EXAKTIME_ONLY)]
    # The run's link shows that row, named as ExakTime knows the employee.
    shown = client.get(row_link).content.decode()
    assert f"Taylor Brooks (ExakTime {et.EMPLOYEE_EXAKTIME_ONLY}), 2026-11-18" in shown
    assert shown.count('class="linx-row ') == 1
    # The downloads keep their columns, the message as plain text.
    response = client.get(reverse("admin:linx_reconciliation_csv", args=[done.pk]))
    header, line = csv.reader(io.StringIO(response.content.decode()))
    assert header[-1] == "message" and "<a" not in line[-1]
    assert line[-1].startswith(f"Its row failed in export run #{run.pk}: Time record")


def test_an_unlinked_employee_is_named_from_the_snapshot_in_the_worker_column(punch, linked):
    punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY, ot1_hours=0, ot2_hours=0)
    punch(employee_id=100_888, ot1_hours=0, ot2_hours=0)  # in no snapshot: its id, as before
    with CaptureQueriesContext(db.connection) as queries:
        done = reconcile(linked, FIRST, LAST)
    taylor = f"Taylor Brooks (ExakTime {et.EMPLOYEE_EXAKTIME_ONLY}, not linked)"
    unknown = "ExakTime employee 100888 (not linked)"
    assert {w["name"] for w in done.totals["by_worker"]} == {taylor, unknown}
    # The snapshot is read once for the reconciliation, its planner's messages included.
    assert len([q for q in queries if "linx_exaktimerecord" in q["sql"]]) == 1
    client, _ = staff_in("Viewers")
    html = html_text.unescape(client.get(report_url(done)).content.decode())
    table = html[html.index('id="reconciliation-lines"') :]
    assert f"<td>{taylor}</td>" in table and f"<td>{unknown}</td>" in table
    assert "9001 Taylor Brooks (id 100002) is not linked" in table


def test_the_report_downloads_as_xlsx_with_a_totals_sheet_and_the_csvs_lines(punch, linked):
    a_week_with_each_kind_of_line(punch, linked)
    done = reconcile(linked, FIRST, LAST)
    client, _ = staff_in("Viewers")
    page = client.get(report_url(done)).content.decode()
    url = reverse("admin:linx_reconciliation_xlsx", args=[done.pk])
    assert url in page  # offered beside the CSV
    response = client.get(url)
    assert response["Content-Disposition"].endswith(f'-{linked.name}.xlsx"')
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Totals", "Lines"]
    header, *rows = book["Lines"].iter_rows(values_only=True)
    csv_response = client.get(reverse("admin:linx_reconciliation_csv", args=[done.pk]))
    csv_header, *csv_rows = csv.reader(io.StringIO(csv_response.content.decode()))
    assert list(header) == csv_header
    assert sorted(row[0] for row in rows) == sorted(row[0] for row in csv_rows)
    extra = next(
        dict(zip(header, row, strict=True)) for row in rows if row[0] == "extra_in_procore"
    )
    assert extra["procore_hours"] == 4 and "double pay" in extra["message"]
    totals = [row for row in book["Totals"].iter_rows(values_only=True) if row]
    everything = next(row for row in totals if row[0] == "All")
    assert everything[1:4] == (
        done.totals["exaktime_hours"],
        done.totals["procore_hours"],
        done.totals["difference"],
    )
    headings = [row[0] for row in totals]
    assert {"Per worker", "Per project", "Per day", "2026-11-17"} <= set(headings)


def test_downloads_never_run_text_as_a_formula(punch, linked):
    a_week_with_each_kind_of_line(punch, linked)
    done = reconcile(linked, FIRST, LAST)
    # What Procore answered, and the names people gave workers, end up in these cells.
    done.lines[0]["message"] = '=HYPERLINK("http://evil.example","click")'
    done.totals["by_worker"][0]["name"] = "@SUM(A1)"
    done.save()
    client, _ = staff_in("Viewers")
    response = client.get(reverse("admin:linx_reconciliation_xlsx", args=[done.pk]))
    book = load_workbook(io.BytesIO(response.content))
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert {'\'=HYPERLINK("http://evil.example","click")', "'@SUM(A1)"} <= texts
    csv_text = client.get(reverse("admin:linx_reconciliation_csv", args=[done.pk])).content
    assert b"'=HYPERLINK(" in csv_text and b",=HYPERLINK(" not in csv_text


def test_a_viewer_sees_the_report_but_cannot_export_from_it(punch, linked):
    week = a_week_with_each_kind_of_line(punch, linked)
    done = reconcile(linked, FIRST, LAST)
    client, _ = staff_in("Viewers")
    html = client.get(report_url(done)).content.decode()
    assert "Export…" not in html and "Re-apply ExakTime…" not in html
    response = client.post(export_url(done, week["missing"]["id"]), {"confirm": "1"})
    assert response.status_code == 403 and not SyncRun.objects.filter(kind="export").count() > 1


def test_exporting_a_missing_record_is_confirmed_first_then_exports_only_it(punch, linked):
    week = a_week_with_each_kind_of_line(punch, linked)
    done = reconcile(linked, FIRST, LAST)
    client, _ = staff_in("Operators")
    exports_before = SyncRun.objects.filter(kind=RunKind.EXPORT).count()
    confirm = client.get(export_url(done, week["missing"]["id"]))
    assert confirm.status_code == 200 and "Export these records" in confirm.content.decode()
    assert "never changed or deleted" in confirm.content.decode()
    assert SyncRun.objects.filter(kind=RunKind.EXPORT).count() == exports_before  # not yet
    client.post(export_url(done, week["missing"]["id"]), {"records": week["missing"]["id"],
                                                          "confirm": "1"})  # fmt: skip
    run = SyncRun.objects.filter(kind=RunKind.EXPORT).latest("id")
    assert RunParameters.from_json(run.parameters).only_time_records == [week["missing"]["id"]]
    execute(run)
    after = reconcile(linked, FIRST, LAST)
    assert after.totals["missing_in_procore"] == 0 and after.totals["different"] == 1


def test_reapplying_a_different_line_fixes_that_entry_and_never_the_hand_made_one(punch, linked):
    week = a_week_with_each_kind_of_line(punch, linked)
    done = reconcile(linked, FIRST, LAST)
    client, _ = staff_in("Operators")
    edited = week["edited"]["id"]
    assert (
        "Re-apply ExakTime" in client.get(export_url(done, edited, reapply=True)).content.decode()
    )
    client.post(export_url(done, edited, reapply=True),
                {"records": edited, "reapply": "1", "confirm": "1"})  # fmt: skip
    run = SyncRun.objects.filter(kind=RunKind.EXPORT).latest("id")
    assert RunParameters.from_json(run.parameters).reapply == [edited]
    execute(run)
    after = reconcile(linked, FIRST, LAST)
    assert after.totals["different"] == 0 and after.totals["extra_in_procore"] == 1
    with procore_client(linked) as procore:
        held = {e.id: e for e in procore.timecard_entries(FIRST, LAST)}
    assert held[week["by_hand"].id].hours == 4


def test_an_export_of_records_the_report_does_not_offer_is_refused(punch, linked):
    week = a_week_with_each_kind_of_line(punch, linked)
    done = reconcile(linked, FIRST, LAST)
    client, _ = staff_in("Operators")
    before = SyncRun.objects.count()
    matched = week["matched"]["id"]
    response = client.post(export_url(done, matched), {"records": matched, "confirm": "1"})
    assert response.status_code == 302 and SyncRun.objects.count() == before
