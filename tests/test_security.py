"""Security: where a connection may send its secrets, and what a page may render."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from linx.models import Connection, RunKind, RunStatus, RunTrigger
from linx.sync.execute import execute, start


def connection_to(**urls) -> Connection:
    return Connection(name="acme", **urls)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://api.procore.com", "must use https://"),
        ("ftp://api.procore.com", "must be an https:// address"),
        ("https://user:pass@api.procore.com", "no user name or password"),
        ("https://api.procore.com/?token=x", "without ?query"),
        ("https://10.0.0.5", "private-network address"),
        ("https://192.168.1.20:8443", "private-network address"),
        ("https://169.254.169.254", "private-network address"),  # cloud metadata
        ("https://[fd00::1]", "private-network address"),
    ],
)
def test_unsafe_service_urls_are_refused_naming_the_reason(db, url, complaint):
    with pytest.raises(ValidationError) as refused:
        connection_to(procore_api_url=url).full_clean()
    assert complaint in " ".join(refused.value.message_dict["procore_api_url"])


@pytest.mark.parametrize(
    "url",
    [
        "https://api.procore.com",
        "http://127.0.0.1:8001",
        "http://localhost:8002",
        "http://[::1]:9000",
    ],
)
def test_public_https_and_loopback_sandboxes_are_accepted(db, url):
    connection_to(procore_api_url=url, procore_login_url=url, exaktime_api_url=url).full_clean()


def test_private_networks_can_be_allowed_by_the_operator(db, settings):
    settings.LINX_ALLOW_PRIVATE_NETWORKS = True
    connection_to(exaktime_api_url="https://10.0.0.5").full_clean()


def test_a_run_refuses_to_send_secrets_to_an_unsafe_url_saved_behind_the_forms(
    sandbox_connection, procore_sandbox
):
    Connection.objects.filter(pk=sandbox_connection.pk).update(
        procore_login_url=procore_sandbox.url.replace("127.0.0.1", "10.1.2.3")
    )
    procore_sandbox.clear_requests()
    run = execute(start(Connection.objects.get(pk=sandbox_connection.pk), RunKind.PREIMPORT,
                        trigger=RunTrigger.COMMAND))  # fmt: skip
    assert run.status == RunStatus.FAILED
    assert "Procore login URL is refused" in run.message
    assert procore_sandbox.requests() == []


def test_names_from_procore_are_escaped_in_the_admin(
    sandbox_connection, procore_sandbox, exaktime_sandbox, staff_client
):
    from integrations.procore.sandbox import data as pc
    from linx.models import SyncRun

    script = "<script>alert(1)</script>"
    procore_sandbox.update("user", pc.WORKER_NO_CLASSIFICATION + 1, last_name=script)
    procore_sandbox.update("project", pc.PROJECT_HARBOR, name=f"Harbor {script}")
    execute(start(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    run = SyncRun.objects.filter(kind=RunKind.IMPORT).get()

    pages = [
        f"/admin/linx/syncrun/{run.pk}/change/",
        "/admin/linx/syncrun/",
        "/admin/linx/rowresult/",
        "/admin/linx/entitymapping/",
        "/admin/",
    ]
    shown = ""
    for path in pages:
        page = staff_client.get(path).content.decode()
        assert script not in page, f"{path} renders a name from Procore unescaped"
        shown += page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown  # shown, as text
