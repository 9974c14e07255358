"""Django's `dumpdata`, leaving out second-factor authenticators.

Their seeds stay in the database, encrypted; a fixture file is no place for them, even
encrypted. A staff member restored from such a file sets up the authenticator again.
"""

from __future__ import annotations

from django.core.management.commands import dumpdata


class Command(dumpdata.Command):
    help = dumpdata.Command.help + " Second-factor authenticators are always left out."

    def handle(self, *app_labels, **options):
        options["exclude"] = [*(options.get("exclude") or []), "mfa.Authenticator"]
        return super().handle(*app_labels, **options)
