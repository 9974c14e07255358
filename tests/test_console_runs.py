"""The runs console: the list, a run's page with its rows, live progress, the failed-rows
CSV, and the re-run / cancel / apply buttons with their permissions."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from linx.models import (
    FailureKind,
    Outcome,
    RowResult,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
    User,
)
from linx.sync.runs import claim, create_run

LIST = "/admin/linx/syncrun/"


def page_of(run: SyncRun) -> str:
    return f"{LIST}{run.pk}/change/"


def make_run(connection, kind=RunKind.IMPORT, *, trigger=RunTrigger.COMMAND, started_by=None,
             dry_run=False, parameters=None, rerun_of=None, **fields) -> SyncRun:  # fmt: skip
    run = create_run(connection, kind, trigger=trigger, started_by=started_by, dry_run=dry_run,
                     parameters=parameters, rerun_of=rerun_of)  # fmt: skip
    if fields:
        SyncRun.objects.filter(pk=run.pk).update(**fields)
        run.refresh_from_db()
    return run


def row(run, outcome=Outcome.CREATED, entity="employee", **fields) -> RowResult:
    return RowResult.objects.create(run=run, outcome=outcome, entity_type=entity, **fields)


def finished(**fields) -> dict:
    now = timezone.now()
    return {"started_at": now - timedelta(minutes=2, seconds=5), "finished_at": now, **fields}


def staff_in(group: str) -> tuple[Client, User]:
    """A client logged in as a staff member of ``group``, with a second factor set up."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user = User.objects.create_user(f"{group.lower()}@example.com", "x" * 20, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    TOTP.activate(user, generate_totp_secret())
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def operator(db):
    return staff_in("Operators")


@pytest.fixture
def viewer(db):
    return staff_in("Viewers")


@pytest.fixture
def partial_run(connection, staff_user) -> SyncRun:
    """A finished import with rows of every kind worth showing."""
    run = make_run(connection, trigger=RunTrigger.ADMIN, started_by=staff_user,
                   parameters={"entities": ["employees", "locations"]},
                   **finished(status=RunStatus.PARTIAL,
                              counts={"created": 1, "updated": 1, "failed": 2, "deactivated": 1},
                              progress={"employee": {"done": 3, "total": 3},
                                        "location": {"done": 2, "total": 2}}))  # fmt: skip
    row(run, Outcome.CREATED, procore_id=101, exaktime_id="E-101", name="Ada Lovelace",
        changes={"first_name": [None, "Ada"], "email": [None, "ada@example.com"]})  # fmt: skip
    row(run, Outcome.UPDATED, procore_id=102, exaktime_id="E-102", name="Grace Hopper",
        changes={"city": ["Arlington", "New York"]})  # fmt: skip
    row(run, Outcome.FAILED, procore_id=103, name="Alan Turing",
        message="Has no Employee ID in Procore's Directory.", retryable=False)  # fmt: skip
    row(run, Outcome.FAILED, "location", procore_id=104, exaktime_id="200.005", name="PJA.SJB",
        message="ExakTime answered 503 five times.", retryable=True)  # fmt: skip
    row(run, Outcome.DEACTIVATED, "location", procore_id=105, exaktime_id="300",
        name="Old yard", changes={"active": [True, False]})  # fmt: skip
    return run


def names_on(response) -> set[str]:
    content = response.content.decode()
    return {n for n in ("Ada Lovelace", "Grace Hopper", "Alan Turing", "PJA.SJB", "Old yard")
            if n in content}  # fmt: skip


# --- The list -------------------------------------------------------------------------


def test_list_shows_status_badges_counts_starters_and_dry_runs(
    staff_client, staff_user, connection
):
    by_hand = make_run(connection, trigger=RunTrigger.ADMIN, started_by=staff_user,
                       **finished(status=RunStatus.PARTIAL,
                                  counts={"created": 120, "failed": 3}))  # fmt: skip
    make_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND,
             **finished(status=RunStatus.FAILED, message="Procore refused the token."))  # fmt: skip
    make_run(connection, trigger=RunTrigger.RERUN, rerun_of=by_hand, started_by=staff_user,
             **finished(status=RunStatus.SUCCEEDED))  # fmt: skip
    make_run(connection, RunKind.PREIMPORT, trigger=RunTrigger.SCHEDULE, dry_run=True,
             status=RunStatus.QUEUED)  # fmt: skip

    page = staff_client.get(LIST).content.decode()

    assert 'linx-badge--warning" data-linx-badge="status">Partially failed<' in page
    assert 'linx-badge--error" data-linx-badge="status">Failed<' in page
    assert 'linx-badge--success" data-linx-badge="status">Succeeded<' in page
    assert 'linx-badge--quiet" data-linx-badge="status">Queued<' in page
    assert "120 created" in page and "3 failed" in page
    assert "ops@example.com" in page
    assert "command line / cron" in page and "schedule" in page
    assert f're-run of <a href="{page_of(by_hand)}">#{by_hand.pk}</a>' in page
    assert "linx-tag--dry" in page
    assert "2 min 05 s" in page  # duration
    assert "linx/run_progress.js" in page and "linx/console.css" in page


