"""Secrets at rest: a model field that stores Fernet ciphertext, never the plain value.

Keys come from LINX_ENCRYPTION_KEYS (newest first). New values are encrypted with the
newest key; any listed key decrypts, so keys can be rotated: add a new key at the front,
run `manage.py linx_rotate_keys`, then drop the old key. A value no listed key opens is
an error, never an empty secret.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any of LINX_ENCRYPTION_KEYS."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    """The MultiFernet for the configured keys (cached per key list)."""
    return _fernet(tuple(settings.LINX_ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode("ascii")


def decrypt(token: str, *, what: str = "a stored secret") -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            f"Cannot decrypt {what}: none of the keys in LINX_ENCRYPTION_KEYS opens it. "
            "Put back the key it was encrypted with (keys are listed newest first)."
        ) from None


def rotate(token: str, *, what: str = "a stored secret") -> str:
    """The same secret re-encrypted under the newest key."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretDecryptionError(
            f"Cannot re-encrypt {what}: none of the keys in LINX_ENCRYPTION_KEYS opens it."
        ) from None


class EncryptedTextField(models.TextField):
    """Holds a secret string; the database column only ever sees ciphertext.

    Empty means "not set" and is stored as an empty string, so "set" / "not set" can be
    shown without decrypting anything.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", True)
        super().__init__(*args, **kwargs)

    def _what(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.label}.{self.name}" if model else self.name

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        return decrypt(value, what=self._what())

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return encrypt(value)

    def value_to_string(self, obj):
        # Serialization (dumpdata) must not write secrets out in clear.
        return ""


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every (model, [field names]) pair that stores an encrypted secret."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found
