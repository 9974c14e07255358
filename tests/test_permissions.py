"""Who may do what in the operations console: Viewers, Operators, Administrators.

- A **viewer** reads connections, runs, rows and mappings, and can start, re-run or
  cancel nothing: the actions are not offered, and a forged POST to any of the console's
  URLs is refused or changes nothing. A viewer never sees a secret.
- An **operator** runs, re-runs and cancels, but cannot change a connection's settings
  or secrets.
- An **administrator** changes connections; secrets stay write-only for them too.
- No POST the console accepts works without a CSRF token.

The forged-POST sweeps walk every URL the admin's Linx screens (and Linx's own views)
answer, so a screen added later is held to the same rules without a new test.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from linx.models import (
    Connection,
    CustomField,
    EntityMapping,
    EntityType,
    Fieldset,
    Outcome,
    RowResult,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
    User,
)
from linx.sync.runs import create_run

SECRETS = ("procore-secret-value-acme", "exaktime-key-value-acme")
LINX_MODELS = [Connection, Fieldset, CustomField, EntityMapping, SyncRun, RowResult]
ACCESS_TOKEN = "procore-access-token-value"
REFRESH_TOKEN = "procore-refresh-token-value"


# --- people and data ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def staff_groups(db) -> None:
    """The groups exactly as migration 0006 defines them.

    Made again from the migration's own table, because a transactional test that ran
    before (browser tests, threads) empties the database, groups and all.
    """
    groups = importlib.import_module("linx.migrations.0006_staff_groups").GROUPS
    for name, codenames in groups.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="linx", codename__in=codenames)
        )


def member(group: str, email: str | None = None) -> User:
    """A staff member of ``group`` who has set up a second factor (not a superuser)."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    email = email or f"{group.lower()}@example.com"
    user = User.objects.create_user(email, "x" * 20, is_staff=True)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    user.groups.add(Group.objects.get(name=group))
    TOTP.activate(user, generate_totp_secret())
    return user


def signed_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def viewer() -> User:
    return member("Viewers")


@pytest.fixture
def operator() -> User:
    return member("Operators")


@pytest.fixture
def administrator() -> User:
    return member("Administrators")


@pytest.fixture
def world(connection) -> dict:
    """A connection with tokens, reference data, a mapping and finished and queued runs."""
    connection.procore_access_token = ACCESS_TOKEN
    connection.procore_refresh_token = REFRESH_TOKEN
    connection.save()
    fieldset = Fieldset.objects.create(connection=connection, procore_id=11, name="Daily")
    field = CustomField.objects.create(
        connection=connection,
        procore_id=12,
        label="Weather",
        data_type="string",
    )
    mapping = EntityMapping.objects.create(
        connection=connection,
        entity_type=EntityType.EMPLOYEE,
        procore_id=6_000_000_001,
        exaktime_id="101",
        name="Alex Rivera",
    )
    partial = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND)
    SyncRun.objects.filter(pk=partial.pk).update(
        status=RunStatus.PARTIAL, counts={"failed": 2, "created": 1}
    )
    failed_row = RowResult.objects.create(
        run=partial,
        entity_type=EntityType.EMPLOYEE,
        outcome=Outcome.FAILED,
        procore_id=6_000_000_002,
        name="Jordan Blake",
        message="Jordan Blake has no Employee ID in Procore's Directory.",
    )
    RowResult.objects.create(  # a passing fault: a re-run may help, so it may be re-run
        run=partial,
        entity_type=EntityType.EMPLOYEE,
        outcome=Outcome.FAILED,
        procore_id=6_000_000_003,
        message="ExakTime did not answer (503).",
        retryable=True,
    )
    RowResult.objects.create(
        run=partial, entity_type=EntityType.EMPLOYEE, outcome=Outcome.CREATED, procore_id=7
    )
    preview = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.ADMIN, dry_run=True)
    SyncRun.objects.filter(pk=preview.pk).update(status=RunStatus.SUCCEEDED)
    queued = create_run(connection, RunKind.EXPORT, trigger=RunTrigger.ADMIN)
    return {
        "connection": connection,
        "fieldset": fieldset,
        "field": field,
        "mapping": mapping,
        "partial": partial,
        "failed_row": failed_row,
        "preview": preview,
        "queued": queued,
    }


@pytest.fixture
def queued_tasks(monkeypatch) -> list:
    """What would have been handed to the task queue.

    Runs are handed over once their transaction commits; a test's transaction never
    does, so here they are handed over at once.
    """
    import django_q.tasks
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())
    handed: list = []
    monkeypatch.setattr(
        django_q.tasks, "async_task", lambda *args, **kwargs: handed.append(args) or "task"
    )
    return handed


def snapshot() -> dict:
    """Every Linx row, every field (decrypted secrets included): to compare before/after."""
    state = {}
    for model in LINX_MODELS:
        rows = []
        for obj in model.objects.order_by("pk"):
            rows.append(
                {
                    f.attname: getattr(obj, f.attname)
                    for f in model._meta.concrete_fields
                    if f.attname not in ("heartbeat_at",)
                }
            )
        state[model.__name__] = rows
    return state


# --- every URL of the console ---------------------------------------------------------------


def console_urls(world: dict) -> list[str]:
    """Every path the Linx admin screens and Linx's own views answer, filled with ids."""
    ids = {
        Connection: world["connection"].pk,
        Fieldset: world["fieldset"].pk,
        CustomField: world["field"].pk,
        EntityMapping: world["mapping"].pk,
        SyncRun: world["partial"].pk,
        RowResult: world["failed_row"].pk,
    }
    paths: set[str] = set()
    for model, model_admin in admin.site._registry.items():
        if model not in ids:
            continue
        prefix = f"/admin/linx/{model._meta.model_name}/"
        for route in _routes(model_admin.get_urls()):
            paths.add(prefix + _fill(route, ids[model]))
    # Linx's own views outside the admin (Procore's Connect button, and any added later).
    for route in _routes(get_resolver().url_patterns):
        if route.startswith(("admin/", "accounts/")) or route == "":
            continue
        paths.add("/" + _fill(route, world["connection"].pk))
    # A run's pages for the preview and the queued run too (apply, cancel).
    for run in (world["preview"], world["queued"]):
        prefix = "/admin/linx/syncrun/"
        for route in _routes(admin.site._registry[SyncRun].get_urls()):
            if "<" in route:
                paths.add(prefix + _fill(route, run.pk))
    return sorted(paths)


