"""Second-factor seeds at rest: TOTP secrets and recovery-code seeds, encrypted.

allauth keeps them in the authenticator's `data` and passes each one through the MFA
adapter's encrypt/decrypt hooks. Linx's adapter encrypts them with LINX_ENCRYPTION_KEYS
like every other secret, so a copy of the database holds no seed in clear and
`linx_rotate_keys` re-encrypts them with the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from allauth.mfa.adapter import DefaultMFAAdapter

from linx import encryption

#: Fernet tokens are base64 of a version byte 0x80: they all begin so. TOTP secrets
#: (base32, upper case) and recovery seeds (hex) never do.
_FERNET_PREFIX = "gAAAAA"


class StaffMFAAdapter(DefaultMFAAdapter):
    """allauth's MFA adapter, with seeds encrypted at rest under Linx's keys."""

    def encrypt(self, text: str) -> str:
        return encryption.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return encryption.decrypt(encrypted_text, what="a second-factor seed")


def map_seeds(data: dict, change: Callable[[str], str]) -> dict:
    """`data` of an authenticator with `change` applied to each seed it holds."""
    data = dict(data)
    for key in ("secret", "seed"):  # TOTP; recovery codes
        if isinstance(data.get(key), str):
            data[key] = change(data[key])
    if isinstance(data.get("migrated_codes"), list):  # recovery codes from django-allauth-2fa
        data["migrated_codes"] = [change(code) for code in data["migrated_codes"]]
    return data


def encrypt_if_plain(value: str) -> str:
    return value if value.startswith(_FERNET_PREFIX) else encryption.encrypt(value)


def decrypt_if_encrypted(value: str) -> str:
    if not value.startswith(_FERNET_PREFIX):
        return value
    return encryption.decrypt(value, what="a second-factor seed")


def rotate_all(authenticators) -> int:
    """Re-encrypt every seed of `authenticators` (a queryset) under the newest key."""
    rotated: list[str] = []

    def rotate(token: str, what: str) -> str:
        rotated.append(token)
        return encryption.rotate(token, what=what)

    for pk, data in authenticators.values_list("pk", "data"):
        what = f"the second-factor seed of authenticator {pk}"
        authenticators.filter(pk=pk).update(data=map_seeds(data, partial(rotate, what=what)))
    return len(rotated)
