"""Fixtures shared by the whole suite, and the markers that split it.

`sandbox` and `browser` are given here, not by hand, from what a test uses, so a new test
cannot forget them: `make test-fast` (`-m "not sandbox and not browser"`) runs the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from linx.models import Connection, User

pytest_plugins = ["tests.sandboxes"]

TESTS = Path(__file__).resolve().parent
# Every sandbox fixture (procore_sandbox, sandbox_connection, ...) stands on one of these.
SANDBOX_FIXTURES = frozenset({"_procore_sandbox_server", "_exaktime_sandbox_server"})
# Tests that start sandbox servers, or Linx processes that talk to them, by themselves.
SANDBOX_PATHS = ("sandbox", "resilience", "test_demo.py", "test_scale_out.py", "test_sigterm.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test from the fixtures it uses (with theirs) and where it lives."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SANDBOX_FIXTURES or _top(item) in SANDBOX_PATHS:
            item.add_marker(pytest.mark.sandbox)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)


def _top(item: pytest.Item) -> str:
    """The folder (or file) directly under tests/ that holds the test."""
    path = Path(item.path).resolve()
    return path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else ""


@pytest.fixture(autouse=True)
def _empty_cache():
    """Start every test with an empty cache (login rate limits live there).

    The database cache is rolled back with each test; Redis is not, so it is flushed.
    """
    from django.conf import settings
    from django.core.cache import cache

    on_redis = settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    if on_redis:
        cache.clear()
    yield
    if on_redis:
        cache.clear()


@pytest.fixture
def connection(db) -> Connection:
    """A connection as an operator would set it up, pointing at placeholder hosts."""
    return Connection.objects.create(
        name="acme-builders",
        procore_login_url="https://login-sandbox.procore.com",
        procore_api_url="https://sandbox.procore.com",
        procore_client_id="client-id-acme",
        procore_client_secret="procore-secret-value-acme",
        procore_company_id=4_294_967_296 + 7,  # company ids can exceed 32 bits
        exaktime_api_url="https://api.arcoro.com",
        exaktime_api_key="exaktime-key-value-acme",
    )


@pytest.fixture
def staff_password() -> str:
    return "correct horse battery staple"


@pytest.fixture
def staff_user(db, staff_password) -> User:
    from allauth.account.models import EmailAddress

    user = User.objects.create_user(
        "ops@example.com", staff_password, is_staff=True, is_superuser=True
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def staff_client(client, staff_user, settings):
    """A browser session logged in as a superuser who has set up a second factor."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(staff_user, generate_totp_secret())
    client.force_login(staff_user)
    return client


@pytest.fixture
def sandbox_connection(db, procore_sandbox, exaktime_sandbox) -> Connection:
    """A connection to the bundled sandboxes' realistic company, every import setting on."""
    from integrations.exaktime.sandbox import data as exaktime_data
    from integrations.procore.sandbox import data as procore_data

    return Connection.objects.create(
        name="sandbox",
        procore_login_url=procore_sandbox.url,
        procore_api_url=procore_sandbox.url,
        procore_client_id=procore_data.CLIENT_ID,
        procore_client_secret=procore_data.CLIENT_SECRET,
        procore_company_id=procore_data.COMPANY_ID,
        exaktime_api_url=exaktime_sandbox.url,
        exaktime_api_key=exaktime_data.API_KEY,
        import_sub_jobs=True,
        crews_as_groups=True,
        projects_as_groups=True,
        projects_as_categories=True,
    )
