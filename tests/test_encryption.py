"""Secrets are stored encrypted, rotate to a new key, and fail loudly on a wrong key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection as db

from linx.encryption import SecretDecryptionError, decrypt
from linx.models import Connection


def stored(conn: Connection, column: str) -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM linx_connection WHERE id = %s", [conn.pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_secret_round_trips_and_is_never_stored_in_clear(connection):
    raw = stored(connection, "procore_client_secret")
    assert raw and "procore-secret-value-acme" not in raw
    assert (
        Connection.objects.get(pk=connection.pk).procore_client_secret
        == "procore-secret-value-acme"
    )


def test_empty_secret_means_not_set(db):
    conn = Connection.objects.create(name="empty")
    assert stored(conn, "exaktime_api_key") == ""
    assert Connection.objects.get(pk=conn.pk).exaktime_api_key == ""


def test_secrets_are_left_out_of_serialized_dumps(connection, capsys):
    call_command("dumpdata", "linx.connection")
    dump = capsys.readouterr().out
    assert "procore-secret-value-acme" not in dump
    assert stored(connection, "procore_client_secret") not in dump


def test_rotation_re_encrypts_under_the_newest_key(connection, settings):
    old_keys = list(settings.LINX_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.LINX_ENCRYPTION_KEYS = [new_key, *old_keys]
    call_command("linx_rotate_keys")

    # Only the new key is needed now: the old ones can be dropped.
    settings.LINX_ENCRYPTION_KEYS = [new_key]
    fresh = Connection.objects.get(pk=connection.pk)
    assert fresh.procore_client_secret == "procore-secret-value-acme"
    assert fresh.exaktime_api_key == "exaktime-key-value-acme"
    assert Fernet(new_key).decrypt(stored(connection, "exaktime_api_key").encode())


def test_a_wrong_key_fails_loudly_naming_the_field(connection, settings):
    settings.LINX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretDecryptionError, match=r"linx\.Connection\.procore_client_secret"):
        Connection.objects.get(pk=connection.pk)


def test_rotation_with_a_missing_key_changes_nothing(connection, settings):
    before = stored(connection, "procore_client_secret")
    settings.LINX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("linx_rotate_keys")
    assert stored(connection, "procore_client_secret") == before


def test_encryption_key_is_not_derived_from_secret_key(settings):
    token = Fernet(settings.LINX_ENCRYPTION_KEYS[0]).encrypt(b"x").decode()
    settings.SECRET_KEY = "something else entirely, which must not matter at all"
    assert decrypt(token) == "x"
