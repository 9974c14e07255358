"""Every failure message that names something missing leads to the screen that fixes it:
an unlinked record to its place in Mappings, a cost code a project lacks to the codes set
up on that project; on a run's rows and on the open failures list alike."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from linx.models import (
    CustomField,
    EntityMapping,
    EntityType,
    Outcome,
    ProjectReference,
    ReferenceKind,
    RowResult,
    RunKind,
    RunStatus,
)
from linx.sync.failures import track
from tests.test_console_runs import finished, make_run, page_of, staff_in

FAILURES = "/admin/linx/openfailure/"
PROJECT = 7_000_000_001
GENERAL, CONCRETE, UNNAMED = 8_200_000_001, 8_200_000_002, 8_200_000_003  # PJA's own codes
UNLINKED_MESSAGE = "ExakTime employee 9001 Taylor Brooks (id 100002) is not linked"
MISSING_CODE_MESSAGE = "Cost code 26-26010 is not set up on Procore project 200 'PJA'"


def codes_page(connection, project=PROJECT) -> str:
    return f"/admin/linx/projectreference/codes/{connection.pk}/{project}/"


@pytest.fixture
def pja(connection):
    """Project PJA with two company cost codes imported and its own code list kept."""
    EntityMapping.objects.create(
        connection=connection, entity_type=EntityType.LOCATION, procore_id=PROJECT, name="200 PJA"
    )
    for standard, exaktime, name, full_code in [
        (501, "77", "01-100 General Conditions", "01-100"),
        (502, None, "03-3010 Concrete Labor", "03-3010"),
    ]:
        EntityMapping.objects.create(
            connection=connection, entity_type=EntityType.COST_CODE, procore_id=standard,
            exaktime_id=exaktime, name=name, data=EntityMapping.data_of(full_code=full_code),
        )  # fmt: skip
    return ProjectReference.objects.create(
        connection=connection,
        project_id=PROJECT,
        kind=ReferenceKind.COST_CODES,
        read_at=timezone.now() - timedelta(minutes=90),
        data={
            "by_standard": {"501": GENERAL},
            # 03-3010 is found by its full code only; "05" is a division Linx never imports.
            "by_full_code": {"01-100": GENERAL, "03-3010": CONCRETE, "05": UNNAMED},
        },
    )


#: What each failed row of `failed_export` says, and what it names as missing.
FAILED_ROWS = [
    ("Taylor Brooks, 2026-11-18", UNLINKED_MESSAGE,
     {"entity_type": "employee", "exaktime_id": "100002"}),
    ("Alex Rivera, 2026-11-18", MISSING_CODE_MESSAGE,
     {"entity_type": "cost_code", "project": PROJECT}),
    ("Sam Lee, 2026-11-18", "Procore refused the entry: hours > 24", None),
]  # fmt: skip


def failed_export(connection, first_record=1_000_001):
    """A real export whose rows failed: one for a missing link, one for a missing project
    code, one for something no page can fix; their open failures kept as runs keep them."""
    run = make_run(connection, RunKind.EXPORT, **finished(status=RunStatus.PARTIAL))
    rows = []
    for n, (name, message, needs) in enumerate(FAILED_ROWS):
        rows.append(RowResult.objects.create(
            run=run, outcome=Outcome.FAILED, entity_type=EntityType.TIME_RECORD,
            exaktime_id=str(first_record + n), name=name, message=message, needs=needs,
        ))  # fmt: skip
    track(run, rows)
    return run


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)]


def links_on(html: str) -> dict[str, str]:
    """Each fix link on a page: its text (the message) → where it leads."""
    links = {}
    for part in html.split('class="linx-fix-link"')[:-1]:
        href = part.rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        text = html[html.index(part) + len(part) :].split(">", 1)[1].split("</a>")[0]
        links[text.replace("&#x27;", "'")] = href
    return links


def test_open_failures_lead_to_the_place_that_fixes_them(staff_client, connection, pja):
    failed_export(connection)

    html = staff_client.get(FAILURES, {"connection__id__exact": connection.pk}).content.decode()
    links = links_on(html)

    unlinked = urlparse(links[UNLINKED_MESSAGE])
    assert unlinked.path == "/admin/linx/entitymapping/"
    assert parse_qs(unlinked.query) == {
        "connection__id__exact": [str(connection.pk)],
        "entity_type__exact": ["employee"],
        "status": ["not_in_exaktime"],
        "exaktime": ["100002"],
    }
    assert links[MISSING_CODE_MESSAGE] == codes_page(connection)
    assert "hours &gt; 24" in html and len(links) == 2  # nothing to lead to: plain text
    place = staff_client.get(links[UNLINKED_MESSAGE]).content.decode()
    assert "is linked to no Procore record" in place


def test_the_open_failures_list_reads_its_links_in_one_query_for_the_page(
    staff_client, connection, pja, django_assert_max_num_queries
):
    for run in range(3):
        failed_export(connection, first_record=10 * run)  # nine failures, from three runs
    with django_assert_max_num_queries(10):
        html = staff_client.get(FAILURES).content.decode()
    assert html.count('class="linx-fix-link"') == 6


def test_a_run_rows_missing_project_code_leads_to_the_projects_codes(staff_client, connection, pja):
    run = failed_export(connection)
    row = run.rows.get(message=MISSING_CODE_MESSAGE)
    for page in (page_of(run), f"/admin/linx/rowresult/{row.pk}/change/"):
        html = staff_client.get(page).content.decode()
        assert links_on(html)[MISSING_CODE_MESSAGE] == codes_page(connection)


def test_the_codes_page_names_each_code_and_says_when_it_was_read(
    staff_client, connection, pja, settings
):
    settings.LINX_REFERENCE_MAX_AGE_MINUTES = 360
    html = staff_client.get(codes_page(connection)).content.decode()

    assert "Cost codes set up on project 200 PJA" in html
    assert "1\xa0hour, 30\xa0minutes ago" in html
    assert "reads the list again once it is older than 6 hours" in html
    assert "deleted code as not set up" in html
    table = html.split('id="linx-project-codes"', 1)[1].split("</table>")[0]
    names = [tuple(cells(row)[:2]) for row in table.split("<tbody>", 1)[1].split("<tr>")[1:]]
    assert names == [
        ("01-100", "General Conditions"),
        ("03-3010", "Concrete Labor"),  # found by its full code
        ("05", "not imported (a division, or an inactive code)"),
    ]
    assert "3 cost codes set up on project 200 PJA" in html


def test_a_project_whose_codes_were_never_read_says_so_and_what_reads_them(
    staff_client, connection, pja
):
    html = staff_client.get(codes_page(connection, project=7_000_000_002)).content.decode()
    assert "Cost codes set up on Procore project 7000000002" in html
    assert "Linx has not read this project's cost codes yet" in html
    assert "The next export, export preview or reconciliation" in html
    assert 'id="linx-project-codes"' not in html


def test_a_viewer_reads_the_codes_and_a_stranger_is_sent_to_sign_in(client, connection, pja):
    viewer, _ = staff_in("Viewers")
    assert "General Conditions" in viewer.get(codes_page(connection)).content.decode()
    lists = "/admin/linx/projectreference/"
    assert "See the codes" in viewer.get(lists, {"q": "pja"}).content.decode()
    assert "See the codes" not in viewer.get(lists, {"q": "elm street"}).content.decode()
    assert client.get(codes_page(connection)).status_code == 302
    missing = viewer.get(f"/admin/linx/projectreference/codes/999/{PROJECT}/")
    assert missing.status_code == 404


def test_an_export_row_shows_its_cost_code_select_values_and_times_as_people_read_them(
    staff_client, connection, pja
):
    CustomField.objects.create(
        connection=connection, procore_id=9_400_000_004, label="Weather", data_type="lov_entry",
        options=[{"id": 9_500_000_003, "label": "Sunny"}, {"id": 9_500_000_004, "label": "Rain"}],
    )  # fmt: skip
    run = make_run(connection, RunKind.EXPORT, dry_run=True, **finished(status=RunStatus.SUCCEEDED))
    RowResult.objects.create(
        run=run, outcome=Outcome.UPDATED, entity_type=EntityType.TIME_RECORD, exaktime_id="1",
        name="Alex Rivera, 2026-11-25",
        # An update names only what changed: the project is not among them.
        changes={"regular": {"cost_code_id": [GENERAL, CONCRETE],
                             "time_in": ["2026-11-25T06:00:00-08:00", "2026-11-25T06:30:00-08:00"],
                             "custom_field_9400000004": [9_500_000_003, 9_500_000_004]}},
    )  # fmt: skip

    html = staff_client.get(page_of(run)).content.decode()
    readable, details = html.split('<details class="linx-raw-fields">', 1)
    assert '<span class="linx-change-field">Cost code</span>' in readable
    assert "<del>01-100 General Conditions</del>" in readable
    assert "<ins>03-3010 Concrete Labor</ins>" in readable
    assert "<del>Sunny</del>" in readable and "<ins>Rain</ins>" in readable
    assert "<del>2026-11-25 06:00</del>" in readable and "<ins>2026-11-25 06:30</ins>" in readable
    rows = readable.split('<table id="result_list"', 1)[1]
    for raw in (str(GENERAL), str(CONCRETE), "9500000003", "cost_code_id"):
        assert raw not in rows
        assert raw in details.split("</details>")[0]