def _routes(patterns, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + _route_of(pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _route_of(pattern) -> str:
    text = str(pattern.pattern)
    return text.lstrip("^").rstrip("$").replace("\\Z", "")


def _fill(route: str, pk: int) -> str:
    return re.sub(r"<[^>]+>", str(pk), route)


def actions_of(model) -> list[str]:
    """Every action the model's admin defines, whether or not it offers it to you."""
    model_admin = admin.site._registry[model]
    names = []
    for action in model_admin.actions or []:
        names.append(action if isinstance(action, str) else action.__name__)
    return [*names, "delete_selected"]


#: What the URL of a screen that does something says (after its model's part).
ACTING = r"rerun|re-run|cancel|apply|test|connect|link|ignore|select|start|run|export|import"

FORGED = {
    # Whatever an intermediate page or a button would send, all at once.
    "apply": "1",
    "post": "yes",
    "confirm": "1",
    "entities": ["employees", "locations", "cost_codes", "crews"],
    "first_day": "2026-11-16",
    "last_day": "2026-11-22",
    "dry_run": "",
    "index": "0",
}


def forge_actions(client: Client, world: dict) -> list[int]:
    """POST every action of connections and runs, over every object; return the statuses."""
    statuses = []
    everything = {
        Connection: [world["connection"].pk],
        SyncRun: [world["partial"].pk, world["preview"].pk, world["queued"].pk],
        EntityMapping: [world["mapping"].pk],
        RowResult: [world["failed_row"].pk],
    }
    for model, pks in everything.items():
        url = f"/admin/linx/{model._meta.model_name}/"
        for action in actions_of(model):
            response = client.post(
                url, {**FORGED, "action": action, "_selected_action": [str(pk) for pk in pks]}
            )
            statuses.append(response.status_code)
    return statuses


def forge_posts(client: Client, world: dict) -> dict[str, tuple[int, list[str]]]:
    """POST to every console URL; return each one's status and the messages it left."""
    from django.contrib.messages import get_messages

    answers = {}
    for path in console_urls(world):
        response = client.post(
            path,
            {**FORGED, "name": "hijacked", "procore_client_secret": "stolen"},
        )
        said = [str(m) for m in get_messages(response.wsgi_request)]
        answers[path] = (response.status_code, said)
    return answers


# --- viewers -----------------------------------------------------------------------------------


def test_a_viewer_sees_connections_runs_rows_and_mappings(viewer, world):
    client = signed_in(viewer)
    run, row = world["partial"], world["failed_row"]
    pages = {
        "/admin/": "Connections",
        "/admin/linx/connection/": world["connection"].name,
        f"/admin/linx/connection/{world['connection'].pk}/change/": world["connection"].name,
        "/admin/linx/syncrun/": f"{run.pk}",
        f"/admin/linx/syncrun/{run.pk}/change/": "Jordan Blake",
        "/admin/linx/rowresult/": "Jordan Blake",
        f"/admin/linx/rowresult/{row.pk}/change/": "has no Employee ID",
        "/admin/linx/entitymapping/": "Alex Rivera",
        "/admin/linx/fieldset/": "Daily",
        "/admin/linx/customfield/": "Weather",
    }
    for path, shown in pages.items():
        response = client.get(path, follow=True)
        assert response.status_code == 200, path
        assert shown in response.content.decode(), path


def test_a_viewer_is_offered_no_action_and_no_button_that_runs(viewer, world):
    client = signed_in(viewer)
    for model in (Connection, SyncRun, EntityMapping, RowResult):
        page = client.get(f"/admin/linx/{model._meta.model_name}/").content.decode()
        for action in actions_of(model):
            assert f'value="{action}"' not in page, (model.__name__, action)
    for run in (world["partial"], world["preview"], world["queued"]):
        page = client.get(f"/admin/linx/syncrun/{run.pk}/change/", follow=True)
        # No button on a run's page but the log-out's: no re-run, cancel or apply.
        html = re.sub(
            r'<form[^>]*id="logout-form".*?</form>', "", page.content.decode(), flags=re.S
        )
        assert 'type="submit"' not in html, run
        buttons = [b for b in re.findall(r"<button[^>]*>", html) if "toggle" not in b]
        assert buttons == [], run
    connection_page = client.get(
        f"/admin/linx/connection/{world['connection'].pk}/change/"
    ).content.decode()
    assert "Connect to Procore" not in connection_page
    assert 'name="_save"' not in connection_page


def test_a_forged_action_from_a_viewer_starts_cancels_and_changes_nothing(
    viewer, world, queued_tasks
):
    before = snapshot()
    statuses = forge_actions(signed_in(viewer), world)
    assert snapshot() == before
    assert queued_tasks == []
    assert set(statuses) <= {200, 302, 403}


def test_a_forged_post_from_a_viewer_to_any_console_url_is_refused(viewer, world, queued_tasks):
    before = snapshot()
    answers = forge_posts(signed_in(viewer), world)
    assert snapshot() == before
    assert queued_tasks == []
    # Refused outright, or (a page that only shows things) answered without doing anything.
    did_something = {
        path: (status, said)
        for path, (status, said) in answers.items()
        if status not in (403, 404, 405)
        and any(re.search(r"[Qq]ueued|[Ss]aved|[Cc]hanged|[Aa]sked", m) for m in said)
    }
    assert did_something == {}

    # Every screen that acts refuses a viewer with 403.
    def tail(path: str) -> str:
        return re.sub(r"^/admin/linx/[a-z]+/", "", path)

    acting = [p for p in answers if re.search(ACTING, tail(p))]
    assert {p: answers[p][0] for p in acting if answers[p][0] not in (403, 404, 405)} == {}


def test_a_viewer_never_sees_a_secret(viewer, world):
    client = signed_in(viewer)
    pk = world["connection"].pk
    for path in [
        "/admin/linx/connection/",
        f"/admin/linx/connection/{pk}/change/",
        f"/admin/linx/connection/{pk}/history/",
        "/admin/linx/syncrun/",
        f"/admin/linx/syncrun/{world['partial'].pk}/change/",
    ]:
        html = client.get(path, follow=True).content.decode()
        for secret in (*SECRETS, ACCESS_TOKEN, REFRESH_TOKEN):
            assert secret not in html, (path, secret)
    page = client.get(f"/admin/linx/connection/{pk}/change/").content.decode()
    assert re.search(r"Procore client secret.{0,400}\bset\b", page, re.S)


def test_the_show_command_never_prints_a_secret(world, capsys):
    call_command("linx_connection", "show", world["connection"].name)
    call_command("linx_connection", "show", world["connection"].name, "--json")
    out = capsys.readouterr().out
    assert "set" in out
    for secret in (*SECRETS, ACCESS_TOKEN, REFRESH_TOKEN):
        assert secret not in out


# --- operators ----------------------------------------------------------------------------------


def test_an_operator_starts_re_runs_and_cancels(operator, world, queued_tasks):
    client = signed_in(operator)
    connection, partial, queued = world["connection"], world["partial"], world["queued"]
    client.post(
        "/admin/linx/connection/",
        {"action": "preimport", "_selected_action": [str(connection.pk)]},
    )
    pre = SyncRun.objects.get(kind=RunKind.PREIMPORT)
    assert pre.started_by == operator and pre.trigger == RunTrigger.ADMIN

    client.post(
        "/admin/linx/syncrun/", {"action": "rerun_failed_rows", "_selected_action": [partial.pk]}
    )
    rerun = SyncRun.objects.get(rerun_of=partial)
    assert rerun.started_by == operator

    client.post("/admin/linx/syncrun/", {"action": "cancel_runs", "_selected_action": [queued.pk]})
    queued.refresh_from_db()
    assert queued.status == RunStatus.CANCELLED
    assert len(queued_tasks) == 2


def test_an_operator_cannot_change_a_connection_or_its_secrets(operator, world, queued_tasks):
    client = signed_in(operator)
    connection = world["connection"]
    page = client.get(f"/admin/linx/connection/{connection.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    for secret in (*SECRETS, ACCESS_TOKEN, REFRESH_TOKEN):
        assert secret not in page

    before = snapshot()
    response = client.post(
        f"/admin/linx/connection/{connection.pk}/change/",
        {
            "name": "hijacked",
            "procore_client_secret": "stolen",
            "exaktime_api_key": "stolen",
            "procore_api_url": "https://evil.example.com",
        },
    )
    assert response.status_code == 403
    assert client.post("/admin/linx/connection/add/", {"name": "new"}).status_code == 403
    assert (
        client.post(f"/admin/linx/connection/{connection.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.post(f"/procore/connect/{connection.pk}/").status_code == 403
    assert snapshot() == before
    assert queued_tasks == []


# --- administrators ---------------------------------------------------------------------------


def change_form_data(client: Client, connection: Connection) -> dict:
    """The connection's change form as the browser would send it back, unchanged."""
    response = client.get(f"/admin/linx/connection/{connection.pk}/change/")
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None or value is False:
            continue
        data[name] = value if value is not True else "on"
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management.initial.get(name, 0)
        for inline in formset.formset.forms:
            data[f"{inline.prefix}-id"] = inline.instance.pk
            data[f"{inline.prefix}-{formset.formset.fk.name}"] = connection.pk
    return data


def test_an_administrator_changes_settings_and_replaces_a_secret(administrator, world):
    client = signed_in(administrator)
    connection = world["connection"]
    data = change_form_data(client, connection)
    # A secret's box comes back empty (it is never sent to the browser): "keep it".
    data.update(procore_client_secret="")
    data.update(crews_as_groups="on", exaktime_api_key="a-new-exaktime-key")
    response = client.post(f"/admin/linx/connection/{connection.pk}/change/", data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [f.formset.errors for f in response.context["inline_admin_formsets"]],
        response.context["errors"],
    )

    connection.refresh_from_db()
    assert connection.crews_as_groups
    assert connection.exaktime_api_key == "a-new-exaktime-key"
    assert connection.procore_client_secret == SECRETS[0]  # left blank: kept
    page = client.get(f"/admin/linx/connection/{connection.pk}/change/").content.decode()
    for secret in ("a-new-exaktime-key", SECRETS[0], ACCESS_TOKEN, REFRESH_TOKEN):
        assert secret not in page
    # Their boxes render empty: write-only, with "set" beside them.
    for name in ("procore_client_secret", "exaktime_api_key"):
        (box,) = re.findall(rf'<input[^>]*name="{name}"[^>]*>', page)
        assert 'type="password"' in box and "value=" not in box, box


def test_an_administrator_adds_a_connection(administrator, db):
    client = signed_in(administrator)
    assert client.get("/admin/linx/connection/add/").status_code == 200


# --- CSRF --------------------------------------------------------------------------------------


def test_every_action_refuses_a_post_without_a_csrf_token(administrator, world, queued_tasks):
    client = signed_in(administrator, csrf=True)
    before = snapshot()
    statuses = forge_actions(client, world)
    assert set(statuses) == {403}
    assert snapshot() == before
    assert queued_tasks == []


#: Paths no person's session reaches (so no CSRF token applies): Procore's webhook is
#: authenticated by its own per-connection secret, and refuses (401) a call without it.
SELF_AUTHENTICATED = ("/hooks/procore/",)


def test_every_console_url_refuses_a_post_without_a_csrf_token(administrator, world, queued_tasks):
    client = signed_in(administrator, csrf=True)
    before = snapshot()
    answers = forge_posts(client, world)
    refused = {path: 401 if path.startswith(SELF_AUTHENTICATED) else 403 for path in answers}
    assert any(path.startswith(SELF_AUTHENTICATED) for path in answers)
    assert {path: status for path, (status, _) in answers.items() if status != refused[path]} == {}
    assert snapshot() == before
    assert queued_tasks == []


def test_with_its_token_the_same_action_goes_through(administrator, world, queued_tasks):
    client = signed_in(administrator, csrf=True)
    page = client.get("/admin/linx/connection/")
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else None
    token = token or client.cookies["csrftoken"].value
    response = client.post(
        "/admin/linx/connection/",
        {
            "action": "preimport",
            "_selected_action": [str(world["connection"].pk)],
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert SyncRun.objects.filter(kind=RunKind.PREIMPORT).count() == 1
