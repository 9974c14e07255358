"""Second-factor seeds stored before Linx encrypted them are encrypted in place."""

from django.db import migrations

from linx.mfa_secrets import decrypt_if_encrypted, encrypt_if_plain, map_seeds


def _each(apps, change) -> None:
    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.all():
        authenticator.data = map_seeds(authenticator.data, change)
        authenticator.save(update_fields=["data"])


def encrypt(apps, schema_editor):
    _each(apps, encrypt_if_plain)


def decrypt(apps, schema_editor):
    _each(apps, decrypt_if_encrypted)


class Migration(migrations.Migration):
    dependencies = [
        ("linx", "0012_preview_applies_once"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt, decrypt)]
