"""Import (SyncLinx) against the sandboxes: every rule of SPEC.md's import section.

Each test runs real imports over loopback HTTP and asserts what ExakTime holds afterwards
and what the run's rows say.
"""

from __future__ import annotations

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.models import (
    EntityMapping,
    EntityType,
    Outcome,
    RowResult,
    RunKind,
    RunStatus,
    RunTrigger,
)
from linx.sync.execute import execute, rerun_failed
from linx.sync.mappings import ignore_procore_record
from linx.sync.runs import create_run


def run_import(connection, **parameters):
    dry_run = parameters.pop("dry_run", False)
    return execute(
        create_run(
            connection,
            RunKind.IMPORT,
            trigger=RunTrigger.COMMAND,
            dry_run=dry_run,
            parameters=parameters,
        )
    )


def row(run, procore_id, entity_type=None) -> RowResult:
    rows = run.rows.filter(procore_id=procore_id)
    if entity_type:
        rows = rows.filter(entity_type=entity_type)
    return rows.get()


def exaktime(sandbox, kind, **equal):
    return sandbox.records(kind, scope=1, **equal)


def one(sandbox, kind, **equal) -> dict:
    (record,) = exaktime(sandbox, kind, **equal)
    return record


def writes(sandbox) -> list[dict]:
    return [
        r for r in sandbox.requests() if r["method"] != "GET" and not r["path"].startswith("/_")
    ]


# --- employees ---------------------------------------------------------------------------


