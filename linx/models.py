"""Linx's domain: connections, their Procore reference data, mappings, runs and row results.

Rules that keep the data true are constraints in the database, not only in forms: one
mapping per record on each side, one selected fieldset, at most five selected custom
fields of supported types, at most one running run of a kind per connection.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from linx.encryption import EncryptedTextField
from linx.service_urls import validate_service_url

audit_log = logging.getLogger("linx.audit")

# --- Staff ----------------------------------------------------------------------------


class StaffUserManager(UserManager):
    """Users are found and created by email address; there is no user name."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("A staff user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A member of the operations staff. Logs in with an email address."""

    username = None
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = StaffUserManager()

    def __str__(self) -> str:
        return self.email


# --- Connections ----------------------------------------------------------------------


class ProcoreAuthMode(models.TextChoices):
    CLIENT_CREDENTIALS = "client_credentials", "Client credentials (service account)"
    AUTHORIZATION_CODE = "authorization_code", "Authorization code (Connect button)"


class TimeEntryMode(models.TextChoices):
    HOURS = "hours", "Total hours"
    START_STOP = "start_stop", "Start/stop times"


#: A connection's secrets, and how people name them.
SECRET_NAMES = {
    "procore_client_secret": "Procore client secret",
    "exaktime_api_key": "ExakTime API key",
}

#: Per service: the URL fields that say where it is, and the secrets and tokens that
#: belong to it. A secret follows its service: see `Connection.save`.
SERVICE_SECRETS = {
    "Procore": (
        ("procore_login_url", "procore_api_url"),
        ("procore_client_secret", "procore_access_token", "procore_refresh_token"),
    ),
    "ExakTime": (("exaktime_api_url",), ("exaktime_api_key",)),
}


class Connection(models.Model):
    """One Procore company linked to one ExakTime account, with its sync settings."""

    #: Who is changing the connection, for the audit trail (set by the admin and commands).
    changed_by: str | None = None
    #: The secret fields the last save cleared because their service's URL changed.
    cleared_secrets: tuple[str, ...] = ()
    #: Whether the last save switched near-real-time import off: it moved to another Procore.
    hook_forgotten = False

    name = models.SlugField(
        max_length=100,
        unique=True,
        help_text="Short name used on the command line, e.g. acme-builders.",
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive connections are skipped by schedules."
    )

    # Procore
    procore_login_url = models.URLField(
        "Procore login URL",
        default="https://login.procore.com",
        max_length=300,
        validators=[validate_service_url],
    )
    procore_api_url = models.URLField(
        "Procore API URL",
        default="https://api.procore.com",
        max_length=300,
        validators=[validate_service_url],
    )
    procore_auth_mode = models.CharField(
        "Procore sign-in",
        max_length=32,
        choices=ProcoreAuthMode,
        default=ProcoreAuthMode.CLIENT_CREDENTIALS,
    )
    procore_client_id = models.CharField("Procore client ID", max_length=200, blank=True)
    procore_client_secret = EncryptedTextField("Procore client secret")
    procore_company_id = models.BigIntegerField("Procore company ID", null=True, blank=True)
    procore_company_name = models.CharField(max_length=200, blank=True)
    procore_access_token = EncryptedTextField(editable=False)
    procore_refresh_token = EncryptedTextField(editable=False)
    procore_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Who is renewing the token, and until when: a lease claimed by compare-and-set
    # (linx.clients), so renewal needs no transaction held across Procore's answer.
    procore_token_lease_owner = models.CharField(max_length=100, blank=True, editable=False)
    procore_token_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    # ExakTime
    exaktime_api_url = models.URLField(
        "ExakTime API URL",
        default="https://api.arcoro.com",
        max_length=300,
        validators=[validate_service_url],
    )
    exaktime_api_key = EncryptedTextField("ExakTime API key")

    # Import settings (SyncLinx's Employee Import and Sub-jobs Import tabs)
    crews_as_groups = models.BooleanField("import crews as employee mobile groups", default=False)
    import_sub_jobs = models.BooleanField("import sub-jobs as locations", default=False)
    projects_as_groups = models.BooleanField(
        "create projects as location mobile groups", default=False
    )
    projects_as_categories = models.BooleanField(
        "create projects as location categories", default=False
    )
    full_import_every = models.DurationField(
        "read everything again at least every",
        default=timezone.timedelta(hours=24),
        help_text="Between full passes, imports read only workers and projects that Procore "
        "says changed; a full pass also finds records deleted or deactivated in Procore.",
    )
    import_bookmarks = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text='Per entity: {"since": when the last complete import started, "full": '
        "when the last complete full pass started}.",
    )
    preimport_max_age = models.DurationField(
        "re-run pre-import when older than",
        default=timezone.timedelta(hours=24),
        help_text="Import and export run the pre-import first when its data is older than this.",
    )

    # Export settings (AccountLinx)
    time_type_regular = models.CharField(
        "time type for regular hours", max_length=20, default="REG"
    )
    time_type_ot1 = models.CharField("time type for OT1 hours", max_length=20, default="OT")
    time_type_ot2 = models.CharField("time type for OT2 hours", max_length=20, default="DT")
    time_entry_mode = models.CharField(
        max_length=20, choices=TimeEntryMode, default=TimeEntryMode.HOURS
    )
    export_approved_only = models.BooleanField(
        "export approved time records only by default", default=False
    )

    # Unattended operation
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text='The company\'s time zone: schedules fire and "yesterday" is counted in it.',
    )
    alert_emails = models.CharField(
        "alert email addresses",
        max_length=500,
        blank=True,
        help_text="Comma-separated. Told when a scheduled run fails, and again while it keeps failing.",
    )

    # Near-real-time import: Procore tells Linx what changed (see linx/sync/webhooks.py)
    webhooks_enabled = models.BooleanField(
        "near-real-time import (Procore webhooks)",
        default=False,
        help_text="Procore tells Linx when a worker or project changes, and Linx imports it "
        "within seconds. Scheduled imports keep running: they catch what a notice missed. "
        "Switch on with the connection's webhooks action or `linx_connection webhooks "
        "NAME --install`.",
    )
    #: The random part of the address Procore delivers to: it names no connection.
    webhook_path_id = models.CharField(max_length=64, blank=True, editable=False)
    #: What Procore sends in the Authorization header; rotated by every install.
    webhook_secret = EncryptedTextField("webhook secret", editable=False)
    webhook_hook_id = models.BigIntegerField(null=True, blank=True, editable=False)
    webhook_last_event_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: When an apply of waiting events was handed to the queue (one at a time, so a
    #: burst of notices becomes one run); cleared when that apply takes the events.
    webhook_apply_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: What the last check of the hook found wrong ("" when healthy), and when.
    webhook_problem = models.TextField(blank=True, editable=False)
    webhook_checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    preimported_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        """Save; a service whose URL changed loses its secrets and tokens in the same save.

        Secrets are write-only, so repointing a URL at a listener and pressing "Test
        connection" would otherwise be a way to read them. A secret entered anew in this
        save (a value other than the stored one, or one given to `enter_secret`) is kept.
        """
        update_fields = kwargs.get("update_fields")
        cleared, forgotten = (), ()
        if self.pk is not None and not self._state.adding:
            cleared = self._clear_secrets_of_moved_services(update_fields)
            forgotten = self._forget_hook_of_another_procore(update_fields)
            if (cleared or forgotten) and update_fields is not None:
                kwargs["update_fields"] = {*update_fields, *cleared, *forgotten}
        super().save(*args, **kwargs)
        self.hook_forgotten = bool(forgotten)
        self.cleared_secrets = tuple(f for f in cleared if f != "procore_token_expires_at")
        self._entered_secrets = set()
        if event := getattr(self, "_move_event", None):
            # Recorded once the save went through, so a refused save leaves no trace.
            event.save()
            self._move_event = None

    def clean(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                {"time_zone": f"{self.time_zone!r} is not a time zone; write e.g. America/Chicago."}
            ) from None
        for address in self.alert_addresses():
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    {"alert_emails": f"{address!r} is not an email address."}
                ) from None

    def enter_secret(self, field: str, value: str) -> None:
        """Set a secret a person typed: it stays even when the same save moves its service."""
        setattr(self, field, value)
        self._entered_secrets = {*getattr(self, "_entered_secrets", ()), field}

    def _clear_secrets_of_moved_services(self, update_fields) -> tuple[str, ...]:
        url_fields = [url for urls, _ in SERVICE_SECRETS.values() for url in urls]
        if update_fields is not None:
            url_fields = [f for f in url_fields if f in update_fields]
        if not url_fields:
            return ()
        stored = Connection.objects.filter(pk=self.pk).values(*url_fields).first()
        if stored is None:
            return ()
        moved = [f for f in url_fields if getattr(self, f) != stored[f]]
        if not moved:
            return ()
        secret_fields = [
            secret
            for urls, secrets in SERVICE_SECRETS.values()
            if set(urls) & set(moved)
            for secret in secrets
        ]
        stored.update(Connection.objects.filter(pk=self.pk).values(*secret_fields).get())
        entered = getattr(self, "_entered_secrets", set())
        cleared = [
            f
            for f in secret_fields
            if getattr(self, f) and f not in entered and getattr(self, f) == stored[f]
        ]
        for field in cleared:
            setattr(self, field, "")
        if "procore_access_token" in cleared:
            self.procore_token_expires_at = None
            cleared.append("procore_token_expires_at")
        self._audit_move(moved, stored, cleared)
        return tuple(cleared)

    #: Near-real-time import's installed state, as `webhook_hooks.remove` leaves it.
    HOOK_UNINSTALLED = {
        "webhooks_enabled": False,
        "webhook_secret": "",
        "webhook_hook_id": None,
        "webhook_problem": "",
        "webhook_checked_at": None,
    }

    def _forget_hook_of_another_procore(self, update_fields) -> tuple[str, ...]:
        """A hook and its secret belong to one company at one Procore address: when
        either changes, near-real-time import is switched off until installed again."""
        watched = ["procore_api_url", "procore_company_id"]
        if update_fields is not None:
            watched = [f for f in watched if f in update_fields]
        if not watched:
            return ()
        hooked = ("webhooks_enabled", "webhook_secret", "webhook_hook_id")
        stored = Connection.objects.filter(pk=self.pk).values(*watched, *hooked).first()
        if stored is None or not any(stored[f] for f in hooked):
            return ()
        if all(getattr(self, f) == stored[f] for f in watched):
            return ()
        for field, value in self.HOOK_UNINSTALLED.items():
            setattr(self, field, value)
        return tuple(self.HOOK_UNINSTALLED)

    def _audit_move(self, moved: list[str], stored: dict, cleared: list[str]) -> None:
        # URLs carry no credentials (validate_service_url), so they may be logged; the
        # secrets are named, never shown.
        who = self.changed_by or "a direct save of the model"
        audit_log.warning(
            "Connection %s: %s changed by %s; cleared %s.",
            self.name,
            ", ".join(f"{f} {stored[f]} -> {getattr(self, f)}" for f in moved),
            who,
            ", ".join(cleared) or "nothing (new secrets were entered)",
        )
        self._move_event = AuditEvent(
            actor_name=who,
            connection=self,
            action=AuditAction.SECRETS_CLEARED,
            target=f"Connection {self.name}",
            details={
                "moved": {f: [stored[f], getattr(self, f)] for f in moved},
                "cleared": list(cleared),
            },
        )

    def forget_procore_token(self) -> None:
        """Drop the Procore sign-in token (saved with the connection).

        A token belongs to the app and login host that issued it: changing either makes
        it useless, and the next run signs in again.
        """
        self.procore_access_token = self.procore_refresh_token = ""
        self.procore_token_expires_at = None

    def cleared_secrets_message(self) -> str:
        """What the last save cleared, and what to do about it; empty when nothing was."""
        typed = [
            str(self._meta.get_field(f).verbose_name)
            for f in self.cleared_secrets
            if f in ("procore_client_secret", "exaktime_api_key")
        ]
        parts = [
            f"The {name} was cleared because the URL changed: enter it again." for name in typed
        ]
        if "procore_access_token" in self.cleared_secrets:
            parts.append("The Procore sign-in token was cleared too: sign in (Connect) again.")
        if self.hook_forgotten:
            parts.append(
                "Near-real-time import was switched off: its Procore hook and secret belonged "
                "to the previous Procore address or company. Install it again with `linx_connection "
                f"webhooks {self.name} --install` (or the connection's \"Switch on near-real-time "
                'import" action).'
            )
        return " ".join(parts)

    def alert_addresses(self) -> list[str]:
        return [a.strip() for a in self.alert_emails.split(",") if a.strip()]

    def missing_secrets(self) -> list[str]:
        """The secrets every run needs that are not set, as people name them.

        Both sign-in modes need the client secret (the authorization-code flow to renew
        its token); ExakTime always needs its API key.
        """
        return [label for name, label in SECRET_NAMES.items() if not getattr(self, name)]

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def last_complete_week(self, now=None) -> tuple[date, date]:
        """Monday and Sunday of the last week that has ended in the company's time zone:
        what an export covers unless a person says otherwise."""
        today = (now or timezone.now()).astimezone(self.zone).date()
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)

    def selected_fieldset(self) -> Fieldset | None:
        return self.fieldsets.filter(selected=True).first()

    def selected_custom_fields(self) -> models.QuerySet[CustomField]:
        return self.custom_fields.filter(selected_slot__isnull=False).order_by("selected_slot")

    @transaction.atomic
    def select_fieldset(self, fieldset: Fieldset | None) -> None:
        """Make ``fieldset`` the one fieldset Linx uses (``None``: no custom fields)."""
        if fieldset is not None and fieldset.connection_id != self.pk:
            raise ValidationError(f"Fieldset {fieldset} belongs to another connection.")
        self.fieldsets.filter(selected=True).update(selected=False)
        if fieldset is not None:
            fieldset.selected = True
            fieldset.save(update_fields=["selected"])
            # Fields outside the new fieldset can no longer be used.
            self.custom_fields.exclude(procore_id__in=fieldset.field_ids).update(selected_slot=None)
        else:
            self.custom_fields.update(selected_slot=None)

    @transaction.atomic
    def select_custom_fields(self, fields: list[CustomField]) -> None:
        """Choose the custom fields Linx carries, replacing the previous choice.

        Refuses, with a message naming the field, more than five fields, unsupported
        types, fields of another connection and fields outside the selected fieldset.
        """
        if len(fields) > CustomField.MAX_SELECTED:
            raise ValidationError(
                f"{len(fields)} custom fields chosen, but at most {CustomField.MAX_SELECTED} "
                "can be carried. Remove some from the selection."
            )
        fieldset = self.selected_fieldset()
        for field in fields:
            if field.connection_id != self.pk:
                raise ValidationError(
                    f"Custom field {field.label!r} belongs to another connection."
                )
            field.check_selectable(fieldset)
        self.custom_fields.update(selected_slot=None)
        for slot, field in enumerate(fields, start=1):
            field.selected_slot = slot
            field.save(update_fields=["selected_slot"])


# --- Procore reference data (pre-import) ----------------------------------------------


class Fieldset(models.Model):
    """A Procore timesheet fieldset. One per connection may be selected."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="fieldsets")
    procore_id = models.BigIntegerField("Procore ID")
    name = models.CharField(max_length=255)
    field_ids = models.JSONField(
        default=list, blank=True, help_text="Procore custom field definition ids."
    )
    selected = models.BooleanField(default=False)
    gone_from_procore = models.BooleanField(
        default=False, help_text="Not listed by Procore at the last pre-import."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "procore_id"],
                name="fieldset_unique_per_connection",
                violation_error_message="This Procore fieldset is already listed for the connection.",
            ),
            models.UniqueConstraint(
                fields=["connection"],
                condition=Q(selected=True),
                name="one_selected_fieldset_per_connection",
                violation_error_message=(
                    "Only one fieldset can be selected per connection. Unselect the other first."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CustomFieldType(models.TextChoices):
    """Procore custom field ``data_type`` values; Linx carries the first four."""

    TEXT = "string", "Plain text (short, 255 characters)"
    DATE = "date", "Date"
    CHECKBOX = "boolean", "Checkbox"
    SELECT = "lov_entry", "Single select"


SUPPORTED_CUSTOM_FIELD_TYPES = frozenset(CustomFieldType.values)
#: Procore's other custom field types, in the words its own screens use.
OTHER_CUSTOM_FIELD_TYPES = {
    "lov_entries": "Multiple select",
    "text": "Long text",
    "integer": "Whole number",
    "decimal": "Number",
    "number": "Number",
    "datetime": "Date and time",
    "login_information": "Person",
}


class CustomField(models.Model):
    """A Procore timesheet custom field definition, possibly carried into ExakTime.

    Selection is a numbered slot (1 to 5) unique per connection: that is how the
    database itself holds the limit of five selected fields.
    """

    MAX_SELECTED = 5

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="custom_fields"
    )
    procore_id = models.BigIntegerField("Procore ID")
    label = models.CharField(max_length=255)
    data_type = models.CharField(
        max_length=50, help_text="Procore's data type; only four types can be selected."
    )
    options = models.JSONField(
        default=list, blank=True, help_text='Single-select options: [{"id": .., "label": ..}].'
    )
    active = models.BooleanField(default=True)
    selected_slot = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    exaktime_id = models.BigIntegerField("ExakTime ID", null=True, blank=True)
    gone_from_procore = models.BooleanField(
        default=False, help_text="Not listed by Procore at the last pre-import."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "procore_id"],
                name="custom_field_unique_per_connection",
                violation_error_message="This Procore custom field is already listed.",
            ),
            models.UniqueConstraint(
                fields=["connection", "selected_slot"],
                name="custom_field_slot_unique",
                violation_error_message="That custom field slot is already taken.",
            ),
            models.CheckConstraint(
                condition=Q(selected_slot__isnull=True)
                | Q(selected_slot__gte=1, selected_slot__lte=5),
                name="at_most_five_selected_custom_fields",
                violation_error_message="At most 5 custom fields can be selected.",
            ),
            models.CheckConstraint(
                condition=Q(selected_slot__isnull=True)
                | Q(data_type__in=sorted(SUPPORTED_CUSTOM_FIELD_TYPES)),
                name="selected_custom_field_supported_type",
                violation_error_message=(
                    "Only plain text, date, checkbox and single select custom fields can be "
                    "selected."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def supported(self) -> bool:
        return self.data_type in SUPPORTED_CUSTOM_FIELD_TYPES

    @property
    def type_in_words(self) -> str:
        """The field's type as Procore's screens name it, not its API value."""
        if self.supported:
            return CustomFieldType(self.data_type).label
        words = OTHER_CUSTOM_FIELD_TYPES.get(self.data_type)
        return words or self.data_type.replace("_", " ").capitalize()

    @property
    def selected(self) -> bool:
        return self.selected_slot is not None

    def check_selectable(self, fieldset: Fieldset | None) -> None:
        """Raise ``ValidationError`` saying why this field cannot be selected, if it cannot."""
        if not self.supported:
            raise ValidationError(
                f"Custom field {self.label!r} is of type {self.data_type!r}, which Linx cannot "
                "carry. Choose plain text, date, checkbox or single select fields."
            )
        if fieldset is None:
            raise ValidationError(
                f"Select a timesheet fieldset before choosing custom field {self.label!r}."
            )
        if self.procore_id not in fieldset.field_ids:
            raise ValidationError(
                f"Custom field {self.label!r} is not in the selected fieldset {fieldset.name!r}."
            )
        if self.gone_from_procore:
            raise ValidationError(
                f"Custom field {self.label!r} is no longer in Procore. Re-run the pre-import."
            )


# --- Mappings -------------------------------------------------------------------------


class EntityType(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    LOCATION = "location", "Location"
    SUB_JOB = "sub_job", "Sub-job location"
    COST_CODE = "cost_code", "Cost code"
    CREW = "crew", "Crew / employee group"
    LOCATION_GROUP = "location_group", "Location group"
    LOCATION_CATEGORY = "location_category", "Location category"
    CUSTOM_FIELD = "custom_field", "Custom field"
    WORK_CLASSIFICATION = "work_classification", "Work classification"
    TIME_TYPE = "time_type", "Time type"
    # A row of an export is about its source, an ExakTime time record.
    TIME_RECORD = "time_record", "Time record"


class EntityMapping(models.Model):
    """The link between one Procore record and one ExakTime record.

    Matching is on these stored ids, never on names. ``exaktime_id`` is text (once it
    also held the export ledger's ``origin_id``s, now ``ExportLedgerLine``s). Reference
    data with no ExakTime record (work classifications, time types) has none.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="mappings")
    entity_type = models.CharField(max_length=32, choices=EntityType)
    procore_id = models.BigIntegerField("Procore ID", null=True, blank=True)
    # NULL, not "": many mappings have no ExakTime side yet and must not clash as equal.
    exaktime_id = models.CharField("ExakTime ID", max_length=64, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(max_length=255, blank=True, help_text="As last seen, for people.")
    fingerprint = models.CharField(
        max_length=64, blank=True, help_text="Hash of what Linx last wrote; unchanged → no write."
    )
    revision = models.BigIntegerField(
        null=True, blank=True, help_text="ExakTime time record revision last exported."
    )
    data = models.JSONField(default=dict, blank=True)
    ignored = models.BooleanField(
        default=False, help_text="Ignored on import: imports skip this Procore record."
    )
    ignored_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ignored_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "entity_type", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "entity_type", "procore_id"],
                name="mapping_unique_procore_record",
                violation_error_message=(
                    "This Procore record is already linked to an ExakTime record. Unlink it first."
                ),
            ),
            models.UniqueConstraint(
                fields=["connection", "entity_type", "exaktime_id"],
                name="mapping_unique_exaktime_record",
                violation_error_message=(
                    "This ExakTime record is already linked to a Procore record. Unlink it first."
                ),
            ),
            models.CheckConstraint(
                condition=Q(procore_id__isnull=False) | Q(exaktime_id__isnull=False),
                name="mapping_has_a_side",
                violation_error_message="A mapping needs a Procore ID or an ExakTime ID.",
            ),
        ]
        indexes = [
            models.Index(fields=["connection", "entity_type", "ignored"]),
            models.Index(fields=["entity_type"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_type_display()} {self.name or self.procore_id}"

    # --- What ``data`` holds, by name: the facts imports and the pre-import keep ------

    #: Each fact's property name → its key in the stored ``data`` JSON.
    DATA_KEYS = {
        "last_written": "fields",
        "project_id": "project",
        "work_classification_id": "work_classification_id",
        "full_code": "full_code",
        "crew_ids": "crew_ids",
        "crew_projects": "crew_projects",
        "division_id": "division",
        "abbreviation": "abbreviation",
        "is_global": "global",
        "exaktime_missing_at": "exaktime_missing_at",
        "last_code": "code",
    }

    @classmethod
    def data_of(cls, **facts: Any) -> dict[str, Any]:
        """``data`` as stored for these facts, given by their property names."""
        unknown = facts.keys() - cls.DATA_KEYS.keys()
        if unknown:
            raise TypeError(f"EntityMapping keeps no fact named {', '.join(sorted(unknown))}.")
        return {cls.DATA_KEYS[name]: value for name, value in facts.items()}

    def updated_data(self, **facts: Any) -> dict[str, Any]:
        """This mapping's ``data`` with these facts set (a copy: the caller saves it)."""
        return {**(self.data or {}), **self.data_of(**facts)}

    def data_without(self, *names: str) -> dict[str, Any]:
        """This mapping's ``data`` without these facts (a copy: the caller saves it)."""
        keys = {self.DATA_KEYS[name] for name in names}
        return {k: v for k, v in (self.data or {}).items() if k not in keys}

    @property
    def last_written(self) -> dict[str, Any]:
        """The fields Linx last wrote to the ExakTime twin (labels as ExakTime has them)."""
        return (self.data or {}).get(self.DATA_KEYS["last_written"]) or {}

    @property
    def last_code(self) -> str | None:
        """The ID/code a twin carried before it was unlinked (auto-link looks for it)."""
        return (self.data or {}).get(self.DATA_KEYS["last_code"])

    @property
    def identifier(self) -> str | None:
        """A project's number, as last written to its ExakTime location."""
        return self.last_written.get("identifier")

    @property
    def project_id(self) -> int | None:
        """A sub-job's Procore project."""
        return (self.data or {}).get(self.DATA_KEYS["project_id"])

    @property
    def work_classification_id(self) -> int | None:
        """The classification an employee's hours are booked with."""
        return (self.data or {}).get(self.DATA_KEYS["work_classification_id"])

    @property
    def full_code(self) -> str | None:
        """A standard cost code's full code, how a project's own code is found."""
        return (self.data or {}).get(self.DATA_KEYS["full_code"])

    @property
    def crew_ids(self) -> list[int]:
        """The Procore crews an ExakTime employee group stands for (one, unless merged)."""
        return (self.data or {}).get(self.DATA_KEYS["crew_ids"], [self.procore_id])

    @property
    def crew_projects(self) -> dict[int, int]:
        """A group's crews' Procore projects, by crew (a webhook import reads them one by one)."""
        stored = (self.data or {}).get(self.DATA_KEYS["crew_projects"]) or {}
        return {int(crew): project for crew, project in stored.items()}

    @property
    def division_id(self) -> int | None:
        """The division a standard cost code was last imported under."""
        return (self.data or {}).get(self.DATA_KEYS["division_id"])

    @property
    def abbreviation(self) -> str | None:
        """A time type's or work classification's abbreviation."""
        return (self.data or {}).get(self.DATA_KEYS["abbreviation"])

    @property
    def is_global(self) -> bool:
        """A time type every project has."""
        return bool((self.data or {}).get(self.DATA_KEYS["is_global"]))

    @property
    def exaktime_missing_at(self) -> str | None:
        """When "check in ExakTime" last found the twin gone (ISO time), if it did."""
        return (self.data or {}).get(self.DATA_KEYS["exaktime_missing_at"])


# --- The export ledger ----------------------------------------------------------------


class EntryKind(models.TextChoices):
    """The hour kinds of a time record; each with hours becomes its own timecard entry."""

    REGULAR = "regular", "regular"
    OT1 = "ot1", "OT1"
    OT2 = "ot2", "OT2"


class LineState(models.TextChoices):
    # Pending: written before the create was sent, so its outcome may be unknown.
    PENDING = "pending", "Pending"
    DONE = "done", "Done"


class ExportLedgerLine(models.Model):
    """One Procore timecard entry Linx created, or is creating, for one hour kind of one
    ExakTime time record: what makes the export exactly once (see ``linx.sync.ledger``).

    ``origin_id`` (``<time record id>-<kind>``) is what the entry carries in Procore. A
    pending line has no ``procore_id`` yet; ``work_date`` and ``party_id`` are where to
    look the entry up, ``fields`` what was last sent.
    """

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="export_lines"
    )
    origin_id = models.CharField(max_length=64)
    time_record_id = models.BigIntegerField("ExakTime time record ID")
    kind = models.CharField(max_length=16, choices=EntryKind)
    procore_id = models.BigIntegerField("Procore timecard entry ID", null=True, blank=True)
    state = models.CharField(max_length=16, choices=LineState, default=LineState.PENDING)
    work_date = models.DateField(null=True, blank=True)
    party_id = models.BigIntegerField("Procore worker ID", null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="The entry as last sent.")
    fingerprint = models.CharField(max_length=64, blank=True)
    revision = models.BigIntegerField(
        null=True, blank=True, help_text="ExakTime time record revision last exported."
    )
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "origin_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "origin_id"], name="export_line_unique_origin"
            ),
        ]

    def __str__(self) -> str:
        return f"time record {self.time_record_id} {EntryKind(self.kind).label}"