def test_runs_show_their_real_duration_even_under_a_second(staff_client, sandbox_connection):
    from linx.sync.execute import execute

    run = execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    took = (run.finished_at - run.started_at).total_seconds()
    assert 0 < took < 10  # a sandbox import is quick, but it does take time
    shown = "under 0.1 s" if took < 0.1 else f"{took:.1f} s"
    assert f'<span class="linx-nowrap">{shown}</span>' in staff_client.get(LIST).content.decode()
    assert f"<dd data-linx-duration>{shown}</dd>" in staff_client.get(page_of(run)).content.decode()

    quick = make_run(sandbox_connection, **finished(status=RunStatus.SUCCEEDED))
    SyncRun.objects.filter(pk=quick.pk).update(
        finished_at=quick.started_at + timedelta(seconds=2, milliseconds=400)
    )
    assert "<dd data-linx-duration>2.4 s</dd>" in staff_client.get(page_of(quick)).content.decode()


def test_list_filters_by_status_kind_connection_and_date(staff_client, connection):
    from linx.models import Connection

    other = Connection.objects.create(name="other-co")
    failed_export = make_run(connection, RunKind.EXPORT, **finished(status=RunStatus.FAILED))
    old_import = make_run(connection, **finished(status=RunStatus.SUCCEEDED),
                          created_at=timezone.now() - timedelta(days=400))  # fmt: skip
    elsewhere = make_run(other, **finished(status=RunStatus.SUCCEEDED))

    def shown(query: str) -> set[int]:
        page = staff_client.get(LIST + query).content.decode()
        return {r.pk for r in (failed_export, old_import, elsewhere) if page_of(r) in page}

    assert shown("") == {failed_export.pk, old_import.pk, elsewhere.pk}
    assert shown("?status__exact=failed") == {failed_export.pk}
    assert shown("?kind__exact=import") == {old_import.pk, elsewhere.pk}
    assert shown(f"?connection__id__exact={other.pk}") == {elsewhere.pk}
    year = timezone.now().replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    assert shown("?" + urlencode({"created_at__lt": str(year)})) == {old_import.pk}
    week_ago = (timezone.now() - timedelta(days=7)).replace(microsecond=0)
    assert shown("?" + urlencode({"created_at__gte": str(week_ago)})) == {
        failed_export.pk,
        elsewhere.pk,
    }


def test_the_history_is_read_only(staff_client, partial_run):
    page = staff_client.get(LIST).content.decode()
    assert "/admin/linx/syncrun/add/" not in page
    assert "delete_selected" not in page
    assert staff_client.get(f"{LIST}add/").status_code == 403
    assert (
        staff_client.get(f"{page_of(partial_run)}".replace("change", "delete")).status_code == 403
    )


def test_list_shows_a_compact_progress_bar_for_a_running_run(staff_client, connection):
    running = claim(make_run(connection))
    SyncRun.objects.filter(pk=running.pk).update(progress={"employee": {"done": 3, "total": 12}})
    make_run(connection, RunKind.EXPORT, **finished(status=RunStatus.SUCCEEDED))

    page = staff_client.get(LIST).content.decode()

    assert page.count("linx-progress--compact") == 1
    assert f'data-linx-progress="{LIST}{running.pk}/progress/"' in page
    assert 'aria-valuenow="25"' in page and "3 / 12" in page


# --- A run's page ---------------------------------------------------------------------


def test_run_page_shows_its_header_and_why_it_failed(staff_client, connection, staff_user):
    run = make_run(connection, RunKind.EXPORT, trigger=RunTrigger.ADMIN, started_by=staff_user,
                   parameters={"from": "2026-11-16", "to": "2026-11-22", "approved_only": True},
                   **finished(status=RunStatus.FAILED,
                              message="Procore refused the client credentials (401)."))  # fmt: skip

    page = staff_client.get(page_of(run)).content.decode()

    assert f"Export #{run.pk} of acme-builders" in page
    assert "linx-badge--error" in page
    assert "ops@example.com" in page
    assert "2026-11-16 → 2026-11-22" in page
    assert "Approved only" in page
    assert 'class="linx-message linx-message--error"' in page
    assert "Procore refused the client credentials (401)." in page
    assert "2 min 05 s" in page


def test_run_page_lists_rows_with_ids_names_and_outcomes(staff_client, partial_run):
    page = staff_client.get(page_of(partial_run)).content.decode()
    assert names_on(staff_client.get(page_of(partial_run))) == {
        "Ada Lovelace", "Grace Hopper", "Alan Turing", "PJA.SJB", "Old yard"}  # fmt: skip
    assert "<td>101</td>" in page and "<td>E-101</td>" in page
    assert "linx-badge--success" in page and "Deactivated" in page
    assert '<a href="?outcome=failed" class="linx-badge linx-badge--error">2 failed</a>' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?outcome=failed", {"Alan Turing", "PJA.SJB"}),
        ("?entity=location", {"PJA.SJB", "Old yard"}),
        ("?outcome=failed&entity=employee", {"Alan Turing"}),
        (
            "?outcome=nonsense",
            {"Ada Lovelace", "Grace Hopper", "Alan Turing", "PJA.SJB", "Old yard"},
        ),
    ],
)
def test_run_rows_filter_by_outcome_and_entity_type(staff_client, partial_run, query, expected):
    assert names_on(staff_client.get(page_of(partial_run) + query)) == expected


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("103", {"Alan Turing"}),  # Procore id
        ("E-102", {"Grace Hopper"}),  # ExakTime id
        ("200.005", {"PJA.SJB"}),
        ("lovel", {"Ada Lovelace"}),  # part of a name, any case
        ("nobody", set()),
    ],
)
def test_run_rows_are_searchable_by_ids_and_names(staff_client, partial_run, search, expected):
    response = staff_client.get(page_of(partial_run), {"q": search})
    assert names_on(response) == expected
    if not expected:
        assert "No row matches these filters." in response.content.decode()


def test_run_rows_are_paginated_and_keep_their_filters(staff_client, connection):
    from linx.admin.run_views import ROWS_PER_PAGE

    run = make_run(connection, **finished(status=RunStatus.SUCCEEDED))
    RowResult.objects.bulk_create(
        RowResult(
            run=run,
            entity_type="employee",
            outcome=Outcome.UNCHANGED,
            procore_id=i,
            name=f"Worker {i:04d}",
        )
        for i in range(ROWS_PER_PAGE + 5)
    )

    first = staff_client.get(page_of(run), {"outcome": "unchanged"}).content.decode()
    last = staff_client.get(page_of(run), {"outcome": "unchanged", "page": 2}).content.decode()

    assert "Worker 0000" in first and f"Worker {ROWS_PER_PAGE:04d}" not in first
    assert f"Worker {ROWS_PER_PAGE:04d}" in last and "Worker 0000" not in last
    assert "Page 1 of 2" in first and "?outcome=unchanged&amp;page=2" in first
    assert f"{ROWS_PER_PAGE + 5} rows" in first


def test_changes_are_shown_before_and_after_for_imports_and_exports(staff_client, connection):
    run = make_run(connection, RunKind.EXPORT, **finished(status=RunStatus.SUCCEEDED))
    row(run, Outcome.UPDATED, "time_record", exaktime_id="4711", name="Ada 2026-11-17",
        changes={"regular": {"hours": [8, 7.5]}, "ot1": {"entry": [5531, None]}})  # fmt: skip
    row(run, Outcome.UPDATED, "employee", procore_id=7, name="Grace Hopper",
        changes={"city": ["Arlington", "New York"]})  # fmt: skip

    page = staff_client.get(page_of(run)).content.decode()

    assert '<span class="linx-change-field">City</span>' in page  # a label, not an API name
    assert "<del>Arlington</del>" in page and "<ins>New York</ins>" in page
    assert '<div class="linx-change-group">Regular hours</div>' in page
    assert "<del>8</del>" in page and "<ins>7.5</ins>" in page
    assert '<div class="linx-change-group">OT1 hours</div>' in page
    assert "<del>5531</del>" in page and 'title="nothing after"' in page


