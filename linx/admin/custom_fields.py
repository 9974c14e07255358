"""The custom fields page: the one timesheet fieldset and up to five fields Linx carries.

The form only reads the choice; the connection's own methods (`select_fieldset`,
`select_custom_fields`) decide what may be chosen and refuse the rest with a message.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from linx.models import Connection, CustomField

PREIMPORT_REMINDER = (
    "Every time a custom field is created or changed in Procore, re-run the pre-import."
)


class CustomFieldsForm(forms.Form):
    """One fieldset (blank: none) and the custom fields to carry, all of `connection`."""

    fieldset = forms.ModelChoiceField(queryset=None, required=False)
    fields = forms.ModelMultipleChoiceField(queryset=None, required=False)

    def __init__(self, connection: Connection, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connection = connection
        self.fields["fieldset"].queryset = connection.fieldsets.all()
        self.fields["fields"].queryset = connection.custom_fields.all()

    def chosen_fields(self) -> list[CustomField]:
        """The ticked fields, those already carried keeping their slots."""
        return sorted(
            self.cleaned_data["fields"],
            key=lambda f: (f.selected_slot or CustomField.MAX_SELECTED + 1, f.label),
        )

    def save(self) -> bool:
        """Make the choice the connection's; False (and the model's refusal as the
        form's error) when it is refused, with nothing saved."""
        try:
            with transaction.atomic():
                self.connection.select_fieldset(self.cleaned_data["fieldset"])
                self.connection.select_custom_fields(self.chosen_fields())
        except ValidationError as refusal:
            self.add_error(None, refusal)
            return False
        return True

    def refusal(self) -> str:
        """Every error of the form as one sentence for the top of the page."""
        said = [str(message) for errors in self.errors.values() for message in errors]
        return " ".join(said) + " Nothing was saved: the page shows the choice still in use."

    def saved_message(self) -> str:
        fieldset = self.cleaned_data["fieldset"]
        return (
            f"Saved: {len(self.cleaned_data['fields'])} custom field(s) from "
            f"{fieldset.name if fieldset else 'no fieldset'}. "
            "The next pre-import creates them in ExakTime."
        )

    def change_message(self) -> str:
        """The connection's history line."""
        return (
            f"Custom fields: fieldset {self.cleaned_data['fieldset'] or 'none'}, fields "
            f"{', '.join(f.label for f in self.chosen_fields()) or 'none'}."
        )


def custom_field_rows(fieldsets, fields, selected_fieldset, can_change: bool) -> list[dict]:
    """The custom fields page's rows: each field as it is in the database, and why it
    cannot be chosen when it cannot."""
    fieldsets_of = {}
    for fieldset in fieldsets:
        for field_id in fieldset.field_ids:
            fieldsets_of.setdefault(field_id, []).append(fieldset)
    rows = []
    for field in fields:
        reason = ""
        if not field.supported:
            reason = (
                f"{field.type_in_words} fields cannot be carried: Linx carries plain text, "
                "date, checkbox and single select fields."
            )
        elif field.gone_from_procore:
            reason = "Gone from Procore at the last pre-import."
        rows.append(
            {
                "field": field,
                "type": field.type_in_words,
                "fieldsets": fieldsets_of.get(field.procore_id, []),
                "in_selected": selected_fieldset is not None
                and field.procore_id in selected_fieldset.field_ids,
                "checked": field.selected,
                "disabled": bool(reason) or not can_change,
                "reason": reason,
            }
        )
    return rows


def custom_fields_page(model_admin, request, pk: int):
    """Show the choice in use; on POST, save a new one or say why it was refused."""
    connection = get_object_or_404(Connection, pk=pk)
    if not model_admin.has_view_permission(request, connection):
        raise PermissionDenied
    can_change = model_admin.has_change_permission(request, connection)
    error = None
    if request.method == "POST":
        if not can_change:
            raise PermissionDenied
        form = CustomFieldsForm(connection, request.POST)
        if form.is_valid() and form.save():
            model_admin.log_change(request, connection, form.change_message())
            model_admin.message_user(request, form.saved_message(), messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        error = form.refusal()
    # Read afresh: a refused choice was rolled back in the database, not in the objects.
    fieldsets = list(connection.fieldsets.order_by("name"))
    fields = list(connection.custom_fields.order_by("label"))
    selected_fieldset = next((f for f in fieldsets if f.selected), None)
    return TemplateResponse(
        request,
        "admin/linx/connection/custom_fields.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": f"Custom fields of {connection.name}",
            "opts": model_admin.model._meta,
            "original": connection,
            "fieldsets": fieldsets,
            "selected_fieldset": selected_fieldset,
            "rows": custom_field_rows(fieldsets, fields, selected_fieldset, can_change),
            "error": error,
            "can_change": can_change,
            "can_run": model_admin.has_run_permission(request),
            "max_selected": CustomField.MAX_SELECTED,
            "reminder": PREIMPORT_REMINDER,
            "preimported_at": connection.preimported_at,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )
