"""With LINX_REQUIRE_MFA on, a password alone reaches nothing but the way to a second factor.

The walk below is generated from the URL resolver, so a view added later is covered
without anyone listing it here.
"""

from __future__ import annotations

import itertools
import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern

from linx.accounts import MFA_OPEN_VIEWS
from linx.models import Connection

#: Plausible values for a path converter or a regex group.
CONVERTER_VALUES = {
    "int": "1",
    "path": "1",
    "str": "x",
    "slug": "x-1",
    "uuid": str(uuid.UUID(int=1)),
}
GROUP_CANDIDATES = ("linx", "1", "abc-1", "nothing/here")
_CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?(?P<name>\w+)>")
_GROUP = re.compile(r"\(\?P<\w+>(?:[^()]|\([^()]*\))*\)")


def _route_examples(route: str) -> list[str]:
    return [_CONVERTER.sub(lambda m: CONVERTER_VALUES[m["kind"] or "str"], route)]


def _regex_examples(regex: str) -> list[str]:
    regex = regex.removeprefix("^").removesuffix("$")
    groups = _GROUP.findall(regex)
    examples = []
    for values in itertools.product(GROUP_CANDIDATES, repeat=len(groups)):
        example = regex
        for group, value in zip(groups, values, strict=True):
            example = example.replace(group, value, 1)
        examples.append(example.replace("\\", ""))
    return examples


def _examples(pattern) -> list[str]:
    if isinstance(pattern, RoutePattern):
        return _route_examples(str(pattern))
    assert isinstance(pattern, RegexPattern), f"unknown pattern type {pattern!r}"
    return _regex_examples(pattern.regex.pattern)


def _walk(resolver: URLResolver, prefixes: tuple[str, ...] = ("/",)):
    """(pattern, example paths) for every view the resolver serves."""
    for entry in resolver.url_patterns:
        paths = [p + e for p in prefixes for e in _examples(entry.pattern)]
        if isinstance(entry, URLResolver):
            yield from _walk(entry, tuple(paths))
        else:
            assert isinstance(entry, URLPattern)
            yield entry, paths


def _resolves_to(path: str, pattern: URLPattern) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.func is pattern.callback


def every_view() -> list[tuple[str, str]]:
    """(view name, a path that reaches exactly that view) for every URL pattern."""
    found = []
    for pattern, candidates in _walk(get_resolver()):
        path = next((p for p in candidates if _resolves_to(p, pattern)), None)
        assert path is not None, (
            f"Cannot forge a URL for {pattern!r}: add a plausible value for its parameters "
            "to this test, so the view is checked."
        )
        found.append((resolve(path).view_name, path))
    return found


@pytest.fixture
def password_only_staff(client, staff_user, settings):
    """A superuser signed in with a password, who has not set up an authenticator."""
    settings.LINX_REQUIRE_MFA = True
    client.force_login(staff_user)
    return client


def is_sent_to_mfa_set_up(response) -> bool:
    return response.status_code == 302 and response.url.startswith(reverse("mfa_activate_totp"))


def test_the_walk_reaches_every_kind_of_view():
    names = {name for name, _ in every_view()}
    # The walk is only worth something if it reaches the views that matter.
    assert {
        "procore_connect_start",
        "procore_connect_callback",
        "admin:index",
        "admin:linx_connection_change",
        "admin:app_list",
        "account_change_password",
    } <= names
    # Every open view named in the middleware exists: a typo would open nothing, silently.
    assert names >= MFA_OPEN_VIEWS


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_password_alone_reaches_only_the_open_views(password_only_staff, connection, method):
    escaped = []
    for name, path in every_view():
        if name in MFA_OPEN_VIEWS:
            continue
        response = getattr(password_only_staff, method)(path)
        if not is_sent_to_mfa_set_up(response):
            escaped.append(f"{method.upper()} {path} ({name}): {response.status_code}")
    assert escaped == []


def test_connect_cannot_replace_procore_tokens_without_a_second_factor(
    password_only_staff, connection
):
    connection.procore_access_token = "access-token-before"
    connection.save()
    response = password_only_staff.post(reverse("procore_connect_start", args=[connection.pk]))
    assert is_sent_to_mfa_set_up(response)
    assert "linx_procore_connect" not in password_only_staff.session
    response = password_only_staff.get(
        reverse("procore_connect_callback"), {"code": "attacker-code", "state": "x"}
    )
    assert is_sent_to_mfa_set_up(response)
    assert Connection.objects.get(pk=connection.pk).procore_access_token == "access-token-before"


def test_the_open_views_stay_open_without_a_second_factor(password_only_staff):
    assert password_only_staff.get(reverse("health")).status_code == 200
    assert password_only_staff.get("/favicon.ico").status_code == 200
    assert password_only_staff.get(reverse("account_reset_password")).status_code in (200, 302)
    response = password_only_staff.get(reverse("mfa_activate_totp"))
    assert not is_sent_to_mfa_set_up(response)
    assert password_only_staff.post(reverse("account_logout")).status_code == 302
    assert "_auth_user_id" not in password_only_staff.session


def test_with_a_second_factor_the_connect_flow_is_reached(staff_client, connection, settings):
    settings.LINX_REQUIRE_MFA = True
    connection.procore_auth_mode = "authorization_code"
    connection.save()
    response = staff_client.post(reverse("procore_connect_start", args=[connection.pk]))
    assert response.status_code == 302
    assert response.url.startswith(connection.procore_login_url)


def test_procores_webhook_is_open_only_because_it_checks_its_own_secret(password_only_staff):
    """Procore, not a person, calls it: no session or second factor applies, so a call
    without the connection's secret is refused whoever is signed in."""
    assert "procore_webhook" in MFA_OPEN_VIEWS
    paths = [path for name, path in every_view() if name == "procore_webhook"]
    assert paths, "the webhook view must be reached by the walk"
    for path in paths:
        assert password_only_staff.post(path, "{}", "application/json").status_code == 401
        assert password_only_staff.get(path).status_code == 405