def test_an_export_preview_reads_as_names_with_ids_only_in_the_details(staff_client, connection):
    from linx.models import CustomField, EntityMapping, EntityType

    for entity, procore_id, name in [
        (EntityType.LOCATION, 7000000001, "200 PJA"),
        (EntityType.SUB_JOB, 7100000001, "PJA.SJB"),
        (EntityType.EMPLOYEE, 6000000001, "Alex Rivera"),
        (EntityType.TIME_TYPE, 9100000001, "Regular Time"),
    ]:
        EntityMapping.objects.create(
            connection=connection, entity_type=entity, procore_id=procore_id, name=name
        )
    CustomField.objects.create(
        connection=connection, procore_id=9400000004, label="Weather", data_type="string"
    )
    run = make_run(connection, RunKind.EXPORT, dry_run=True, **finished(status=RunStatus.SUCCEEDED))
    row(run, Outcome.CREATED, "time_record", exaktime_id="1000001",
        name="Alex Rivera, 2026-11-25 · 200 PJA / PJA.SJB · 3010 Concrete Labor",
        changes={"regular": {
            "project_id": [None, 7000000001], "sub_job_id": [None, 7100000001],
            "party_id": [None, 6000000001], "timecard_time_type_id": [None, 9100000001],
            "hours": [None, "8"], "custom_field_9400000004": [None, "Sunny"],
            "origin_id": [None, "1000001-regular"], "origin_data": [None, "1"],
        }})  # fmt: skip

    page = staff_client.get(page_of(run)).content.decode()
    readable, details = page.split('<details class="linx-raw-fields">', 1)
    for label, value in [("Project", "200 PJA"), ("Sub-job", "PJA.SJB"),
                         ("Worker", "Alex Rivera"), ("Time type", "Regular Time"),
                         ("Hours", "8"), ("Weather", "Sunny")]:  # fmt: skip
        assert f'<span class="linx-change-field">{label}</span>' in readable
        assert f"<ins>{value}</ins>" in readable
    assert "Alex Rivera, 2026-11-25 · 200 PJA / PJA.SJB · 3010 Concrete Labor" in readable
    for raw in ("7000000001", "custom_field_9400000004", "origin_data", "1000001-regular"):
        assert raw not in readable.split('<table id="result_list"', 1)[-1].split("</table>")[0]
        assert raw in details


def test_an_import_row_reads_in_user_words_with_ids_only_in_the_details(staff_client, connection):
    run = make_run(connection, RunKind.IMPORT, dry_run=True, **finished(status=RunStatus.SUCCEEDED))
    row(run, Outcome.UPDATED, "crew", procore_id=8, name="Concrete Crew",
        changes={"member_ids": [[100001], [100001, 100002, 100003]],
                 "show_in_mobile": [None, True], "is_active": [False, True]})  # fmt: skip
    row(run, Outcome.UPDATED, "custom_field", procore_id=9, name="Weather",
        changes={"options": [["Sunny"], ["Sunny", "Rain"]]})  # fmt: skip

    page = staff_client.get(page_of(run)).content.decode()
    rows = page.split('<table id="result_list"', 1)[1].split("</table>")[0]
    details = "".join(re.findall(r"<details.*?</details>", rows, re.S))
    readable = re.sub(r"<details.*?</details>", "", rows, flags=re.S)
    for label, before, after in [("Members", "1 member", "3 members"),
                                 ("Shown in the mobile app", None, "yes"),
                                 ("Active", "no", "yes"), ("Choices", "Sunny", "Sunny, Rain")]:  # fmt: skip
        assert f'<span class="linx-change-field">{label}</span>' in readable
        assert before is None or f"<del>{before}</del>" in readable
        assert f"<ins>{after}</ins>" in readable
    for raw in ("member_ids", "show_in_mobile", "100002"):
        assert raw not in readable
        assert raw in details


def test_fix_needed_and_retry_may_help_are_shown_differently(staff_client, partial_run):
    page = staff_client.get(page_of(partial_run), {"outcome": "failed"}).content.decode()

    fix = page.index("linx-flag--fix")
    retry = page.index("linx-flag--retry")
    assert page.count("Fix needed</span>") == 1 and page.count("Retry may help</span>") == 1
    # Each label sits beside its own row's message.
    assert page.index("Has no Employee ID") > fix
    assert page.index("ExakTime answered 503") > retry
    assert "linx-row-message--fix" in page and "linx-row-message--retry" in page


