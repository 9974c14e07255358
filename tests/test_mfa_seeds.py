"""Second-factor seeds are encrypted at rest, rotate with Linx's keys and are never shown.

And the SQLite database, with everything else Linx keeps, is readable by Linx's own
user only.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import stat
import subprocess
import sys

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.apps import apps
from django.core.management import call_command
from django.db import connection as db

from tests.test_settings import GOOD, ROOT
from tests.test_staff_login import current_code, log_in

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # a TOTP secret, base32


def stored_data(authenticator: Authenticator) -> str:
    """The `data` column as the database holds it."""
    with db.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE id = %s", [authenticator.pk])
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture
def totp(staff_user) -> Authenticator:
    return TOTP.activate(staff_user, SEED).instance


def test_a_totp_secret_is_stored_encrypted_and_still_signs_in(
    client, totp, staff_user, staff_password, settings
):
    raw = stored_data(totp)
    assert SEED not in raw and "gAAAAA" in raw
    settings.LINX_REQUIRE_MFA = True
    log_in(client, staff_user.email, staff_password)
    client.post("/accounts/2fa/authenticate/", {"code": current_code(SEED)})
    assert client.get("/admin/").status_code == 200


def test_recovery_code_seeds_are_stored_encrypted_and_still_work(staff_user):
    codes = RecoveryCodes.activate(staff_user)
    seed = json.loads(stored_data(codes.instance))["seed"]
    assert seed.startswith("gAAAAA")
    unused = codes.get_unused_codes()
    assert RecoveryCodes(Authenticator.objects.get(pk=codes.instance.pk)).validate_code(unused[0])


def test_seeds_stored_in_clear_before_are_encrypted_by_the_migration(staff_user):
    plain = Authenticator.objects.create(user=staff_user, type="totp", data={"secret": SEED})
    migration = importlib.import_module("linx.migrations.0013_encrypt_mfa_seeds")
    migration.encrypt(apps, None)
    migration.encrypt(apps, None)  # twice is harmless: nothing is encrypted again
    assert SEED not in stored_data(plain)
    assert TOTP(Authenticator.objects.get(pk=plain.pk)).validate_code(current_code(SEED))
    migration.decrypt(apps, None)
    assert Authenticator.objects.get(pk=plain.pk).data == {"secret": SEED}


def test_key_rotation_re_encrypts_the_seeds(totp, settings):
    from cryptography.fernet import Fernet

    new_key = Fernet.generate_key().decode()
    settings.LINX_ENCRYPTION_KEYS = [new_key, *settings.LINX_ENCRYPTION_KEYS]
    out = io.StringIO()
    call_command("linx_rotate_keys", stdout=out)
    settings.LINX_ENCRYPTION_KEYS = [new_key]  # the old keys can go now
    token = json.loads(stored_data(totp))["secret"]
    assert Fernet(new_key).decrypt(token.encode()).decode() == SEED
    assert TOTP(Authenticator.objects.get(pk=totp.pk)).validate_code(current_code(SEED))


def test_dumpdata_leaves_authenticators_out(totp, capsys):
    call_command("dumpdata")
    dump = capsys.readouterr().out
    token = json.loads(stored_data(totp))["secret"]
    assert SEED not in dump and token not in dump
    assert '"mfa.authenticator"' not in dump
    assert '"linx.user"' in dump  # the rest is still there


def test_the_authenticator_admin_page_never_shows_the_seed(staff_client, staff_user):
    totp = Authenticator.objects.get(user=staff_user, type="totp")
    token = json.loads(stored_data(totp))["secret"]
    page = staff_client.get(f"/admin/mfa/authenticator/{totp.pk}/change/")
    assert page.status_code == 200
    assert token not in page.content.decode() and '"secret"' not in page.content.decode()
    assert staff_user.email in page.content.decode()


def _start(data_dir) -> None:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "PYENV_VERSION"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT,
        env={**keep, **GOOD, "LINX_DATA_DIR": str(data_dir)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_sqlite_file_are_private(tmp_path):
    data_dir = tmp_path / "var"
    _start(data_dir)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "linx.sqlite3") == 0o600


def test_an_older_world_readable_sqlite_file_is_made_private(tmp_path):
    old = tmp_path / "linx.sqlite3"
    old.touch(mode=0o644)
    old.chmod(0o644)
    _start(tmp_path)
    assert mode(old) == 0o600
