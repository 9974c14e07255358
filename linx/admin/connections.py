"""Connections: one Procore company linked to one ExakTime account.

The list shows each connection's health; the page groups its settings as SyncLinx's
settings tabs do (Connection, Employee Import, Sub-jobs Import, Custom Fields Import)
plus AccountLinx's export settings, and links to the screens that act on it: Connect to
Procore and the company picker, Test connection, Custom fields, Mappings and Runs.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from linx.admin.custom_fields import PREIMPORT_REMINDER, custom_fields_page
from linx.admin.dashboard import failures_outstanding, last_run, token_health, when, with_health
from linx.admin.run_forms import ExportForm, ImportChoiceForm
from linx.admin.run_views import run_url
from linx.admin.secrets import WriteOnlySecretsForm, secret_status
from linx.admin.webhooks import webhook_status, webhooks_check, webhooks_off, webhooks_on
from linx.models import (
    Connection,
    EntityMapping,
    EntityType,
    RunKind,
    RunTrigger,
)
from linx.sync.imports import ENTITIES
from linx.sync.parameters import RunParameters
from linx.sync.preflight import Status, run_preflight
from linx.sync.queueing import queue_runs
from linx.sync.rules import HOUR_KINDS
from linx.views import procore_connect

SECRET_FIELDS = ("procore_client_secret", "exaktime_api_key")
#: The runs a connection's page starts, as (action, button, what it does): the same
#: actions as the list's, so permissions, forms and messages are the list's too.
RUN_BUTTONS = [
    ("preimport", "Pre-import", "Read Procore's reference data, fieldsets and custom fields"),
    ("dry_run_import", "Preview import", "Show what an import would change; write nothing"),
    ("import_everything", "Import", "Procore workers, projects, cost codes and crews to ExakTime"),
    ("import_chosen", "Import chosen…", "Choose what to import, or preview it"),
    ("export_time", "Export time…", "Choose the weeks of ExakTime time to send to Procore"),
]
TIME_TYPE_FIELDS = tuple(HOUR_KINDS.values())


def _without(fields, names) -> list:
    """A fieldset's field list without `names` (lines of several fields included)."""
    kept = []
    for line in fields:
        if isinstance(line, list | tuple):
            line = tuple(f for f in line if f not in names)
            if line:
                kept.append(line if len(line) > 1 else line[0])
        elif line not in names:
            kept.append(line)
    return kept


#: A secret's status, named for showing without the secret's box beside it.
STATUS_ALONE = {"client_secret_status": "client_secret_alone", "api_key_status": "api_key_alone"}


def _alone(fields) -> list:
    return [STATUS_ALONE.get(line, line) if isinstance(line, str) else line for line in fields]


def time_type_choices(connection: Connection) -> list[tuple[str, str]]:
    """The time types the last pre-import found in Procore, as (abbreviation, label)."""
    if connection.pk is None:
        return []
    choices = {}
    for mapping in EntityMapping.objects.filter(
        connection=connection, entity_type=EntityType.TIME_TYPE
    ).only("name", "data"):
        name, abbreviation = mapping.name, mapping.abbreviation
        if abbreviation:
            choices[abbreviation] = f"{abbreviation}: {name}"
    return sorted(choices.items())