def test_a_row_page_shows_its_changes_and_failure_kind(staff_client, partial_run):
    failed = partial_run.rows.get(procore_id=104)
    updated = partial_run.rows.get(procore_id=102)

    failed_page = staff_client.get(f"/admin/linx/rowresult/{failed.pk}/change/").content.decode()
    updated_page = staff_client.get(f"/admin/linx/rowresult/{updated.pk}/change/").content.decode()

    assert "Retry may help" in failed_page and "ExakTime answered 503" in failed_page
    assert "A passing fault: re-run the failed rows" in failed_page
    must_fix = partial_run.rows.get(procore_id=103)
    fix_page = staff_client.get(f"/admin/linx/rowresult/{must_fix.pk}/change/").content.decode()
    assert "Fix needed" in fix_page and "An operator must fix this first" in fix_page
    assert page_of(partial_run) in failed_page
    assert "<del>Arlington</del>" in updated_page and "<ins>New York</ins>" in updated_page


# --- Failed rows as CSV ---------------------------------------------------------------


def test_failed_rows_csv_has_exactly_the_failed_rows_and_no_secret(staff_client, partial_run):
    response = staff_client.get(f"{LIST}{partial_run.pk}/failed-rows.csv")

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    lines = list(csv.reader(io.StringIO(body)))
    assert lines == [
        ["Entity", "Procore ID", "ExakTime ID", "Name", "Message", "Retry may help"],
        ["Employee", "103", "", "Alan Turing", "Has no Employee ID in Procore's Directory.", "no"],
        ["Location", "104", "200.005", "PJA.SJB", "ExakTime answered 503 five times.", "yes"],
    ]
    for secret in ("procore-secret-value-acme", "exaktime-key-value-acme"):
        assert secret not in body


def test_failed_rows_csv_never_hands_a_spreadsheet_a_formula(staff_client, connection):
    run = make_run(connection, **finished(status=RunStatus.FAILED))
    row(run, Outcome.FAILED, procore_id=1, name='=HYPERLINK("http://evil")', message="+bad")

    body = b"".join(staff_client.get(f"{LIST}{run.pk}/failed-rows.csv").streaming_content)

    assert b"'=HYPERLINK" in body and b",'+bad," in body


def test_run_page_offers_the_csv_only_when_rows_failed(staff_client, partial_run, connection):
    clean = make_run(connection, **finished(status=RunStatus.SUCCEEDED))
    row(clean, Outcome.CREATED, procore_id=1, name="Fine")

    assert b"failed-rows.csv" in staff_client.get(page_of(partial_run)).content
    assert b"failed-rows.csv" not in staff_client.get(page_of(clean)).content


# --- Live progress --------------------------------------------------------------------


def test_progress_json_reflects_the_runs_progress_and_counts(staff_client, connection):
    run = claim(make_run(connection))
    SyncRun.objects.filter(pk=run.pk).update(
        progress={"location": {"done": 5, "total": 20}, "employee": {"done": 30, "total": 40}},
        counts={"created": 30, "failed": 5},
    )

    response = staff_client.get(f"{LIST}{run.pk}/progress/")
    data = response.json()

    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    assert data["status"] == "running" and data["finished"] is False
    assert data["progress"] == {
        "location": {"done": 5, "total": 20},
        "employee": {"done": 30, "total": 40},
    }
    assert [(e["entity"], e["done"], e["total"], e["percent"]) for e in data["entities"]] == [
        ("employee", 30, 40, 75),
        ("location", 5, 20, 25),
    ]
    assert data["overall"]["done"] == 35 and data["overall"]["total"] == 60
    assert data["counts"] == {"created": 30, "failed": 5}
    assert data["counts_text"] == "30 created · 5 failed"

    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.PARTIAL, finished_at=timezone.now())
    data = staff_client.get(f"{LIST}{run.pk}/progress/").json()
    assert data["status"] == "partial" and data["finished"] is True


def test_progress_json_of_a_dead_run_says_it_failed(staff_client, connection):
    run = claim(make_run(connection))
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert staff_client.get(f"{LIST}{run.pk}/progress/").json()["status"] == "failed"


def test_run_page_of_a_running_run_has_the_live_progress_widget(staff_client, connection):
    running = claim(make_run(connection))
    SyncRun.objects.filter(pk=running.pk).update(progress={"employee": {"done": 12, "total": 48}})
    done = make_run(connection, **finished(status=RunStatus.SUCCEEDED))

    page = staff_client.get(page_of(running)).content.decode()

    assert f'data-linx-progress="{LIST}{running.pk}/progress/"' in page
    assert 'data-linx-status="running"' in page and 'data-linx-reload="page"' in page
    assert 'data-linx-entity="employee"' in page and "12 / 48" in page
    assert 'aria-valuenow="25"' in page
    assert "linx/run_progress.js" in page
    assert "data-linx-progress" not in staff_client.get(page_of(done)).content.decode()


