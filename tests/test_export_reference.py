"""Procore's project lists (cost codes, sub-jobs) kept per connection, not re-read.

Procore meters every request, so an export reads a project's lists only when a new or
changed record needs them and Linx's copy is older than LINX_REFERENCE_MAX_AGE_MINUTES;
a record exported at its current revision needs none; a 422 naming a cost code or
sub-job re-reads the project's lists once and checks the record again.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from django.test import override_settings
from django.utils import timezone

from integrations.procore.sandbox import data as pc
from linx.models import EntityMapping, EntityType, Outcome, ProjectReference
from linx.sync import read_ahead
from tests import test_export
from tests.test_export import entries, exaktime_id, export

# The export tests' fixtures: the mappings an export stands on, and punching a record.
linked = test_export.linked
punch = test_export.punch


def list_reads(procore_sandbox) -> dict[str, int]:
    """GETs of project cost code and sub-job lists since the log was cleared."""
    reads = {"cost_codes": 0, "sub_jobs": 0}
    for request in procore_sandbox.requests():
        if request["method"] != "GET":
            continue
        for name in reads:
            if (
                request["path"].endswith(f"/{name}")
                and "project_id" in str(request["query"]) + (request["path"])
            ):
                reads[name] += 1
    return reads


def age_kept_lists(hours: float) -> None:
    ProjectReference.objects.update(read_at=timezone.now() - timedelta(hours=hours))


def concrete_labor_on_pja(procore_sandbox) -> dict:
    (code,) = [
        c
        for c in procore_sandbox.records("cost_code", scope=pc.PROJECT_PJA)
        if c["standard_cost_code_id"] == pc.STANDARD_CONCRETE_LABOR and not c["deleted_at"]
    ]
    return code


def test_a_no_change_export_reads_no_project_list_however_old(punch, linked, procore_sandbox):
    punch()
    punch(work_date="2026-11-17", job_id=exaktime_id(EntityType.SUB_JOB, pc.SUB_JOB_SJB))
    assert export(linked).counts == {"created": 2}
    age_kept_lists(hours=100)  # far past the freshness limit: still not needed
    procore_sandbox.clear_requests()

    again = export(linked)

    assert again.counts == {"unchanged": 2}
    assert list_reads(procore_sandbox) == {"cost_codes": 0, "sub_jobs": 0}


def test_new_records_reuse_fresh_lists_and_read_stale_ones_once(punch, linked, procore_sandbox):
    punch()
    export(linked)
    punch(work_date="2026-11-17")
    procore_sandbox.clear_requests()
    assert export(linked).counts == {"unchanged": 1, "created": 1}
    assert list_reads(procore_sandbox) == {"cost_codes": 0, "sub_jobs": 0}  # fresh: reused

    age_kept_lists(hours=7)  # older than the default 6 hours
    punch(work_date="2026-11-19")
    punch(work_date="2026-11-20")
    procore_sandbox.clear_requests()
    assert export(linked).counts == {"unchanged": 2, "created": 2}
    assert list_reads(procore_sandbox) == {"cost_codes": 1, "sub_jobs": 0}  # once for PJA


def test_the_freshness_limit_is_a_setting(punch, linked, procore_sandbox):
    punch()
    export(linked)
    punch(work_date="2026-11-17")
    procore_sandbox.clear_requests()
    with override_settings(LINX_REFERENCE_MAX_AGE_MINUTES=0):
        export(linked)
    assert list_reads(procore_sandbox)["cost_codes"] == 1


def test_a_changed_mapping_is_resolved_again_for_a_record_at_the_same_revision(
    punch, linked, procore_sandbox
):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    pja = linked.mappings.get(entity_type=EntityType.LOCATION, procore_id=pc.PROJECT_PJA)
    sjb = linked.mappings.get(entity_type=EntityType.SUB_JOB, procore_id=pc.SUB_JOB_SJB)
    # The location the record is at is now linked to PJA's sub-job SJB instead.
    sjb.exaktime_id, pja.exaktime_id = pja.exaktime_id, None
    pja.save()
    sjb.save()

    run = export(linked)

    assert run.counts == {"updated": 1}, run.rows.get().message
    (entry,) = entries(procore_sandbox, origin_id=f"{record['id']}-regular")
    assert entry["sub_job_id"] == pc.SUB_JOB_SJB


def test_a_422_naming_a_cost_code_rereads_the_lists_once_and_sends_the_right_code(
    punch, linked, procore_sandbox
):
    punch(ot1_hours=0, ot2_hours=0)
    export(linked)  # PJA's codes kept
    new = replace_concrete_labor_on_pja(procore_sandbox)
    record = punch(work_date="2026-11-17", ot1_hours=0, ot2_hours=0)
    procore_sandbox.clear_requests()

    run = export(linked)

    assert run.counts == {"unchanged": 1, "created": 1}
    (entry,) = entries(procore_sandbox, origin_id=f"{record['id']}-regular")
    assert entry["cost_code_id"] == new["id"]
    assert list_reads(procore_sandbox) == {"cost_codes": 1, "sub_jobs": 1}


def replace_concrete_labor_on_pja(procore_sandbox) -> dict:
    """PJA's concrete labor code deleted and set up again: the same code, a new id."""
    old = concrete_labor_on_pja(procore_sandbox)
    procore_sandbox.update("cost_code", old["id"], deleted_at="2026-11-18T00:00:00Z")
    return procore_sandbox.add(
        "cost_code", {**{k: old[k] for k in ("code", "full_code", "name", "parent")},
                      "standard_cost_code_id": pc.STANDARD_CONCRETE_LABOR, "deleted_at": None},
        scope=pc.PROJECT_PJA,
    )  # fmt: skip


