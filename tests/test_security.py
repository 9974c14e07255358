"""Security: where a connection may send its secrets, and what a page may render."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from linx.models import Connection, RunKind, RunStatus, RunTrigger
from linx.sync.execute import execute
from linx.sync.runs import create_run


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


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        # The four the probe got through, by name and by literal.
        ("https://169.254.169.254.nip.io/", "not a Procore or ExakTime host"),
        ("https://metadata.google.internal/", "not a Procore or ExakTime host"),
        ("https://100.64.0.1/", "private-network address (shared"),
        ("https://[2002:a9fe:a9fe::]/", "private-network address (link-local)"),
        ("https://[::ffff:169.254.169.254]/", "private-network address (link-local)"),
        ("https://[64:ff9b::a9fe:a9fe]/", "private-network address (link-local)"),
        ("https://evil.example.com", "add it to LINX_SERVICE_HOSTS"),
        ("https://procore.com.evil.example", "not a Procore or ExakTime host"),
        ("https://52.1.2.3", "not a Procore or ExakTime host"),
    ],
)
def test_hosts_outside_the_services_and_non_public_addresses_are_refused(db, url, complaint):
    with pytest.raises(ValidationError) as refused:
        connection_to(exaktime_api_url=url).full_clean()
    assert complaint in " ".join(refused.value.message_dict["exaktime_api_url"])


def test_custom_hosts_are_an_explicit_setting_and_never_open_private_addresses(db, settings):
    settings.LINX_SERVICE_HOSTS = ["procore.com", "timeclock.example.org"]
    connection_to(exaktime_api_url="https://eu.timeclock.example.org").full_clean()
    settings.LINX_SERVICE_HOSTS = ["*"]
    connection_to(exaktime_api_url="https://169.254.169.254.nip.io").full_clean()  # by name:
    # checked when connecting (tests/clients/test_addresses.py); literals never pass.
    with pytest.raises(ValidationError, match="shared"):
        connection_to(exaktime_api_url="https://100.64.0.1").full_clean()


def test_loopback_can_be_switched_off(db, settings):
    settings.LINX_ALLOW_LOOPBACK = False
    with pytest.raises(ValidationError, match="LINX_ALLOW_LOOPBACK is off"):
        connection_to(exaktime_api_url="http://127.0.0.1:8002").full_clean()


def test_linx_clients_check_addresses_with_the_installations_policy(connection, settings):
    from linx.clients import exaktime_client, procore_client

    settings.LINX_ALLOW_PRIVATE_NETWORKS = True
    for client in (procore_client(connection), exaktime_client(connection)):
        policy = client.http.session.get_adapter(connection.exaktime_api_url).policy
        assert (policy.allow_private, policy.allow_loopback) == (True, True)


def test_a_run_is_refused_when_a_name_resolves_into_the_private_network(
    sandbox_connection, procore_sandbox, monkeypatch
):
    import socket

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "api.procore.com":
            return real("169.254.169.254", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    Connection.objects.filter(pk=sandbox_connection.pk).update(
        procore_login_url="https://api.procore.com"
    )
    run = execute(create_run(Connection.objects.get(pk=sandbox_connection.pk), RunKind.PREIMPORT,
                        trigger=RunTrigger.COMMAND))  # fmt: skip
    assert run.status == RunStatus.FAILED
    assert "link-local address" in run.message


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
    run = execute(create_run(Connection.objects.get(pk=sandbox_connection.pk), RunKind.PREIMPORT,
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
    execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
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
