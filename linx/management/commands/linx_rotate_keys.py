"""Re-encrypt every stored secret under the newest of LINX_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from linx import mfa_secrets
from linx.encryption import SecretDecryptionError, encrypted_fields, rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of LINX_ENCRYPTION_KEYS. Run it "
        "after putting a new key first; then the old keys can be removed."
    )

    def handle(self, *args, **options):
        total = 0
        with transaction.atomic():
            for model, names in encrypted_fields():
                table = connection.ops.quote_name(model._meta.db_table)
                pk = connection.ops.quote_name(model._meta.pk.column)
                for name in names:
                    column = connection.ops.quote_name(model._meta.get_field(name).column)
                    # Raw SQL: the ciphertext is rotated as it is, never loaded into a model.
                    with connection.cursor() as cursor:
                        cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
                        rows = cursor.fetchall()
                    for key, token in rows:
                        what = f"{model._meta.label} {key} {name}"
                        try:
                            fresh = rotate(token, what=what)
                        except SecretDecryptionError as error:
                            raise CommandError(f"{error} Nothing was changed.") from None
                        with connection.cursor() as cursor:
                            cursor.execute(
                                f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                                [fresh, key],
                            )
                        total += 1
            total += self._rotate_second_factor_seeds()
        self.stdout.write(f"Re-encrypted {total} secret(s) under the newest key.")

    def _rotate_second_factor_seeds(self) -> int:
        from allauth.mfa.models import Authenticator

        try:
            return mfa_secrets.rotate_all(Authenticator.objects.all())
        except SecretDecryptionError as error:
            raise CommandError(f"{error} Nothing was changed.") from None