class ConnectionForm(WriteOnlySecretsForm):
    secret_fields = SECRET_FIELDS

    class Meta:
        model = Connection
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._keep_settings_not_sent()
        known = time_type_choices(self.instance)
        for name in TIME_TYPE_FIELDS:
            if name not in self.fields:
                continue
            field = self.fields[name]
            if not known:
                field.help_text = (
                    "Procore's abbreviation. Run the pre-import to choose from the time types "
                    "Procore has."
                )
                continue
            current = getattr(self.instance, name)
            choices = list(known)
            if current and current not in dict(known):
                choices.append((current, f"{current}: not in Procore at the last pre-import"))
            self.fields[name] = forms.ChoiceField(
                label=field.label,
                choices=choices,
                initial=field.initial,
                help_text="The time types Procore had at the last pre-import.",
            )

    def clean(self):
        cleaned = super().clean()
        # A secret typed into its box is entered anew, even if a URL changes with it.
        for name in self.secret_fields:
            if self.data.get(self.add_prefix(name)) and not cleaned.get(f"clear_{name}"):
                self.instance.enter_secret(name, cleaned[name])
        return cleaned

    def signs_in_anew(self) -> bool:
        """Whether this change gives Procore another app or login host (after `is_valid`).

        A token belongs to the app and login host that issued it. A secret box left blank
        keeps the stored secret, so only a secret that really differs counts.
        """
        stored = self.stored_secrets.get("procore_client_secret")
        if stored is not None and stored != self.instance.procore_client_secret:
            return True
        return bool({"procore_client_id", "procore_login_url"} & set(self.changed_data))

    def _keep_settings_not_sent(self) -> None:
        """A setting missing from the request altogether keeps its stored value.

        Browsers send every box of the page; a script or a page from before a setting
        existed does not, and should not fail or blank what it never showed. (A missing
        checkbox still means "off": HTML cannot tell the two apart.)
        """
        if not self.is_bound or self.instance.pk is None:
            return
        data = self.data.copy()
        for name, field in self.fields.items():
            if name in data or name in self.secret_fields or name.startswith("clear_"):
                continue
            if isinstance(field.widget, forms.CheckboxInput) or name not in self.initial:
                continue
            value = field.prepare_value(self.initial[name])
            if value is not None:
                data[name] = value
        self.data = data


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = [
        "name",
        "company",
        "last_import",
        "last_export",
        "failures",
        "token",
        "is_active",
    ]
    list_display_links = ["name"]
    list_filter = ["is_active", "procore_auth_mode"]
    search_fields = ["name", "procore_company_name", "procore_company_id"]
    readonly_fields = [
        "client_secret_status",
        "api_key_status",
        "client_secret_alone",
        "api_key_alone",
        "token_status",
        "custom_fields_summary",
        "preimported_at",
        "created_at",
        "updated_at",
        "webhooks_enabled",  # switched by the near-real-time actions, which install the hook
        webhook_status,
    ]
    fieldsets = [
        (
            "Connection",
            {
                "description": "Which Procore company and which ExakTime account this "
                "connection links, and how Linx signs in to each.",
                "fields": [
                    "name",
                    "is_active",
                    "procore_auth_mode",
                    "procore_client_id",
                    ("procore_client_secret", "client_secret_status"),
                    ("procore_company_id", "procore_company_name"),
                    "token_status",
                    ("exaktime_api_key", "api_key_status"),
                    "procore_login_url",
                    "procore_api_url",
                    "exaktime_api_url",
                ],
            },
        ),
        (
            "Employee import",
            {"fields": ["crews_as_groups"]},
        ),
        (
            "Sub-jobs import",
            {
                "description": "A sub-job becomes a location named project.sub-job (e.g. 200.005).",
                "fields": ["import_sub_jobs", "projects_as_groups", "projects_as_categories"],
            },
        ),
        (
            "Custom fields import",
            {"fields": ["custom_fields_summary", "preimport_max_age"]},
        ),
        (
            "Export",
            {
                "description": "How time records become Procore timecard entries.",
                "fields": [
                    "time_type_regular",
                    "time_type_ot1",
                    "time_type_ot2",
                    "time_entry_mode",
                    "export_approved_only",
                ],
            },
        ),
        ("Incremental import", {"fields": ["full_import_every"], "classes": ["collapse"]}),
        ("Near-real-time import", {"fields": ["webhooks_enabled", webhook_status]}),
    ]
    actions = [
        "preimport",
        "import_everything",
        "import_chosen",
        "dry_run_import",
        "export_time",
        webhooks_on,
        webhooks_off,
        webhooks_check,
    ]

    # Pages ---------------------------------------------------------------------------

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path(
                "<int:pk>/test/",
                view(require_POST(self.test_connection_view)),
                name="linx_connection_test",
            ),
            path(
                "<int:pk>/custom-fields/",
                view(self.custom_fields_view),
                name="linx_connection_custom_fields",
            ),
            path(
                "<int:pk>/procore-company/",
                view(procore_connect.choose_company),
                name="linx_connection_procore_company",
            ),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "linx_connection_changelist":
            # Health for every row in one query; secrets are neither needed nor decrypted.
            queryset = with_health(queryset).defer(
                "procore_client_secret", "procore_access_token", "procore_refresh_token",
                "exaktime_api_key",
            )  # fmt: skip
        return queryset

    def get_fieldsets(self, request, obj=None):
        """The grouped settings, then any other setting the model has (none is hidden)."""
        fieldsets = list(super().get_fieldsets(request, obj))
        placed = set(flatten_fieldsets(fieldsets))
        others = [
            f.name
            for f in Connection._meta.concrete_fields
            if f.editable and not f.auto_created and f.name not in placed
        ]
        if others:
            fieldsets.insert(-1, ("Other settings", {"fields": others}))
        if not self.has_change_permission(request, obj):
            # Read-only, the admin would print a field's value: secrets show as set / not set.
            fieldsets = [
                (name, {**options, "fields": _alone(_without(options["fields"], SECRET_FIELDS))})
                for name, options in fieldsets
            ]
        fieldsets.append(
            ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]})
        )
        return fieldsets

    def save_model(self, request, obj, form, change):
        if change and form.signs_in_anew():
            obj.forget_procore_token()
        obj.changed_by = f"{request.user} in the admin"
        super().save_model(request, obj, form, change)
        if message := obj.cleared_secrets_message():
            self.message_user(request, message, messages.WARNING)

    def construct_change_message(self, request, form, formsets, add=False):
        change_message = super().construct_change_message(request, form, formsets, add)
        # The history page says which secrets a URL change took away, and who did it.
        cleared = [
            str(Connection._meta.get_field(f).verbose_name) for f in form.instance.cleared_secrets
        ]
        if cleared:
            change_message.append(
                {"changed": {"fields": [f"{name} (cleared: URL changed)" for name in cleared]}}
            )
        return change_message

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if request.method == "POST":  # a saved form redirects: this one failed to save
            context["adminform"].form.shown_again()
        return super().render_change_form(request, context, add, change, form_url, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {
            "can_test": self.has_test_permission(request),
            "can_run": self.has_run_permission(request),
            "run_buttons": RUN_BUTTONS,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def has_test_permission(self, request) -> bool:
        user = request.user
        return user.has_perm("linx.run_sync") or user.has_perm("linx.change_connection")

    def test_connection_view(self, request, pk: int):
        """Run the preflight checklist and show it (POST: it writes to ExakTime once)."""
        if not self.has_test_permission(request):
            raise PermissionDenied
        connection = get_object_or_404(Connection, pk=pk)
        checks = run_preflight(connection)
        failed = sum(1 for c in checks if c.status == Status.FAILED)
        return TemplateResponse(
            request,
            "admin/linx/connection/preflight.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Test connection {connection.name}",
                "opts": self.model._meta,
                "original": connection,
                "checks": checks,
                "failed": failed,
                "systems": [
                    (system, [c for c in checks if c.system == system])
                    for system in ("Procore", "ExakTime")
                ],
                "tested_at": timezone.now(),
            },
        )

    def custom_fields_view(self, request, pk: int):
        """Choose the one timesheet fieldset and up to five custom fields Linx carries."""
        return custom_fields_page(self, request, pk)

    # List columns --------------------------------------------------------------------

    @admin.display(description="Procore company", ordering="procore_company_name")
    def company(self, obj: Connection):
        if obj.procore_company_id is None:
            return mark_safe('<span class="linx-bad">not chosen</span>')
        return format_html(
            '{}<br><span class="mini quiet">{}</span>',
            obj.procore_company_name or "name not known",
            obj.procore_company_id,
        )

    @admin.display(description="Last import", ordering="last_import_at")
    def last_import(self, obj: Connection):
        return last_run(obj, RunKind.IMPORT)

    @admin.display(description="Last export", ordering="last_export_at")
    def last_export(self, obj: Connection):
        return last_run(obj, RunKind.EXPORT)

    @admin.display(description="Failures outstanding")
    def failures(self, obj: Connection):
        return failures_outstanding(obj)

    @admin.display(description="Procore token", ordering="procore_token_expires_at")
    def token(self, obj: Connection):
        return token_health(obj)

    # Read-only fields of the page -----------------------------------------------------

    # Each status sits on its secret's line, after the box: a label of its own would say
    # the secret's name a second time.
    @admin.display(description="Stored")
    def client_secret_status(self, obj: Connection) -> str:
        return secret_status(obj.procore_client_secret)

    @admin.display(description="Stored")
    def api_key_status(self, obj: Connection) -> str:
        return secret_status(obj.exaktime_api_key)

    # Read-only, the box is not shown: the status stands alone and says whose it is.
    @admin.display(description="Procore client secret")
    def client_secret_alone(self, obj: Connection) -> str:
        return secret_status(obj.procore_client_secret)

    @admin.display(description="ExakTime API key")
    def api_key_alone(self, obj: Connection) -> str:
        return secret_status(obj.exaktime_api_key)

    @admin.display(description="Procore token")
    def token_status(self, obj: Connection):
        if obj.pk is None:
            return "—"
        return token_health(obj)

    @admin.display(description="Custom fields")
    def custom_fields_summary(self, obj: Connection):
        if obj.pk is None:
            return "Save the connection and run the pre-import first."
        fieldset = obj.selected_fieldset()
        chosen = [f.label for f in obj.selected_custom_fields()]
        url = reverse("admin:linx_connection_custom_fields", args=[obj.pk])
        return format_html(
            '<div class="linx-fields-summary"><p><strong>{}</strong>{}</p>'
            '<p class="linx-reminder">{} Last pre-import: {}.</p>'
            '<p><a class="button" href="{}">Choose fieldset and custom fields</a></p></div>',
            fieldset.name if fieldset else "No fieldset chosen",
            format_html(": {}", ", ".join(chosen)) if chosen else ": no custom fields",
            PREIMPORT_REMINDER,
            when(obj.preimported_at),
            url,
        )

    # Actions -------------------------------------------------------------------------

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("linx.run_sync")

    def _queued(self, request, runs, what: str):
        """Say what was queued, each run a link to its page; one run: go to its page."""
        numbers = format_html_join(
            ", ", '<a href="{}">#{}</a>', ((run_url(run.pk), run.pk) for run in runs)
        )
        if len(runs) == 1:
            told = format_html("Queued {} for {}: run {}.", what, runs[0].connection, numbers)
        else:
            told = format_html(
                "Queued {} for {} connections: runs {}. Follow them under Sync runs.",
                what,
                len(runs),
                numbers,
            )
        self.message_user(request, told, messages.SUCCESS)
        return redirect(run_url(runs[0].pk)) if len(runs) == 1 else None

    @admin.action(description="Pre-import reference data and custom fields", permissions=["run"])
    def preimport(self, request, queryset):
        runs = queue_runs(
            queryset, RunKind.PREIMPORT, trigger=RunTrigger.ADMIN, started_by=request.user
        )
        return self._queued(request, runs, "a pre-import")

    @admin.action(description="Import everything from Procore", permissions=["run"])
    def import_everything(self, request, queryset):
        runs = queue_runs(
            queryset, RunKind.IMPORT, trigger=RunTrigger.ADMIN, started_by=request.user
        )
        return self._queued(request, runs, "an import")

    @admin.action(description="Dry run an import (preview, writes nothing)", permissions=["run"])
    def dry_run_import(self, request, queryset):
        runs = queue_runs(
            queryset,
            RunKind.IMPORT,
            trigger=RunTrigger.ADMIN,
            started_by=request.user,
            dry_run=True,
        )
        return self._queued(request, runs, "a dry-run import")

    @admin.action(description="Export time to Procore…", permissions=["run"])
    def export_time(self, request, queryset):
        if "apply" in request.POST:
            form = ExportForm(request.POST)
        else:
            # The last week that has ended where the (first chosen) company works.
            monday, sunday = queryset.first().last_complete_week()
            form = ExportForm(
                initial={
                    "first_day": monday,
                    "last_day": sunday,
                    "approved_only": all(c.export_approved_only for c in queryset),
                }
            )
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            runs = queue_runs(
                queryset,
                RunKind.EXPORT,
                trigger=RunTrigger.ADMIN,
                started_by=request.user,
                dry_run=data["dry_run"],
                parameters=RunParameters(
                    first_day=data["first_day"].isoformat(),
                    last_day=data["last_day"].isoformat(),
                    approved_only=data["approved_only"],
                ).to_json(),
            )
            return self._queued(
                request, runs, "a preview of the export" if data["dry_run"] else "an export"
            )
        return self._ask(request, queryset, form, "export_time", "Export time to Procore")

    def _ask(self, request, queryset, form, action: str, title: str):
        """The intermediate page of an action that needs a few choices first."""
        return TemplateResponse(
            request,
            "admin/linx/connection/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "connections": queryset,
                "action": action,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Import chosen entities…", permissions=["run"])
    def import_chosen(self, request, queryset):
        form = ImportChoiceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            runs = queue_runs(
                queryset,
                RunKind.IMPORT,
                trigger=RunTrigger.ADMIN,
                started_by=request.user,
                dry_run=form.cleaned_data["dry_run"],
                parameters=RunParameters(
                    entities=[e for e in ENTITIES if e in form.cleaned_data["entities"]]
                ).to_json(),
            )
            return self._queued(
                request, runs, "a dry-run import" if form.cleaned_data["dry_run"] else "an import"
            )
        return self._ask(request, queryset, form, "import_chosen", "Import chosen entities")