# --- Procore project reference data --------------------------------------------------


class ReferenceKind(models.TextChoices):
    COST_CODES = "cost_codes", "Project cost codes"
    SUB_JOBS = "sub_jobs", "Sub-jobs"


class ProjectReference(models.Model):
    """One Procore project's cost codes or sub-jobs as last read, kept per connection so
    exports (and imports) reuse them instead of reading them on every run.

    ``data`` holds only what resolving a time record needs: for cost codes, the project's
    code ids by standard cost code id and by full code (deleted codes left out); for
    sub-jobs, the ids of the active ones. ``read_at`` says how old it is; past
    ``LINX_REFERENCE_MAX_AGE_MINUTES`` it is read again before a new or changed record
    is resolved against it.
    """

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="project_references"
    )
    project_id = models.BigIntegerField("Procore project ID")
    kind = models.CharField(max_length=16, choices=ReferenceKind)
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField()

    class Meta:
        ordering = ["connection", "project_id", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "project_id", "kind"], name="project_reference_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{ReferenceKind(self.kind).label} of project {self.project_id}"


# --- Runs -----------------------------------------------------------------------------


class RunKind(models.TextChoices):
    PREIMPORT = "preimport", "Pre-import"
    IMPORT = "import", "Import"
    EXPORT = "export", "Export"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partially failed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


