"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

from linx.models import Connection, User

pytest_plugins = ["tests.sandboxes"]


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
