"""Start-up refuses a malformed configuration, naming the variable to fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "SECRET_KEY": "a" * 60,
    "LINX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "LINX_DATA_DIR": "",
}


def start(tmp_path, **overrides: str) -> subprocess.CompletedProcess:
    """Run `manage.py check` in a clean environment plus ``overrides``."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "PYENV_VERSION"}}
    env = {**keep, **GOOD, "LINX_DATA_DIR": str(tmp_path), **overrides}
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_start_with_no_other_configuration(tmp_path):
    result = start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("DEBUG", "ture", "DEBUG='ture' is not a boolean"),
        ("LINX_REQUIRE_MFA", "maybe", "LINX_REQUIRE_MFA='maybe' is not a boolean"),
        ("DATABASE_URL", "mysql://db/linx", "DATABASE_URL must start with postgres://"),
        ("DATABASE_URL", "postgres://host:port/db", "DATABASE_URL is not a valid URL"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must start with redis://"),
        ("EMAIL_URL", "smtp://", "EMAIL_URL has no host name"),
        ("LINX_TASK_TIMEOUT", "soon", "LINX_TASK_TIMEOUT='soon' is not a whole number"),
        ("LINX_ENCRYPTION_KEYS", "not-a-key", "LINX_ENCRYPTION_KEYS: key 1 is not a Fernet key"),
        ("LINX_ENCRYPTION_KEYS", None, "LINX_ENCRYPTION_KEYS is not set"),
        ("SECRET_KEY", None, "SECRET_KEY is not set"),
    ],
)
def test_a_bad_variable_stops_start_up_naming_it(tmp_path, variable, value, complaint):
    result = start(tmp_path, **{variable: value})
    assert result.returncode == 2
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr


def test_queue_task_can_never_outlive_its_retry(settings):
    # A task running past `retry` would be handed to a second worker while still running.
    assert settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
    assert settings.Q_CLUSTER["max_attempts"] > 0


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            **GOOD,
            "LINX_DATA_DIR": str(tmp_path),
            "SECRET_KEY": Fernet.generate_key().decode() * 2,
            "ALLOWED_HOSTS": "linx.example.com",
            "DEBUG": "false",
            "LINX_HSTS_PRELOAD": "true",
            "EMAIL_URL": "smtp+tls://linx%40example.com:pw@smtp.example.com:587",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_variable_linx_reads_is_documented_in_env_example():
    import re

    read = set()
    for source in (ROOT / "linx").rglob("*.py"):
        text = source.read_text()
        read |= set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', text))
        read |= set(re.findall(r'os\.environ\.get\("([A-Z][A-Z0-9_]+)"', text))
    read -= {"LINX_DEMO_PORT", "DJANGO_SETTINGS_MODULE"}  # the demo's own knobs
    documented = set(
        re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    assert read, "found no variables: the pattern above is out of date"
    assert read - documented == set()


def setting_after_start(tmp_path, name: str, **overrides: str) -> str:
    """One setting's value as Linx computes it from ``overrides``."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "PYENV_VERSION"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         f"from django.conf import settings; print(getattr(settings, {name!r}, None))"],
        cwd=ROOT, env={**keep, **GOOD, "LINX_DATA_DIR": str(tmp_path), **overrides},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_behind_a_proxy_rate_limits_trust_the_configured_number_of_hops(tmp_path):
    assert setting_after_start(tmp_path, "ALLAUTH_TRUSTED_PROXY_COUNT") == "None"
    assert (
        setting_after_start(tmp_path, "ALLAUTH_TRUSTED_PROXY_COUNT", LINX_BEHIND_PROXY="true")
        == "1"
    )
    assert setting_after_start(
        tmp_path, "ALLAUTH_TRUSTED_PROXY_COUNT", LINX_BEHIND_PROXY="true",
        LINX_TRUSTED_PROXY_COUNT="2",
    ) == "2"  # fmt: skip
    assert setting_after_start(
        tmp_path, "ALLAUTH_TRUSTED_CLIENT_IP_HEADER", LINX_BEHIND_PROXY="true",
        LINX_CLIENT_IP_HEADER="X-Real-IP",
    ) == "X-Real-IP"  # fmt: skip


def deployment_guide_environment() -> dict[str, str]:
    """The environment docs/deployment.md tells an operator to set, with real keys."""
    import re

    guide = (ROOT / "docs" / "deployment.md").read_text()
    block = guide.split("## Environment", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    environment = {}
    for line in block.strip().splitlines():
        name, _, value = re.sub(r"\s{2,}#.*$", "", line).partition("=")
        environment[name] = value
    assert environment["SECRET_KEY"] == environment["LINX_ENCRYPTION_KEYS"] == "..."
    environment["SECRET_KEY"] = Fernet.generate_key().decode() * 2
    environment["LINX_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return environment


def check_deploy(tmp_path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "PYENV_VERSION"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**keep, "LINX_DATA_DIR": str(tmp_path), **environment},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_check_deploy_is_clean_with_the_deployment_guides_environment(tmp_path):
    environment = deployment_guide_environment()
    assert environment["LINX_BEHIND_PROXY"] == "true"  # the guide's block was read
    result = check_deploy(tmp_path, environment)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_still_reminds_of_preload_and_mail_when_they_are_left_unset(tmp_path):
    environment = deployment_guide_environment()
    del environment["LINX_HSTS_PRELOAD"], environment["EMAIL_URL"]
    result = check_deploy(tmp_path, environment)
    assert result.returncode == 1
    assert "security.W021" in result.stderr and "mail.E001" in result.stderr