class FailureKind(models.TextChoices):
    """Why a run stopped before going through every record (blank: it did not)."""

    CONFIGURATION = "configuration", "Settings need a fix"
    AUTHENTICATION = "authentication", "Sign-in refused"
    UNAVAILABLE = "unavailable", "Service did not answer"
    RATE_LIMITED = "rate_limited", "Rate limited"
    DATA = "data", "Data refused"
    STOPPED = "stopped", "Stopped"
    CRASHED = "crashed", "Linx stopped unexpectedly"
    OTHER = "other", "Stopped early"


FINISHED_STATUSES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.PARTIAL,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.SKIPPED,
    }
)


class RunTrigger(models.TextChoices):
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command line / cron"
    SCHEDULE = "schedule", "Schedule"
    RERUN = "rerun", "Re-run of failed rows"
    AUTOMATIC = "automatic", "Automatic (before import or export)"
    WEBHOOK = "webhook", "Procore webhook (near-real-time import)"


class Outcome(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    LINKED = "linked", "Linked to existing"
    DEACTIVATED = "deactivated", "Deactivated"
    DELETED = "deleted", "Deleted"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    """One execution of pre-import, import or export for one connection."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=RunKind)
    status = models.CharField(max_length=16, choices=RunStatus, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=RunTrigger)
    started_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rerun_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns"
    )
    applied_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="applied_runs",
        help_text="The preview (dry run) this run applies for real.",
    )
    dry_run = models.BooleanField(default=False)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="Entities, date range and other options of the run."
    )
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per outcome.")
    progress = models.JSONField(
        default=dict, blank=True, help_text='Per entity type: {"done": n, "total": n}.'
    )
    message = models.TextField(blank=True, help_text="Why the run failed or was skipped.")
    failure_kind = models.CharField(
        max_length=16,
        choices=FailureKind,
        blank=True,
        help_text="Why it stopped before going through every record; blank when it did not.",
    )
    cancel_requested = models.BooleanField(
        default=False, help_text="An operator asked it to stop; it stops at its next batch."
    )
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid running it.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"
        permissions = [("run_sync", "Can start, re-run and cancel runs")]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "kind"],
                condition=Q(status="running"),
                name="one_running_run_per_connection_and_kind",
                violation_error_message=(
                    "Another run of this kind is already running for this connection."
                ),
            ),
            # A preview is applied once: a second click, tab or POST finds the first
            # apply. One that never ran (skipped, cancelled) lets it be applied again.
            models.UniqueConstraint(
                fields=["applied_from"],
                condition=Q(applied_from__isnull=False) & ~Q(status__in=["skipped", "cancelled"]),
                name="one_apply_per_preview",
                violation_error_message="This preview has already been applied.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "kind"]),
            models.Index(fields=["connection", "kind", "-created_at"]),
            models.Index(fields=["-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} of {self.connection}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def live_apply(self) -> SyncRun | None:
        """The run applying this preview for real, unless it never ran (skipped, cancelled)."""
        return (
            self.applied_runs.exclude(status__in=[RunStatus.SKIPPED, RunStatus.CANCELLED])
            .order_by("-created_at")
            .first()
        )

    @property
    def duration(self) -> timezone.timedelta | None:
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class SnapshotKind(models.TextChoices):
    """The ExakTime collections Linx keeps a snapshot of (a sub-job is a location)."""

    EMPLOYEE = "employee", "Employee"
    LOCATION = "location", "Location"
    COST_CODE = "cost_code", "Cost code"


class ExakTimeRecord(models.Model):
    """One ExakTime employee, location or cost code as Linx last read it.

    The snapshot of a connection's ExakTime side, replaced whole each time a complete
    list is read (by an import that lists the collection, or "Refresh from ExakTime"),
    so Mappings can show records only in ExakTime and links to records now gone.
    """

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="exaktime_records"
    )
    kind = models.CharField(max_length=16, choices=SnapshotKind)
    exaktime_id = models.CharField("ExakTime ID", max_length=64)
    identifier = models.CharField("ID/code", max_length=255, blank=True)
    name = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    read_at = models.DateTimeField()

    class Meta:
        verbose_name = "ExakTime record"
        ordering = ["connection", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "kind", "exaktime_id"], name="snapshot_unique_record"
            )
        ]

    def __str__(self) -> str:
        label = " ".join(part for part in (self.identifier, self.name) if part)
        return f"{label} (id {self.exaktime_id})"


class RowResult(models.Model):
    """What happened to one source record in a run."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="rows")
    entity_type = models.CharField(max_length=32, choices=EntityType)
    outcome = models.CharField(max_length=16, choices=Outcome)
    procore_id = models.BigIntegerField("Procore ID", null=True, blank=True)
    exaktime_id = models.CharField("ExakTime ID", max_length=64, blank=True)
    name = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(
        default=dict, blank=True, help_text='Changed fields: {"field": [before, after]}.'
    )
    message = models.TextField(blank=True)
    retryable = models.BooleanField(
        default=False,
        help_text="Failed for a passing reason (timeout, rate limit): a re-run may succeed. "
        "Otherwise an operator must fix something first.",
    )
    hint = models.TextField(
        blank=True,
        db_default="",  # rows are also written by plain INSERTs (bulk loads)
        help_text="What to do about the failure, when Linx knows (the message ends with it).",
    )
    # The record a failure says is missing a link, so a page can lead to it in Mappings:
    # {"entity_type", "exaktime_id"} or, for a cost code a project lacks, {"project"}.
    needs = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "id"]
        indexes = [
            models.Index(fields=["run", "outcome"]),
            models.Index(fields=["run", "entity_type"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_type_display()} {self.name or self.procore_id}: {self.outcome}"


class ExportRange(models.TextChoices):
    """Which work dates a scheduled export covers, counted from the day it fires."""

    YESTERDAY = "yesterday", "Yesterday"
    LAST_WEEK = "last_week", "Last week (Monday to Sunday)"
    LAST_DAYS = "last_days", "The last N days, up to yesterday"
    DAYS_BACK = "days_back", "From … to … days back (set below)"


class ScheduleKind(models.TextChoices):
    """What a schedule starts: a run of one of the run kinds, or a reconciliation."""

    PREIMPORT = RunKind.PREIMPORT.value, RunKind.PREIMPORT.label
    IMPORT = RunKind.IMPORT.value, RunKind.IMPORT.label
    EXPORT = RunKind.EXPORT.value, RunKind.EXPORT.label
    RECONCILE = "reconcile", "Reconciliation"


class RunSchedule(models.Model):
    """Run a pre-import, import, export or reconciliation for a connection on a cron schedule.

    ``cron`` is read in the connection's time zone. An export's or a reconciliation's
    dates are relative to the day it fires, as ``export_range`` says: yesterday, last week
    (Monday to Sunday), or ``days_back_from``..``days_back_to`` days before it (the last N
    days are N..1).
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="schedules")
    kind = models.CharField(max_length=16, choices=ScheduleKind)
    cron = models.CharField(
        max_length=100,
        help_text='Five fields, in the connection\'s time zone: "0 2 * * *" is 02:00 daily.',
    )
    enabled = models.BooleanField(default=True)
    entities = models.CharField(
        max_length=100, blank=True, help_text="Import only: comma-separated; empty means all."
    )
    export_range = models.CharField(
        max_length=16,
        choices=ExportRange,
        default=ExportRange.DAYS_BACK,
        help_text="Export and reconciliation: which work dates it covers, counted from the day "
        "it fires.",
    )
    days_back_from = models.PositiveSmallIntegerField(
        default=1,
        help_text="Export and reconciliation: the first work date, in days before the day it "
        "fires (7 on a Monday, with 1 below: last week).",
    )
    days_back_to = models.PositiveSmallIntegerField(
        default=1,
        help_text="Export and reconciliation: the last work date, in days before the day it fires.",
    )
    approved_only = models.BooleanField(default=False, help_text="Export only.")
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    failures_in_a_row = models.PositiveIntegerField(default=0, editable=False)
    last_alert_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["connection", "kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.connection} at {self.cron!r}"

    def export_days(self, today: date) -> tuple[date, date]:
        """The first and last work date an export firing on ``today`` covers."""
        if self.export_range == ExportRange.LAST_WEEK:
            monday = today - timedelta(days=today.weekday() + 7)
            return monday, monday + timedelta(days=6)
        if self.export_range == ExportRange.YESTERDAY:
            return today - timedelta(days=1), today - timedelta(days=1)
        back_to = 1 if self.export_range == ExportRange.LAST_DAYS else self.days_back_to
        return today - timedelta(days=self.days_back_from), today - timedelta(days=back_to)

    def range_in_words(self) -> str:
        """The export's (or reconciliation's) dates as a person says them."""
        if self.kind not in (ScheduleKind.EXPORT, ScheduleKind.RECONCILE):
            return ""
        if self.export_range == ExportRange.LAST_WEEK:
            return "last week"
        first, last = self.days_back_from, self.days_back_to
        if self.export_range == ExportRange.YESTERDAY or (first, last) == (1, 1):
            return "yesterday"
        if self.export_range == ExportRange.LAST_DAYS or last == 1:
            return f"the last {first} days"
        return f"from {first} to {last} days back"

    def clean(self) -> None:
        from croniter import croniter

        if not croniter.is_valid(self.cron) or len(self.cron.split()) != 5:
            raise ValidationError(
                {
                    "cron": f'{self.cron!r} is not a cron expression of five fields, e.g. "0 2 * * *".'
                }
            )
        if self.days_back_to > self.days_back_from:
            raise ValidationError(
                {"days_back_to": "The last day must not be after the first (count days back)."}
            )
        self.clean_entities()

    def clean_entities(self) -> None:
        """Refuse unknown entity names now, not when the schedule fires at night."""
        from linx.sync.imports import ENTITIES

        names = [e.strip() for e in self.entities.split(",") if e.strip()]
        unknown = [name for name in names if name not in ENTITIES]
        if unknown:
            raise ValidationError(
                {
                    "entities": f"Unknown entit{'y' if len(unknown) == 1 else 'ies'}: "
                    f"{', '.join(repr(name) for name in unknown)}. Write some of "
                    f"{', '.join(ENTITIES)}, separated by commas, or leave it empty for all."
                }
            )
        self.entities = ", ".join(names)


class ReconciliationStatus(models.TextChoices):
    RUNNING = "running", "Running"
    MATCHED = "matched", "Matched"
    DIFFERENCES = "differences", "Differences found"
    FAILED = "failed", "Could not run"


class Reconciliation(models.Model):
    """One comparison of ExakTime's hours with Procore's timecard entries for a date range:
    who asked, when, the range, the totals and every line that differs (matched lines
    are counted in the totals, not kept). A failed one keeps no totals or lines: nothing
    half-reported."""

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="reconciliations"
    )
    first_day = models.DateField()
    last_day = models.DateField()
    status = models.CharField(
        max_length=16, choices=ReconciliationStatus, default=ReconciliationStatus.RUNNING
    )
    trigger = models.CharField(max_length=16, choices=RunTrigger, default=RunTrigger.COMMAND)
    started_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    totals = models.JSONField(default=dict, blank=True)
    lines = models.JSONField(default=list, blank=True, help_text="Every line that differs.")
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Reconciliation of {self.connection} {self.first_day}..{self.last_day}"


class OpenFailure(models.Model):
    """A record that failed and has not been handled without failing since.

    Kept per connection until a later real run handles that record without failing, or an
    operator ignores it: a record that failed and has not changed is still broken, however
    many runs later skipped it. ``source_id`` is the Procore id (the ExakTime time record
    id for an export); a list Linx could not read at all is keyed ``list: <what>``.
    Dry runs never change these.
    """

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="open_failures"
    )
    kind = models.CharField(max_length=16, choices=RunKind)
    entity_type = models.CharField(max_length=32, choices=EntityType)
    source_id = models.CharField(max_length=300)
    procore_id = models.BigIntegerField("Procore ID", null=True, blank=True)
    exaktime_id = models.CharField("ExakTime ID", max_length=64, blank=True)
    name = models.CharField(max_length=255, blank=True)
    message = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    #: An import's failing Procore record as last read (worker or project fields), so a
    #: plain import retries it without reading it again while Procore lists it unchanged.
    procore_record = models.JSONField(null=True, blank=True, default=None)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["connection", "kind", "entity_type", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "kind", "entity_type", "source_id"],
                name="open_failure_unique_per_record",
                violation_error_message="This record already has an open failure.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_type_display()} {self.name or self.source_id}: failing"


# --- Audit trail ----------------------------------------------------------------------


class AuditAction(models.TextChoices):
    LINK = "link", "Linked"
    UNLINK = "unlink", "Unlinked"
    IGNORE = "ignore", "Ignored on import"
    UNIGNORE = "unignore", "No longer ignored"
    CANCEL = "cancel", "Run cancelled"
    SECRETS_CLEARED = "secrets_cleared", "Service moved: secrets cleared"


class AuditEvent(models.Model):
    """One change of state a person (or Linx itself) made, whoever called the action.

    Written by the actions themselves (`linx.audit.record`), so the admin, a command and
    a task leave the same trail. ``details`` holds ids and names, never a secret.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(
        "who", max_length=255, help_text="As it was at the time: kept if the user is deleted."
    )
    connection = models.ForeignKey(
        Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=32, choices=AuditAction)
    target = models.CharField(max_length=300, help_text="What was acted on, for people.")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["connection", "-at"])]

    def __str__(self) -> str:
        return f"{self.actor_name}: {self.get_action_display()} {self.target}"


class WebhookEvent(models.Model):
    """One change notice Procore delivered, stored once (its id is unique per connection).

    It waits (``run`` empty) until an import run takes it; a run that stops early gives
    its events back, so none is dropped. ``applied_at`` is set once its run finished.
    """

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="webhook_events"
    )
    event_id = models.CharField("Procore event ID", max_length=64)
    resource_name = models.CharField(max_length=64)
    resource_id = models.BigIntegerField("Procore record ID")
    event_type = models.CharField(max_length=16)
    project_id = models.BigIntegerField("Procore project ID", null=True, blank=True)
    happened_at = models.CharField("Procore's timestamp", max_length=64, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_events"
    )
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "event_id"], name="one_webhook_event_per_id"
            ),
        ]
        indexes = [models.Index(fields=["connection", "applied_at", "run"])]

    def __str__(self) -> str:
        return f"{self.resource_name} {self.resource_id} {self.event_type} ({self.event_id})"