def test_a_422_naming_a_cost_code_on_an_update_rereads_and_patches_the_right_code(
    punch, linked, procore_sandbox, exaktime_sandbox
):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    new = replace_concrete_labor_on_pja(procore_sandbox)
    exaktime_sandbox.update("time_record", record["id"], regular_hours=7.5, revision=2)

    run = export(linked)

    assert run.counts == {"updated": 1}, run.rows.get().message
    (entry,) = entries(procore_sandbox, origin_id=f"{record['id']}-regular")
    assert entry["cost_code_id"] == new["id"]
    assert str(entry["hours"]) in ("7.5", "7.50")


def test_a_422_for_a_code_gone_from_the_project_fails_the_row_naming_the_fix(
    punch, linked, procore_sandbox
):
    punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    code = concrete_labor_on_pja(procore_sandbox)
    procore_sandbox.update("cost_code", code["id"], deleted_at="2026-11-18T00:00:00Z")
    record = punch(work_date="2026-11-17", ot1_hours=0, ot2_hours=0)
    procore_sandbox.clear_requests()

    run = export(linked)

    row = run.rows.get(exaktime_id=str(record["id"]))
    assert row.outcome == Outcome.FAILED
    assert "is not set up on Procore project 200 'PJA'" in row.message
    assert "budget codes" in row.message
    assert not entries(procore_sandbox, origin_id=f"{record['id']}-regular")
    assert list_reads(procore_sandbox)["cost_codes"] == 1


def test_a_code_not_in_the_kept_list_is_looked_for_in_a_fresh_reading_before_failing(
    punch, linked, procore_sandbox
):
    punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    procore_sandbox.clear_requests()
    record = punch(
        cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_ELECTRICAL_LABOR),
        work_date="2026-11-17",
    )
    row = export(linked).rows.get(exaktime_id=str(record["id"]))
    assert row.outcome == Outcome.FAILED  # the pre-send check stays: nothing was sent
    assert "is not set up on Procore project 200 'PJA'" in row.message
    assert not [r for r in procore_sandbox.requests() if r["method"] == "POST"]
    assert list_reads(procore_sandbox)["cost_codes"] == 1


# --- a first export's lists, read a few at a time ---------------------------------------

FOUR_PROJECTS = (pc.PROJECT_PJA, pc.PROJECT_RIVERSIDE, pc.PROJECT_HARBOR, pc.PROJECT_ELM)


