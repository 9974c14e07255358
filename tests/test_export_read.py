"""Reading an export's week on a thread of its own: the records arrive as reading them
one page after another gives them, and a failure to read stops the run's thread."""

from __future__ import annotations

from datetime import date

import pytest

from integrations.exaktime.errors import ExakTimeUnavailable
from integrations.exaktime.records import TimeRecord
from linx.sync.export_read import HANDOVER, PageReader, read_with

DAY = date(2026, 11, 18)


def record(record_id: int, employee: int = 1, revision: int = 1) -> TimeRecord:
    return TimeRecord(
        id=record_id, employee_id=employee, job_id=5, cost_code_id=None, work_date=DAY,
        time_in=None, revision=revision,
    )  # fmt: skip


class Readings:
    """An ExakTime client whose list reads as given, once per reading."""

    def __init__(self, *readings, changed=False, fail_after=None):
        self.readings = list(readings)
        self.changed = changed
        self.fail_after = fail_after

    def time_records(self, start, end, on_changed=None):
        for number, item in enumerate(self.readings.pop(0)):
            if number == self.fail_after:
                raise ExakTimeUnavailable("ExakTime did not answer (503).", status=503)
            if number == 1 and self.changed and on_changed:
                on_changed()
            yield item


def read(client, keep=lambda r: True):
    handed = []
    records = read_with(PageReader(client, DAY, DAY), keep, handed.extend)
    return records, handed


def test_a_record_shown_twice_is_kept_once_in_its_first_place_as_read_last():
    first, seam, again, last = record(1), record(2), record(2, revision=2), record(3)
    records, handed = read(Readings([first, seam, again, last]))
    assert records == [first, again, last]
    assert records[1] is again
    assert handed == [first, seam, again, last]  # every reading handed over, in order


def test_a_list_that_changed_while_read_is_read_a_second_time():
    unseen = record(9)
    records, _ = read(
        Readings([record(1), record(2)], [record(1), unseen, record(2)], changed=True)
    )
    assert [r.id for r in records] == [1, 2, 9]


def test_only_the_records_the_run_wants_are_kept_and_handed_over():
    records, handed = read(
        Readings([record(1, employee=1), record(2, employee=2)]), keep=lambda r: r.employee_id == 2
    )
    assert [r.id for r in records] == [2] and [r.id for r in handed] == [2]


def test_a_big_week_is_handed_over_in_handfuls():
    week = [record(n) for n in range(1, 2 * HANDOVER + 2)]
    sizes = []
    records = read_with(
        PageReader(Readings(week), DAY, DAY), lambda r: True, lambda b: sizes.append(len(b))
    )
    assert records == week
    assert sizes == [HANDOVER, HANDOVER, 1]


def test_an_error_reading_exaktime_is_raised_on_the_runs_thread():
    with pytest.raises(ExakTimeUnavailable, match="503"):
        read(Readings([record(1), record(2), record(3)], fail_after=2))
