"""An import that reads a project's whole sub-job list keeps it for exports: as that
import read it, and with the time of that reading, whether the list changed or not."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.procore.sandbox import data as pc
from linx.models import ProjectReference, ReferenceKind
from tests.test_concurrent_writes import full_import


def kept_sub_jobs(connection) -> dict[int, tuple[list[int], object]]:
    return {
        r.project_id: (r.data["active"], r.read_at)
        for r in ProjectReference.objects.filter(connection=connection, kind=ReferenceKind.SUB_JOBS)
    }


def test_each_import_keeps_every_projects_sub_jobs_as_read_changed_or_not(
    sandbox_connection, procore_sandbox
):
    began = timezone.now()
    full_import(sandbox_connection)
    first = kept_sub_jobs(sandbox_connection)
    assert first[pc.PROJECT_PJA][0] == [pc.SUB_JOB_SJB, pc.SUB_JOB_SJC]
    assert all(read_at >= began for _, read_at in first.values())

    # A day later, one sub-job is gone from Procore; the others are as they were.
    ProjectReference.objects.update(read_at=timezone.now() - timedelta(days=1))
    procore_sandbox.remove("sub_job", pc.SUB_JOB_SJC)
    again = timezone.now()
    full_import(sandbox_connection)

    second = kept_sub_jobs(sandbox_connection)
    assert set(second) == set(first)
    assert second[pc.PROJECT_PJA][0] == [pc.SUB_JOB_SJB]
    others = {p: active for p, (active, _) in second.items() if p != pc.PROJECT_PJA}
    assert others == {p: active for p, (active, _) in first.items() if p != pc.PROJECT_PJA}
    assert len(others) >= 2
    assert all(read_at >= again for _, read_at in second.values())  # young again