def punch_on_each(punch, procore_sandbox, projects) -> dict[int, int]:
    """A record on each project, with a linked cost code set up there; {record id: the
    project's own code the entry must carry}."""
    linked_codes = {
        m.procore_id: int(m.exaktime_id)
        for m in EntityMapping.objects.filter(entity_type=EntityType.COST_CODE)
        if m.exaktime_id
    }
    wanted = {}
    for day, project in enumerate(projects, start=16):
        code = next(
            c
            for c in procore_sandbox.records("cost_code", scope=project)
            if not c["deleted_at"] and c.get("standard_cost_code_id") in linked_codes
        )
        record = punch(
            work_date=f"2026-11-{day}",
            job_id=exaktime_id(EntityType.LOCATION, project),
            cost_code_id=linked_codes[code["standard_cost_code_id"]],
            ot1_hours=0,
            ot2_hours=0,
        )
        wanted[record["id"]] = code["id"]
    return wanted


def cost_code_lists_in_flight(procore_sandbox, monkeypatch) -> dict[str, int]:
    """The peak of project cost code lists the sandbox answers at the same moment."""
    seen = {"now": 0, "peak": 0}
    lock = threading.Lock()
    dispatch = procore_sandbox.dispatch

    def counting(http):
        listed = http.command == "GET" and http.path.split("?")[0].endswith("/cost_codes")
        with lock:
            seen["now"] += listed
            seen["peak"] = max(seen["peak"], seen["now"])
        try:
            dispatch(http)
        finally:
            with lock:
                seen["now"] -= listed

    monkeypatch.setattr(procore_sandbox, "dispatch", counting)
    return seen


def test_a_first_export_reads_its_projects_cost_codes_side_by_side_each_once(
    punch, linked, procore_sandbox, settings, monkeypatch
):
    wanted = punch_on_each(punch, procore_sandbox, FOUR_PROJECTS)
    procore_sandbox.latency = 0.02  # answers take a while, so reads overlap
    in_flight = cost_code_lists_in_flight(procore_sandbox, monkeypatch)
    settings.LINX_PROCORE_READS_AT_ONCE = 4
    procore_sandbox.clear_requests()

    run = export(linked)

    assert run.counts == {"created": 4}
    assert list_reads(procore_sandbox) == {"cost_codes": 4, "sub_jobs": 0}
    assert 2 <= in_flight["peak"] <= 4
    made = {e["origin_id"]: e["cost_code_id"] for e in entries(procore_sandbox)}
    assert made == {f"{record}-regular": code for record, code in wanted.items()}
    assert ProjectReference.objects.filter(kind="cost_codes").count() == 4


def test_cost_code_lists_answered_quickly_are_read_two_at_a_time(
    punch, linked, procore_sandbox, settings, monkeypatch
):
    # Quick answers come no sooner side by side: one list is used while the next is
    # read (here every answer counts as quick; over loopback they are).
    wanted = punch_on_each(punch, procore_sandbox, FOUR_PROJECTS)
    monkeypatch.setattr(read_ahead, "QUICK_ANSWER_SECONDS", 60.0)
    procore_sandbox.latency = 0.02  # slow enough that four would overlap
    in_flight = cost_code_lists_in_flight(procore_sandbox, monkeypatch)
    settings.LINX_PROCORE_READS_AT_ONCE = 4

    run = export(linked)

    assert run.counts == {"created": 4}
    assert in_flight["peak"] == 2
    made = {e["origin_id"]: e["cost_code_id"] for e in entries(procore_sandbox)}
    assert made == {f"{record}-regular": code for record, code in wanted.items()}


def test_a_list_refused_while_read_side_by_side_fails_only_its_records_and_is_read_once(
    punch, linked, procore_sandbox, settings
):
    wanted = punch_on_each(punch, procore_sandbox, FOUR_PROJECTS)
    settings.LINX_PROCORE_READS_AT_ONCE = 4
    procore_sandbox.faults.set(
        "status", status=403, count=1, method="GET", path="/rest/v1.0/cost_codes"
    )
    procore_sandbox.clear_requests()

    run = export(linked)

    failed = run.rows.filter(outcome=Outcome.FAILED)
    assert run.counts == {"created": 3, "failed": 1}
    assert "Linx could not read the cost codes of project" in failed.get().message
    # One reading per project; the refused one is not read again for the same record.
    assert list_reads(procore_sandbox)["cost_codes"] == 4
    made = {e["origin_id"] for e in entries(procore_sandbox)}
    assert made == {f"{r}-regular" for r in wanted if str(r) != failed.get().exaktime_id}
