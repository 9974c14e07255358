"""The forms that start a run from a connection: which dates to export, what to import
(and the range of work dates a reconciliation shares)."""

from __future__ import annotations

from django import forms

from linx.sync.imports import ENTITIES

ENTITY_LABELS = {
    "employees": "Employees",
    "locations": "Locations (projects, sub-jobs, project groups and categories)",
    "cost_codes": "Cost codes",
    "crews": "Crews (as employee groups)",
}


class DateRangeForm(forms.Form):
    """A range of work dates, first to last."""

    first_day = forms.DateField(
        label="From (work date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    last_day = forms.DateField(
        label="To (work date)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first_day"), cleaned.get("last_day")
        if first and last and last < first:
            raise forms.ValidationError("The range ends before it starts.")
        return cleaned


class ExportForm(DateRangeForm):
    approved_only = forms.BooleanField(required=False, label="Approved time records only")
    dry_run = forms.BooleanField(
        required=False, initial=True, label="Preview first: show what would be sent, send nothing"
    )


class ImportChoiceForm(forms.Form):
    entities = forms.MultipleChoiceField(
        choices=[(e, ENTITY_LABELS[e]) for e in ENTITIES],
        initial=list(ENTITIES),
        widget=forms.CheckboxSelectMultiple,
        label="What to import",
    )
    dry_run = forms.BooleanField(
        required=False, label="Dry run: show what would change, write nothing"
    )
