"""The dashboard at the admin's index: health, last runs and a 30-day SVG chart per connection."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django.contrib.auth.models import Group
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linx.models import Connection, OpenFailure, RunKind, RunStatus, SyncRun, User

INDEX = "/admin/"


def at_noon(days_ago: int) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(12)))


def run(connection, kind=RunKind.IMPORT, status=RunStatus.SUCCEEDED, *, days_ago=0, **options):
    created = at_noon(days_ago)
    return SyncRun.objects.create(
        connection=connection,
        kind=kind,
        status=status,
        trigger="command",
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(minutes=2),
        dry_run=options.pop("dry_run", False),
        counts=options,
    )


def chart_of(html: str, connection) -> str:
    start = html.index(f'id="connection-{connection.pk}"')
    return html[html.index("<svg", start) : html.index("</svg>", start)]


def bar(svg: str, days_ago: int) -> tuple[int, int]:
    day = (timezone.localdate() - timedelta(days=days_ago)).isoformat()
    found = re.search(rf'data-day="{day}" data-synced="(\d+)" data-failed="(\d+)"', svg)
    assert found, f"no bar for {day}"
    return int(found[1]), int(found[2])


def test_the_chart_counts_rows_synced_and_failed_per_day(staff_client, connection):
    run(connection, days_ago=2, created=5, updated=3, unchanged=400, failed=2)
    run(connection, RunKind.EXPORT, days_ago=2, deactivated=1, linked=1, deleted=1)
    run(connection, days_ago=2, created=50, failed=50, dry_run=True)  # wrote nothing
    run(connection, days_ago=0, created=1, failed=4)
    run(connection, days_ago=31, created=999)  # before the chart's 30 days

    svg = chart_of(staff_client.get(INDEX).content.decode(), connection)
    assert svg.count('class="day"') == 30
    assert bar(svg, 2) == (11, 2)
    assert bar(svg, 0) == (1, 4)
    assert bar(svg, 1) == (0, 0)
    assert 'data-synced="12" data-failed="6"' in svg  # the 30 days' totals
    assert "12 synced, 6 failed" in svg  # said in words for screen readers
    # The busiest day fills the plot; a quiet day's failures still show.
    assert 'class="synced"' in svg and 'class="failed"' in svg


def test_a_re_run_counts_what_it_synced_not_its_failures_again(staff_client, connection):
    first = run(connection, days_ago=3, created=10, failed=4)
    rerun = run(connection, days_ago=3, created=1, failed=3)  # three of the four fail again
    SyncRun.objects.filter(pk=rerun.pk).update(rerun_of=first)
    run(connection, days_ago=3, created=7, failed=7, dry_run=True)  # a preview of it all

    svg = chart_of(staff_client.get(INDEX).content.decode(), connection)
    assert bar(svg, 3) == (11, 4)


def test_the_last_runs_and_health_are_shown(staff_client, connection):
    failed = run(connection, RunKind.EXPORT, RunStatus.FAILED, days_ago=1)
    partial = run(connection, RunKind.IMPORT, RunStatus.PARTIAL, days_ago=0, failed=3)
    for worker in range(3):  # the records still failing, whichever run last tried them
        OpenFailure.objects.create(
            connection=connection, kind=RunKind.IMPORT, entity_type="employee", source_id=worker
        )
    html = staff_client.get(INDEX).content.decode()
    panel = html[html.index(f'id="connection-{connection.pk}"') :]
    assert f"Import #{partial.pk}" in panel and f"Export #{failed.pk}" in panel
    assert panel.index(f"Import #{partial.pk}") < panel.index(f"Export #{failed.pk}")
    assert 'linx-badge--warn">Partially failed' in panel
    assert 'linx-badge--bad">Failed' in panel
    assert "3 in import" in panel
    # The admin's own list of models stays below the dashboard.
    assert html.index("linx-dashboard") < html.index('class="app-linx module')


def test_a_connection_missing_a_secret_is_flagged(staff_client, connection):
    keyless = Connection.objects.create(name="keyless", procore_client_secret="s")
    html = staff_client.get(INDEX).content.decode()

    def panel(of) -> str:
        start = html.index(f'id="connection-{of.pk}"')
        return html[start : html.index("</article>", start)]

    assert "no ExakTime API key</span>" in panel(keyless)
    assert "no Procore client secret" not in panel(keyless)
    assert "no ExakTime API key" not in panel(connection)
    assert "no Procore client secret" not in panel(connection)


def test_only_the_last_five_runs_of_a_connection_are_listed(staff_client, connection):
    runs = [run(connection, days_ago=n) for n in range(7)]
    html = staff_client.get(INDEX).content.decode()
    listed = re.findall(r"Import #(\d+)", html)
    assert listed == [str(r.pk) for r in runs[:5]]


def test_the_dashboard_costs_the_same_queries_for_one_connection_or_many(staff_client, connection):
    def queries() -> int:
        with CaptureQueriesContext(db) as captured:
            assert staff_client.get(INDEX).status_code == 200
        return len(captured)

    run(connection, created=1)
    one = queries()
    for n in range(15):
        other = Connection.objects.create(name=f"company-{n}")
        for day in range(8):
            run(other, days_ago=day, created=day, failed=1)
    assert queries() == one


def test_a_viewer_sees_it_and_staff_without_rights_do_not(client, connection, settings):
    settings.LINX_REQUIRE_MFA = False
    run(connection, created=2)
    viewer = User.objects.create_user("viewer@example.com", "x" * 20, is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewers"))
    client.force_login(viewer)
    assert '<svg class="linx-chart"' in client.get(INDEX).content.decode()

    nobody = User.objects.create_user("nobody@example.com", "x" * 20, is_staff=True)
    client.force_login(nobody)
    assert '<svg class="linx-chart"' not in client.get(INDEX).content.decode()


def sections(html: str) -> list[str]:
    """The app list's section names, in order."""
    return re.findall(r'<a href="[^"]*" class="section"[^>]*>([^<]+)</a>', html)


def test_the_index_leads_with_linx_and_puts_plumbing_last(client, staff_client, settings):
    settings.LINX_REQUIRE_MFA = False
    everything = sections(staff_client.get(INDEX).content.decode())
    assert everything[0] == "Linx"
    assert everything[-3:] == ["Accounts", "MFA", "Task queue"]  # a superuser's own sections

    # Anyone else who may see those records finds them as one section, at the end.
    from django.contrib.auth.models import Permission

    helper = User.objects.create_user("helper@example.com", "x" * 20, is_staff=True)
    helper.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["linx", "account", "mfa", "django_q"],
            codename__startswith="view_",
        )
    )
    client.force_login(helper)
    page = client.get(INDEX).content.decode()
    assert sections(page) == ["Linx", "Sign-in records and task queue"]
    assert "Email addresses" in page and "Authenticators" in page