def test_active_employees_are_imported_by_the_seed_table(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    run = run_import(sandbox_connection, entities=["employees"])
    worker = procore_sandbox.get("user", pc.WORKER_NO_CLASSIFICATION + 1)
    employee = one(exaktime_sandbox, "employee", identifier=worker["employee_id"])
    assert employee["first_name"] == worker["first_name"]
    assert employee["last_name"] == worker["last_name"]
    assert employee["email"] == worker["email_address"]
    assert employee["address1"] == worker["address"]
    assert employee["state"] == worker["state_code"]
    assert employee["phone"] == worker["mobile_phone"]
    classification = procore_sandbox.get("work_classification", worker["work_classification_id"])
    assert employee["work_classification"] == classification["name"]  # by its name
    assert employee["is_active"] is True
    assert row(run, worker["id"]).outcome == Outcome.CREATED


def test_non_employees_and_inactive_workers_are_not_created(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    run = run_import(sandbox_connection, entities=["employees"])
    assert row(run, pc.WORKER_NOT_EMPLOYEE).outcome == Outcome.SKIPPED
    assert "Not an employee in Procore" in row(run, pc.WORKER_NOT_EMPLOYEE).message
    with_id = procore_sandbox.get("user", pc.WORKER_NOT_EMPLOYEE_WITH_ID)
    assert not exaktime(exaktime_sandbox, "employee", identifier=with_id["employee_id"])
    inactive = procore_sandbox.get("user", pc.WORKER_INACTIVE)
    assert not exaktime(exaktime_sandbox, "employee", identifier=inactive["employee_id"])


def test_a_worker_without_employee_id_fails_alone_with_the_seeds_words(
    sandbox_connection, exaktime_sandbox
):
    run = run_import(sandbox_connection, entities=["employees"])
    failed = row(run, pc.WORKER_NO_EMPLOYEE_ID)
    assert failed.outcome == Outcome.FAILED
    assert "has no Employee ID in Procore's Directory" in failed.message
    assert run.status == RunStatus.PARTIAL
    assert run.counts["created"] >= 15  # everyone else went through


def test_a_value_over_exaktimes_limit_fails_naming_field_value_and_limit(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    run = run_import(sandbox_connection, entities=["employees"])
    worker = procore_sandbox.get("user", pc.WORKER_LONG_NAME)
    failed = row(run, pc.WORKER_LONG_NAME)
    assert failed.outcome == Outcome.FAILED
    assert f"last name {worker['last_name']!r} is 54 characters long" in failed.message
    assert "at most 50" in failed.message
    # Never truncated to fit:
    assert not exaktime(exaktime_sandbox, "employee", identifier=worker["employee_id"])


def test_two_workers_with_one_employee_id_fail_naming_each_other(
    sandbox_connection, exaktime_sandbox
):
    run = run_import(sandbox_connection, entities=["employees"])
    first, second = row(run, pc.WORKER_DUPLICATE_ID_A), row(run, pc.WORKER_DUPLICATE_ID_B)
    assert first.outcome == Outcome.CREATED
    assert second.outcome == Outcome.FAILED
    assert "'1008' is also the Employee ID of" in second.message
    assert str(pc.WORKER_DUPLICATE_ID_A) in second.message
    assert len(exaktime(exaktime_sandbox, "employee", identifier="1008")) == 1


def test_first_import_links_an_existing_exaktime_employee_instead_of_duplicating(
    sandbox_connection, exaktime_sandbox
):
    run = run_import(sandbox_connection, entities=["employees"])
    linked = row(run, pc.WORKER_LINKED)
    assert linked.outcome == Outcome.LINKED
    assert linked.exaktime_id == str(et.EMPLOYEE_LINKED)
    assert "Linked to the ExakTime record that already had this ID" in linked.message
    assert len(exaktime(exaktime_sandbox, "employee", identifier="1001")) == 1
    mapping = EntityMapping.objects.get(
        entity_type=EntityType.EMPLOYEE, procore_id=pc.WORKER_LINKED
    )
    assert mapping.exaktime_id == str(et.EMPLOYEE_LINKED)


def test_a_rename_in_procore_updates_the_same_exaktime_record(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    worker_id = pc.WORKER_NO_CLASSIFICATION + 1
    run_import(sandbox_connection, entities=["employees"])
    mapping = EntityMapping.objects.get(entity_type=EntityType.EMPLOYEE, procore_id=worker_id)
    before = len(exaktime(exaktime_sandbox, "employee"))

    procore_sandbox.update("user", worker_id, last_name="Renamed-Smith")
    run = run_import(sandbox_connection, entities=["employees"])

    renamed = row(run, worker_id)
    assert renamed.outcome == Outcome.UPDATED
    assert renamed.changes["last_name"][1] == "Renamed-Smith"
    assert (
        exaktime_sandbox.get("employee", int(mapping.exaktime_id))["last_name"] == "Renamed-Smith"
    )
    assert len(exaktime(exaktime_sandbox, "employee")) == before  # no duplicate


def test_a_worker_deactivated_in_procore_is_deactivated_never_deleted(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    worker_id = pc.WORKER_NO_CLASSIFICATION + 1
    run_import(sandbox_connection, entities=["employees"])
    mapping = EntityMapping.objects.get(entity_type=EntityType.EMPLOYEE, procore_id=worker_id)

    procore_sandbox.update("user", worker_id, is_active=False)
    run = run_import(sandbox_connection, entities=["employees"], full=True)

    assert row(run, worker_id).outcome == Outcome.DEACTIVATED
    employee = exaktime_sandbox.get("employee", int(mapping.exaktime_id))
    assert employee is not None and employee["is_active"] is False
    # And it stays quietly deactivated afterwards: no new row, no write.
    exaktime_sandbox.clear_requests()
    again = run_import(sandbox_connection, entities=["employees"], full=True)
    assert not again.rows.filter(procore_id=worker_id).exists()
    assert writes(exaktime_sandbox) == []


# --- change detection and dry run --------------------------------------------------------


def test_an_unchanged_re_run_makes_zero_writes_and_zero_exaktime_requests(
    sandbox_connection, exaktime_sandbox
):
    first = run_import(sandbox_connection)
    assert first.counts["created"] > 0
    exaktime_sandbox.clear_requests()

    again = run_import(sandbox_connection, full=True)

    # Not even a read: rows that failed the first time fail again before any request.
    assert exaktime_sandbox.requests() == []
    assert again.counts.get("created", 0) == again.counts.get("updated", 0) == 0
    assert again.counts["unchanged"] == first.counts["created"] + first.counts.get("linked", 0)


def test_a_dry_run_shows_the_same_rows_and_writes_nothing(sandbox_connection, exaktime_sandbox):
    before = {
        kind: len(exaktime(exaktime_sandbox, kind))
        for kind in ("employee", "job", "cost_code", "group")
    }
    dry = run_import(sandbox_connection, dry_run=True)
    assert writes(exaktime_sandbox) == []
    assert {kind: len(exaktime(exaktime_sandbox, kind)) for kind in before} == before
    assert not EntityMapping.objects.exclude(
        entity_type__in=[EntityType.WORK_CLASSIFICATION, EntityType.TIME_TYPE]
    ).exists()
    assert dry.dry_run and dry.counts["created"] > 0
    assert row(dry, pc.WORKER_NO_EMPLOYEE_ID).outcome == Outcome.FAILED

    real = run_import(sandbox_connection)
    assert real.counts == dry.counts  # the preview said exactly what the run did


# --- locations -----------------------------------------------------------------------------


def test_projects_and_sub_jobs_become_locations_named_as_the_seed_says(
    sandbox_connection, exaktime_sandbox
):
    run = run_import(sandbox_connection, entities=["locations"])
    project = one(exaktime_sandbox, "job", identifier="200")
    assert project["name"] == "PJA"
    sub_job = one(exaktime_sandbox, "job", identifier="200.005")
    assert sub_job["name"] == "PJA.SJB"
    assert sub_job["parent_job_id"] == project["id"]
    assert row(run, pc.SUB_JOB_SJB, EntityType.SUB_JOB).outcome == Outcome.CREATED
    # An inactive sub-job is not created.
    assert not exaktime(exaktime_sandbox, "job", identifier="200.099")


def test_projects_become_location_groups_and_categories_holding_their_sub_jobs(
    sandbox_connection, exaktime_sandbox
):
    run_import(sandbox_connection, entities=["locations"])
    sub_jobs = {one(exaktime_sandbox, "job", identifier=i)["id"] for i in ("200.005", "200.010")}
    group = one(exaktime_sandbox, "group", name="PJA", group_type="location")
    assert set(group["member_ids"]) == sub_jobs
    category = one(exaktime_sandbox, "location_category", name="PJA")
    for location_id in sub_jobs:
        assert exaktime_sandbox.get("job", location_id)["category_id"] == category["id"]


def test_sub_jobs_are_left_alone_when_the_setting_is_off(sandbox_connection, exaktime_sandbox):
    sandbox_connection.import_sub_jobs = False
    sandbox_connection.save()
    run_import(sandbox_connection, entities=["locations"])
    assert one(exaktime_sandbox, "job", identifier="200")
    assert not exaktime(exaktime_sandbox, "job", identifier="200.005")


def test_bad_projects_fail_on_their_own_rows(sandbox_connection, exaktime_sandbox):
    run = run_import(sandbox_connection, entities=["locations"])
    latitude = row(run, pc.PROJECT_BAD_LATITUDE, EntityType.LOCATION)
    assert latitude.outcome == Outcome.FAILED
    assert "latitude 123.4 is outside -90 to 90" in latitude.message
    long_name = row(run, pc.PROJECT_LONG_NAME, EntityType.LOCATION)
    assert "at most 100" in long_name.message
    duplicate = row(run, pc.PROJECT_DUPLICATE_NUMBER, EntityType.LOCATION)
    assert "'230' is also the project number of" in duplicate.message
    assert row(run, pc.PROJECT_HARBOR, EntityType.LOCATION).outcome == Outcome.CREATED


# --- cost codes --------------------------------------------------------------------------


def test_cost_codes_under_divisions_are_imported_and_divisions_are_not(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    run = run_import(sandbox_connection, entities=["cost_codes"])
    concrete_labor = procore_sandbox.get("standard_cost_code", pc.STANDARD_CONCRETE_LABOR)
    code = one(exaktime_sandbox, "cost_code", identifier=concrete_labor["code"])
    assert code["name"] == concrete_labor["name"]
    division = procore_sandbox.get("standard_cost_code", pc.DIVISION_CONCRETE)
    assert not exaktime(exaktime_sandbox, "cost_code", identifier=division["code"])
    assert not run.rows.filter(procore_id=pc.DIVISION_CONCRETE).exists()
    # An inactive code that was never imported is not created.
    inactive = procore_sandbox.get("standard_cost_code", pc.STANDARD_INACTIVE)
    assert not exaktime(exaktime_sandbox, "cost_code", identifier=inactive["code"])


def test_cost_codes_not_enabled_end_that_part_with_the_steps_that_fix_it(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    procore_sandbox.update("company", pc.COMPANY_ID, features={"cost_codes": False})
    run = run_import(sandbox_connection, entities=["employees", "cost_codes"])
    (failed,) = run.rows.filter(entity_type=EntityType.COST_CODE, outcome=Outcome.FAILED)
    assert "You have insufficient rights to access the CostCode (PM209500) form" in failed.message
    assert "Enable/Disable Features" in failed.message and "mark Cost Codes" in failed.message
    assert run.rows.filter(entity_type=EntityType.EMPLOYEE, outcome=Outcome.CREATED).exists()
    assert run.status == RunStatus.PARTIAL


def test_an_app_not_installed_stops_the_run_with_what_to_do(sandbox_connection, exaktime_sandbox):
    sandbox_connection.procore_company_id = pc.UNCONNECTED_COMPANY_ID
    sandbox_connection.save()
    run = run_import(sandbox_connection, entities=["employees"])
    assert run.status == RunStatus.FAILED
    assert "App is not connected to this company" in run.message
    assert "App Management" in run.message
    assert writes(exaktime_sandbox) == []


# --- crews -----------------------------------------------------------------------------


def test_crews_of_the_same_name_become_one_group_with_all_their_employees(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    run_import(sandbox_connection, entities=["employees", "crews"])
    crews = [c for c in procore_sandbox.records("crew") if c["name"] == "Concrete Crew"]
    assert len(crews) >= 2
    group = one(exaktime_sandbox, "group", name="Concrete Crew", group_type="employee")
    mapped = dict(
        # Linked employees only: one whose import failed is listed with no ExakTime side.
        EntityMapping.objects.filter(
            entity_type=EntityType.EMPLOYEE, exaktime_id__isnull=False
        ).values_list("procore_id", "exaktime_id")
    )
    expected = {
        int(mapped[member["id"]])
        for crew in crews
        for member in crew["employees"]
        if member["id"] in mapped
    }
    assert set(group["member_ids"]) == expected
    assert expected  # the crews hold imported employees


def test_crews_are_not_imported_when_the_setting_is_off(sandbox_connection, exaktime_sandbox):
    sandbox_connection.crews_as_groups = False
    sandbox_connection.save()
    run_import(sandbox_connection, entities=["employees", "crews"])
    assert not exaktime(exaktime_sandbox, "group", group_type="employee")


# --- ignored records and re-runs ---------------------------------------------------------


def test_an_ignored_procore_record_is_skipped_by_every_later_import(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    worker_id = pc.WORKER_NO_CLASSIFICATION + 1
    run_import(sandbox_connection, entities=["employees"])
    from linx.models import User

    operator = User.objects.create_user("ops@example.com", "x" * 20)
    EntityMapping.objects.filter(procore_id=worker_id).update(ignored=True, ignored_by=operator)
    procore_sandbox.update("user", worker_id, first_name="Changed")
    run = run_import(sandbox_connection, entities=["employees"])
    skipped = row(run, worker_id)
    assert skipped.outcome == Outcome.SKIPPED
    assert skipped.message.startswith("skipped: ignored by ops@example.com")
    mapping = EntityMapping.objects.get(procore_id=worker_id)
    assert exaktime_sandbox.get("employee", int(mapping.exaktime_id))["first_name"] != "Changed"


def test_re_running_failed_rows_re_fetches_and_processes_only_those(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    first = run_import(sandbox_connection, entities=["employees", "locations"])
    procore_sandbox.update("user", pc.WORKER_NO_EMPLOYEE_ID, employee_id="7777")
    procore_sandbox.update(
        "user", pc.WORKER_NO_CLASSIFICATION + 1, first_name="Not-Part-Of-The-Rerun"
    )

    rerun = execute(rerun_failed(first, trigger=RunTrigger.RERUN))

    assert rerun.rerun_of == first
    assert {r.procore_id for r in rerun.rows.all()} <= {
        r.procore_id for r in first.rows.filter(outcome=Outcome.FAILED)
    }
    assert row(rerun, pc.WORKER_NO_EMPLOYEE_ID).outcome == Outcome.CREATED
    assert one(exaktime_sandbox, "employee", identifier="7777")
    assert not exaktime(exaktime_sandbox, "employee", first_name="Not-Part-Of-The-Rerun")
    still = row(rerun, pc.PROJECT_BAD_LATITUDE, EntityType.LOCATION)
    assert still.outcome == Outcome.FAILED


def test_two_cost_codes_with_one_name_fail_before_exaktime_refuses(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    run = run_import(sandbox_connection, entities=["cost_codes"])
    first = row(run, pc.STANDARD_DUPLICATE_NAME_A)
    second = row(run, pc.STANDARD_DUPLICATE_NAME_B)
    assert first.outcome == Outcome.CREATED
    assert second.outcome == Outcome.FAILED
    assert "cost code name 'Labor' is also the cost code name of" in second.message
    assert len(exaktime(exaktime_sandbox, "cost_code", name="Labor")) == 1


def test_sub_jobs_not_enabled_fail_that_part_with_the_steps(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    procore_sandbox.update("company", pc.COMPANY_ID, features={"sub_jobs": False})
    run = run_import(sandbox_connection, entities=["locations"])
    (failure,) = run.rows.filter(entity_type=EntityType.SUB_JOB, outcome=Outcome.FAILED)
    assert "Work Breakdown Structure" in failure.message  # once, not once per project
    assert one(exaktime_sandbox, "job", identifier="200")  # projects still imported


# --- incremental imports -----------------------------------------------------------------


def procore_reads(sandbox, path_end: str) -> list[dict]:
    return [r for r in sandbox.requests() if r["method"] == "GET" and r["path"].endswith(path_end)]


def set_failing_records_aside(connection, run, staff) -> None:
    """An operator ignores every record that failed in ``run``: nothing is left failing."""
    for failed in run.rows.filter(outcome=Outcome.FAILED):
        ignore_procore_record(connection, failed.entity_type, failed.procore_id, acting_user=staff)


def test_a_second_import_reads_only_what_changed_in_procore(
    sandbox_connection, exaktime_sandbox, procore_sandbox, staff_user
):
    first = run_import(sandbox_connection, entities=["employees", "locations"])
    set_failing_records_aside(sandbox_connection, first, staff_user)
    worker_id = pc.WORKER_NO_CLASSIFICATION + 1
    procore_sandbox.update("user", worker_id, first_name="Changed")
    procore_sandbox.clear_requests()

    again = run_import(sandbox_connection, entities=["employees", "locations"])

    (users,) = procore_reads(procore_sandbox, "/users")
    assert "filters[updated_at]" in users["query"]
    assert [r.procore_id for r in again.rows.filter(entity_type=EntityType.EMPLOYEE)] == [worker_id]
    assert row(again, worker_id).outcome == Outcome.UPDATED


def exaktime_record(sandbox, kind: str, identifier: str) -> dict:
    return one(sandbox, kind, identifier=identifier)


def test_a_plain_import_deactivates_a_worker_made_inactive_reading_the_inactive_list_whole(
    sandbox_connection, exaktime_sandbox, procore_sandbox, staff_user
):
    worker_id = pc.WORKER_NO_CLASSIFICATION + 1
    worker = procore_sandbox.get("user", worker_id)
    first = run_import(sandbox_connection, entities=["employees"])
    # Failing workers would make it read the whole list to retry them (tested apart).
    set_failing_records_aside(sandbox_connection, first, staff_user)
    procore_sandbox.update("user", worker_id, is_active=False)  # gone from the active list
    procore_sandbox.clear_requests()

    quick = run_import(sandbox_connection, entities=["employees"])

    assert row(quick, worker_id).outcome == Outcome.DEACTIVATED
    assert (
        exaktime_record(exaktime_sandbox, "employee", worker["employee_id"])["is_active"] is False
    )
    (users,) = procore_reads(procore_sandbox, "/users")
    assert "filters[updated_at]" in users["query"]  # still a changed-since read
    (inactive,) = procore_reads(procore_sandbox, "/users/inactive")  # one list, whole
    assert "filters[updated_at]" not in inactive["query"]
    assert quick.counts == {"deactivated": 1}  # and nothing else was touched

    again = run_import(sandbox_connection, entities=["employees"])  # already done: no row
    assert not again.rows.filter(procore_id=worker_id).exists()


def test_a_plain_import_deactivates_a_worker_who_is_no_longer_an_employee(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    worker_id = pc.WORKER_NO_CLASSIFICATION + 2
    worker = procore_sandbox.get("user", worker_id)
    run_import(sandbox_connection, entities=["employees"])
    procore_sandbox.update("user", worker_id, is_employee=False)

    quick = run_import(sandbox_connection, entities=["employees"])

    outcomes = set(quick.rows.filter(procore_id=worker_id).values_list("outcome", flat=True))
    assert outcomes == {Outcome.SKIPPED, Outcome.DEACTIVATED}
    assert (
        exaktime_record(exaktime_sandbox, "employee", worker["employee_id"])["is_active"] is False
    )


def test_a_plain_import_deactivates_a_project_made_inactive_with_its_sub_jobs(
    sandbox_connection, exaktime_sandbox, procore_sandbox, staff_user
):
    first = run_import(sandbox_connection, entities=["locations"])
    set_failing_records_aside(sandbox_connection, first, staff_user)
    procore_sandbox.update("project", pc.PROJECT_PJA, active=False)
    procore_sandbox.clear_requests()

    quick = run_import(sandbox_connection, entities=["locations"])

    (projects,) = procore_reads(procore_sandbox, "/rest/v1.1/projects")
    assert projects["query"]["filters[by_status]"] == ["All"]
    assert "filters[updated_at]" in projects["query"]
    assert row(quick, pc.PROJECT_PJA, EntityType.LOCATION).outcome == Outcome.DEACTIVATED
    for sub_job in (pc.SUB_JOB_SJB, pc.SUB_JOB_SJC):
        assert row(quick, sub_job, EntityType.SUB_JOB).outcome == Outcome.DEACTIVATED
    for identifier in ("200", "200.005", "200.010"):
        assert exaktime_record(exaktime_sandbox, "job", identifier)["is_active"] is False
    # Only the changed project was read: no other project's rows, no other sub-jobs read.
    assert set(quick.rows.values_list("procore_id", flat=True)) == {
        pc.PROJECT_PJA,
        pc.SUB_JOB_SJB,
        pc.SUB_JOB_SJC,
    }
    assert not procore_reads(procore_sandbox, "/sub_jobs")


def test_a_plain_import_refreshes_a_changed_projects_sub_jobs_and_crews(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    run_import(sandbox_connection, entities=["employees", "locations", "crews"])
    procore_sandbox.update("project", pc.PROJECT_PJA, name="PJA North")
    procore_sandbox.update("sub_job", pc.SUB_JOB_SJB, name="SJB Annex")
    procore_sandbox.remove("sub_job", pc.SUB_JOB_SJC)
    procore_sandbox.update("project", pc.PROJECT_ELM, name="Elm Street Lofts")
    crew = procore_sandbox.get("crew", pc.CREW_FRAMING)
    procore_sandbox.update("crew", pc.CREW_FRAMING, employees=crew["employees"][:1])

    quick = run_import(sandbox_connection, entities=["employees", "locations", "crews"])

    assert row(quick, pc.PROJECT_PJA, EntityType.LOCATION).outcome == Outcome.UPDATED
    assert row(quick, pc.SUB_JOB_SJB, EntityType.SUB_JOB).outcome == Outcome.UPDATED
    assert exaktime_record(exaktime_sandbox, "job", "200.005")["name"].endswith("SJB Annex")
    assert row(quick, pc.SUB_JOB_SJC, EntityType.SUB_JOB).outcome == Outcome.DEACTIVATED
    assert exaktime_record(exaktime_sandbox, "job", "200.010")["is_active"] is False
    group = one(exaktime_sandbox, "group", name="Framing Crew", group_type="employee")
    (kept,) = EntityMapping.objects.filter(
        entity_type=EntityType.EMPLOYEE, procore_id=crew["employees"][0]["id"]
    )
    assert group["member_ids"] == [int(kept.exaktime_id)]
    assert row(quick, pc.CREW_FRAMING, EntityType.CREW).outcome == Outcome.UPDATED


def test_a_sub_job_deleted_from_an_unchanged_project_waits_for_the_full_pass(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    from datetime import timedelta

    run_import(sandbox_connection, entities=["locations"])
    procore_sandbox.remove("sub_job", pc.SUB_JOB_SJC)  # the project itself does not change

    quick = run_import(sandbox_connection, entities=["locations"])
    assert not quick.rows.filter(procore_id=pc.SUB_JOB_SJC).exists()
    assert exaktime_record(exaktime_sandbox, "job", "200.010")["is_active"] is True

    full = run_import(sandbox_connection, entities=["locations"], full=True)
    assert row(full, pc.SUB_JOB_SJC, EntityType.SUB_JOB).outcome == Outcome.DEACTIVATED
    assert exaktime_record(exaktime_sandbox, "job", "200.010")["is_active"] is False

    # The scheduled full pass does the same when it falls due.
    procore_sandbox.remove("sub_job", pc.SUB_JOB_SJB)
    sandbox_connection.refresh_from_db()
    sandbox_connection.full_import_every = timedelta(0)  # the full pass is due
    sandbox_connection.save()
    procore_sandbox.clear_requests()
    due = run_import(sandbox_connection, entities=["locations"])
    assert row(due, pc.SUB_JOB_SJB, EntityType.SUB_JOB).outcome == Outcome.DEACTIVATED
    (projects,) = procore_reads(procore_sandbox, "/rest/v1.1/projects")
    assert "filters[updated_at]" not in projects["query"]


def test_the_bookmark_moves_only_when_a_part_completes_and_never_past_the_runs_start(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    from linx.models import Connection

    first = run_import(sandbox_connection, entities=["employees", "cost_codes"])
    marks = Connection.objects.get(pk=sandbox_connection.pk).import_bookmarks
    assert marks["employees"]["since"] == first.started_at.isoformat()

    procore_sandbox.faults.set("status", status=500, count=None, path="/rest/v1.3/companies")
    failed = run_import(sandbox_connection, entities=["employees"])
    procore_sandbox.faults.clear()
    assert failed.status == RunStatus.FAILED
    assert Connection.objects.get(pk=sandbox_connection.pk).import_bookmarks == marks


def test_an_ignored_worker_is_skipped_even_when_it_would_fail(sandbox_connection, exaktime_sandbox):
    from linx.models import Connection

    EntityMapping.objects.create(
        connection=Connection.objects.get(pk=sandbox_connection.pk),
        entity_type=EntityType.EMPLOYEE,
        procore_id=pc.WORKER_NO_EMPLOYEE_ID,
        ignored=True,
    )
    run = run_import(sandbox_connection, entities=["employees"])
    skipped = row(run, pc.WORKER_NO_EMPLOYEE_ID)
    assert skipped.outcome == Outcome.SKIPPED
    assert "ignored by an operator" in skipped.message


def test_a_re_run_records_rows_only_for_the_failed_records(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    first = run_import(sandbox_connection)  # every entity, crews as groups
    failed = {(r.entity_type, r.procore_id) for r in first.rows.filter(outcome=Outcome.FAILED)}
    assert (EntityType.EMPLOYEE, pc.WORKER_NO_EMPLOYEE_ID) in failed
    procore_sandbox.update("user", pc.WORKER_NO_EMPLOYEE_ID, employee_id="7777")

    rerun = execute(rerun_failed(first, trigger=RunTrigger.RERUN))

    assert {(r.entity_type, r.procore_id) for r in rerun.rows.all()} <= failed
    assert row(rerun, pc.WORKER_NO_EMPLOYEE_ID).outcome == Outcome.CREATED
    assert EntityType.CREW not in (rerun.progress or {})


def test_a_re_run_of_a_duplicate_id_still_names_the_other_record(
    sandbox_connection, exaktime_sandbox
):
    first = run_import(sandbox_connection, entities=["employees"])
    rerun = execute(rerun_failed(first, trigger=RunTrigger.RERUN))
    again = row(rerun, pc.WORKER_DUPLICATE_ID_B)
    assert again.outcome == Outcome.FAILED
    assert again.message == row(first, pc.WORKER_DUPLICATE_ID_B).message
    assert "'1008' is also the Employee ID of" in again.message
    assert str(pc.WORKER_DUPLICATE_ID_A) in again.message
    assert not again.retryable


def test_a_re_run_of_a_duplicate_cost_code_name_keeps_its_message(
    sandbox_connection, exaktime_sandbox
):
    first = run_import(sandbox_connection, entities=["cost_codes"])
    rerun = execute(rerun_failed(first, trigger=RunTrigger.RERUN))
    again = row(rerun, pc.STANDARD_DUPLICATE_NAME_B)
    assert again.outcome == Outcome.FAILED
    assert "cost code name 'Labor' is also the cost code name of" in again.message
    assert "ExakTime says" not in again.message
    assert again.message == row(first, pc.STANDARD_DUPLICATE_NAME_B).message
    assert len(exaktime(exaktime_sandbox, "cost_code", name="Labor")) == 1