def test_progress_script_polls_every_two_seconds_while_queued_or_running():
    from pathlib import Path

    script = (Path(__file__).parents[1] / "linx/static/linx/run_progress.js").read_text()
    assert "EVERY_MS = 2000" in script
    assert 'new Set(["queued", "running"])' in script
    assert "window.location.reload()" in script


# --- Buttons and who may press them ---------------------------------------------------


def test_operator_re_runs_failed_rows_from_the_run_page(operator, partial_run):
    client, user = operator
    page = client.get(page_of(partial_run)).content.decode()
    assert "Re-run failed rows" in page

    response = client.post(f"{LIST}{partial_run.pk}/rerun/")

    rerun = SyncRun.objects.get(rerun_of=partial_run)
    assert response.status_code == 302 and response["Location"] == page_of(rerun)
    assert rerun.started_by == user and rerun.trigger == RunTrigger.RERUN
    assert rerun.parameters["only"] == {"employee": [103], "location": [104]}
    follow = client.get(response["Location"]).content.decode()
    assert (
        f'Queued run <a href="{page_of(rerun)}">#{rerun.pk}</a>: a re-run of the failed rows of '
        f'<a href="{page_of(partial_run)}">#{partial_run.pk}</a>.'
    ) in follow


def test_re_run_is_offered_only_for_a_finished_run_with_failed_rows(operator, connection):
    client, _ = operator
    clean = make_run(connection, **finished(status=RunStatus.SUCCEEDED))
    queued = make_run(connection)
    row(queued, Outcome.FAILED, procore_id=1)

    for run in (clean, queued):
        assert b"Re-run failed rows" not in client.get(page_of(run)).content
    response = client.post(f"{LIST}{clean.pk}/rerun/", follow=True)
    assert not SyncRun.objects.filter(rerun_of__isnull=False).exists()
    assert b"Nothing to re-run" in response.content


def test_re_run_is_not_offered_when_every_failed_row_needs_a_fix_first(operator, connection):
    client, _ = operator
    fix_first = make_run(connection, **finished(status=RunStatus.PARTIAL))
    row(fix_first, Outcome.CREATED, procore_id=1)
    no_id = row(fix_first, Outcome.FAILED, procore_id=2, message="No Employee ID.")
    row(fix_first, Outcome.FAILED, "location", procore_id=3, message="Bad latitude.")
    why = (
        "every failed row needs a change in Procore or ExakTime first (each row says what); "
        "the next import retries those records once fixed."
    )

    page = client.get(page_of(fix_first)).content.decode()
    assert "Re-run failed rows</button>" not in page
    assert f"<strong>Nothing to re-run yet:</strong> {why}" in page
    # Neither the button's address nor the bulk action queues one: they say why.
    response = client.post(f"{LIST}{fix_first.pk}/rerun/", follow=True)
    assert f"Nothing to re-run yet: {why}" in response.content.decode()
    response = client.post(
        LIST, {"action": "rerun_failed_rows", "_selected_action": [fix_first.pk]}, follow=True
    )
    assert f"Nothing to re-run for #{fix_first.pk} yet: {why}" in response.content.decode()
    assert not SyncRun.objects.filter(rerun_of=fix_first).exists()
    row_page = client.get(f"/admin/linx/rowresult/{no_id.pk}/change/").content.decode()
    assert "An operator must fix this first (the message says what); the next import" in row_page

    # One row a retry may help is enough; and a run that stopped early is resumed.
    row(fix_first, Outcome.FAILED, procore_id=4, message="ExakTime 503.", retryable=True)
    assert "Re-run failed rows</button>" in client.get(page_of(fix_first)).content.decode()
    stopped = make_run(connection, **finished(status=RunStatus.FAILED, message="Stopped: SIGTERM.",
                                              failure_kind=FailureKind.STOPPED))  # fmt: skip
    row(stopped, Outcome.FAILED, procore_id=5, message="No Employee ID.")
    assert "Re-run failed rows</button>" in client.get(page_of(stopped)).content.decode()


def test_operator_cancels_a_queued_or_running_run(operator, connection):
    client, _ = operator
    queued = make_run(connection)
    running = claim(make_run(connection, RunKind.EXPORT))
    assert b">Cancel</button>" in client.get(page_of(queued)).content

    client.post(f"{LIST}{queued.pk}/cancel/")
    response = client.post(f"{LIST}{running.pk}/cancel/", follow=True)

    queued.refresh_from_db()
    running.refresh_from_db()
    assert queued.status == RunStatus.CANCELLED
    assert running.status == RunStatus.RUNNING and running.cancel_requested
    assert b"stops at its next batch" in response.content
    assert b">Cancel</button>" not in client.get(page_of(queued)).content


