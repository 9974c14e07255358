"""Create (or update) a staff account that can log in straight away."""

from __future__ import annotations

import getpass
import os

from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from linx.models import User


class Command(BaseCommand):
    help = (
        "Create a staff account with a verified email address, ready to log in. The "
        "password is read from LINX_STAFF_PASSWORD or asked for; it is never an argument."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--superuser", action="store_true", help="All permissions.")
        parser.add_argument(
            "--update", action="store_true", help="Reset the password of an existing account."
        )

    def handle(self, *args, email: str, superuser: bool, update: bool, **options):
        email = User.objects.normalize_email(email).lower()
        existing = User.objects.filter(email=email).first()
        if existing and not update:
            raise CommandError(f"{email} already has an account. Use --update to reset it.")
        password = os.environ.get("LINX_STAFF_PASSWORD") or self._ask_password()
        user = existing or User(email=email)
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from None
        with transaction.atomic():
            user.is_staff = True
            user.is_active = True
            user.is_superuser = superuser or user.is_superuser
            user.set_password(password)
            user.save()
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
        action = "Updated" if existing else "Created"
        role = "superuser" if user.is_superuser else "staff user"
        self.stdout.write(f"{action} {role} {email}. Log in at /accounts/login/.")

    def _ask_password(self) -> str:
        if not os.isatty(0):
            raise CommandError("Set LINX_STAFF_PASSWORD, or run this in a terminal to be asked.")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        return first