def test_operator_applies_a_finished_dry_run_for_real(operator, connection):
    client, user = operator
    preview = make_run(connection, dry_run=True, trigger=RunTrigger.ADMIN,
                       parameters={"entities": ["employees", "crews"]},
                       **finished(status=RunStatus.PARTIAL, counts={"created": 4, "failed": 1}))  # fmt: skip
    assert b"Apply: run it for real" in client.get(page_of(preview)).content

    response = client.post(f"{LIST}{preview.pk}/apply/")

    applied = SyncRun.objects.exclude(pk=preview.pk).get()
    assert response.status_code == 302 and response["Location"] == page_of(applied)
    assert (applied.kind, applied.dry_run, applied.status) == (RunKind.IMPORT, False, "queued")
    assert applied.trigger == RunTrigger.ADMIN and applied.started_by == user
    assert applied.parameters == preview.parameters
    assert f'as previewed by <a href="{page_of(preview)}">#{preview.pk}</a>' in (
        client.get(response["Location"]).content.decode()
    )


def test_a_preview_that_found_nothing_offers_no_apply(operator, connection):
    client, _ = operator
    message = "ExakTime holds no time records dated 2026-11-16 to 2026-11-22: nothing to export."
    preview = make_run(connection, RunKind.EXPORT, dry_run=True,
                       parameters={"from": "2026-11-16", "to": "2026-11-22"},
                       **finished(status=RunStatus.SUCCEEDED, counts={}, message=message))  # fmt: skip

    page = client.get(page_of(preview)).content.decode()
    assert message in page
    assert "It found nothing to do, so there is nothing to apply." in page
    assert "Apply: run it for real" not in page

    response = client.post(f"{LIST}{preview.pk}/apply/", follow=True)
    assert "nothing to apply" in response.content.decode()
    assert not SyncRun.objects.exclude(pk=preview.pk).exists()


def test_applying_a_preview_twice_queues_one_run_and_both_pages_link(
    operator, connection, django_capture_on_commit_callbacks
):
    client, _ = operator
    preview = make_run(connection, dry_run=True, parameters={"entities": ["employees"]},
                       **finished(status=RunStatus.SUCCEEDED, counts={"created": 4}))  # fmt: skip

    with django_capture_on_commit_callbacks() as queued:
        first = client.post(f"{LIST}{preview.pk}/apply/")
        second = client.post(f"{LIST}{preview.pk}/apply/", follow=True)  # double click, 2nd tab

    applied = SyncRun.objects.get(applied_from=preview)
    assert SyncRun.objects.exclude(pk=preview.pk).count() == 1 and len(queued) == 1
    assert first["Location"] == page_of(applied)
    assert second.redirect_chain[-1][0] == page_of(applied)
    assert f"Preview #{preview.pk} was already applied: run #{applied.pk}" in (
        second.content.decode()
    )
    # Each page links to the other; the preview no longer offers to apply it.
    applied_page = client.get(page_of(applied)).content.decode()
    assert f'<a href="{page_of(preview)}" data-linx-applied-from>preview #{preview.pk}</a>' in (
        applied_page
    )
    preview_page = client.get(page_of(preview)).content.decode()
    assert f'<a href="{page_of(applied)}" data-linx-applied>run #{applied.pk}</a>' in preview_page
    assert "Apply: run it for real" not in preview_page


def test_a_preview_is_applied_once_by_the_database_not_by_a_look_first(connection):
    from django.db import IntegrityError, transaction

    from linx.sync.queueing import apply_preview

    preview = make_run(connection, dry_run=True, **finished(status=RunStatus.SUCCEEDED))
    first, queued = apply_preview(preview)
    assert queued and first.applied_from == preview
    # Two POSTs at once both pass any look before the insert: the constraint stops one.
    with pytest.raises(IntegrityError), transaction.atomic():
        create_run(connection, RunKind.IMPORT, trigger=RunTrigger.ADMIN, applied_from=preview)
    assert apply_preview(preview) == (first, False)

    # An apply that never ran (skipped: another import held the connection) frees it.
    SyncRun.objects.filter(pk=first.pk).update(status=RunStatus.SKIPPED)
    again, queued = apply_preview(preview)
    assert queued and again.pk != first.pk


def test_an_export_preview_applies_with_its_date_range(operator, connection):
    client, _ = operator
    params = {"from": "2026-11-16", "to": "2026-11-22", "approved_only": True}
    preview = make_run(connection, RunKind.EXPORT, dry_run=True, parameters=params,
                       **finished(status=RunStatus.SUCCEEDED, counts={"created": 3}))  # fmt: skip

    client.post(f"{LIST}{preview.pk}/apply/")

    applied = SyncRun.objects.exclude(pk=preview.pk).get()
    assert (applied.kind, applied.dry_run, applied.parameters) == (RunKind.EXPORT, False, params)


@pytest.mark.parametrize(
    "fields",
    [
        {"dry_run": False, "status": RunStatus.SUCCEEDED},  # already real
        {"dry_run": True, "status": RunStatus.RUNNING},  # not finished
        {"dry_run": True, "status": RunStatus.FAILED},  # never got through the records
    ],
)
def test_only_a_finished_preview_can_be_applied(operator, connection, fields):
    client, _ = operator
    run = make_run(connection, **fields)

    assert b"Apply: run it for real" not in client.get(page_of(run)).content
    client.post(f"{LIST}{run.pk}/apply/")
    assert SyncRun.objects.count() == 1


def test_a_viewer_sees_no_buttons_and_forged_posts_are_refused(viewer, connection):
    client, _ = viewer
    preview = make_run(connection, dry_run=True, **finished(status=RunStatus.PARTIAL))
    row(preview, Outcome.FAILED, procore_id=9)
    queued = make_run(connection, RunKind.EXPORT)

    for run in (preview, queued):
        page = client.get(page_of(run))
        assert page.status_code == 200  # viewers read everything
        assert b"</button>" not in page.content.split(b'id="content-main"')[1]
    for run, action in ((preview, "rerun"), (preview, "apply"), (queued, "cancel")):
        assert client.post(f"{LIST}{run.pk}/{action}/").status_code == 403

    assert SyncRun.objects.count() == 2
    queued.refresh_from_db()
    assert queued.status == RunStatus.QUEUED and not queued.cancel_requested


def test_a_viewer_reads_the_progress_and_the_csv(viewer, partial_run):
    client, _ = viewer
    assert client.get(f"{LIST}{partial_run.pk}/progress/").status_code == 200
    assert client.get(f"{LIST}{partial_run.pk}/failed-rows.csv").status_code == 200


def test_the_bulk_actions_refuse_a_viewer(viewer, partial_run, connection):
    client, _ = viewer
    queued = make_run(connection)
    for action in ("rerun_failed_rows", "cancel_runs"):
        client.post(LIST, {"action": action, "_selected_action": [partial_run.pk, queued.pk]})
    assert SyncRun.objects.count() == 2
    assert SyncRun.objects.get(pk=queued.pk).status == RunStatus.QUEUED


def test_operator_bulk_re_runs_several_runs_at_once(operator, partial_run, connection):
    client, _ = operator
    second = make_run(connection, RunKind.EXPORT, **finished(status=RunStatus.FAILED))
    row(second, Outcome.FAILED, "time_record", exaktime_id="4711", retryable=True)

    client.post(LIST, {"action": "rerun_failed_rows",
                       "_selected_action": [partial_run.pk, second.pk]})  # fmt: skip

    assert set(
        SyncRun.objects.filter(rerun_of__isnull=False).values_list("rerun_of", flat=True)
    ) == {
        partial_run.pk,
        second.pk,
    }


def test_buttons_refuse_get_and_a_post_without_csrf(operator, partial_run):
    client, _ = operator
    assert client.get(f"{LIST}{partial_run.pk}/rerun/").status_code == 405
    strict, user = Client(enforce_csrf_checks=True), operator[1]
    strict.force_login(user)
    assert strict.post(f"{LIST}{partial_run.pk}/rerun/").status_code == 403
    assert not SyncRun.objects.filter(rerun_of=partial_run).exists()


def test_pages_of_runs_need_a_staff_login(client, partial_run):
    for url in (page_of(partial_run), f"{LIST}{partial_run.pk}/progress/",
                f"{LIST}{partial_run.pk}/failed-rows.csv"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]
    assert client.post(f"{LIST}{partial_run.pk}/rerun/").status_code == 302
    assert not SyncRun.objects.filter(rerun_of=partial_run).exists()


def test_a_run_that_does_not_exist_is_not_found(staff_client, db):
    assert staff_client.get(f"{LIST}999999/change/").status_code == 404
    assert staff_client.get(f"{LIST}999999/progress/").status_code == 404
