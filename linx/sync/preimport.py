"""Pre-import: the Procore reference data that import and export need.

Work classifications (their names go on ExakTime employees), timecard time types (what
export books hours as), timesheet fieldsets and their custom field definitions come into
Linx; the custom fields an operator selected are created or updated in ExakTime. A
fieldset or field that disappeared from Procore is marked gone, not silently dropped
from the operator's selection.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from integrations.procore.errors import ProcoreError
from linx.models import (
    Connection,
    CustomField,
    EntityMapping,
    EntityType,
    Fieldset,
    Outcome,
)
from linx.sync import rules
from linx.sync.runs import Row, RunAborted, RunWork, stop_unless_only_this_list
from linx.sync.twins import Twin, TwinWriter


class PreImporter(RunWork):
    """One pre-import run's work for one connection (see the module docstring)."""

    def run(self) -> None:
        self.reference(
            EntityType.WORK_CLASSIFICATION,
            self._read("work classifications", self.procore.work_classifications),
            lambda wc: (wc.name, EntityMapping.data_of(abbreviation=wc.abbreviation)),
        )
        self.reference(
            EntityType.TIME_TYPE,
            self._read("timecard time types", self.procore.timecard_time_types),
            lambda tt: (
                tt.time_type,
                EntityMapping.data_of(abbreviation=tt.abbreviated_time_type, is_global=tt.global_),
            ),
        )
        self.fieldsets(self._read("timesheet fieldsets", self.procore.fieldsets))
        self.custom_fields(
            self._read("custom field definitions", self.procore.custom_field_definitions)
        )
        self.recorder.flush()
        self.exaktime_custom_fields()
        if not self.dry_run:
            Connection.objects.filter(pk=self.connection.pk).update(preimported_at=timezone.now())

    def _read(self, what: str, fetch) -> list:
        try:
            return list(fetch())
        except ProcoreError as error:
            failure = stop_unless_only_this_list(error, what)
            raise RunAborted(
                f"Linx could not read {what} from Procore: {failure.message}"
            ) from error

    def reference(self, kind: str, records: Iterable, describe) -> None:
        """Reference records kept as mappings with no ExakTime side."""
        existing = {
            m.procore_id: m
            for m in EntityMapping.objects.filter(connection=self.connection, entity_type=kind)
        }
        for record in records:
            name, data = describe(record)
            mapping = existing.get(record.id)
            if mapping is None:
                outcome, changes = Outcome.CREATED, rules.changes({}, {"name": name, **data})
            else:
                changes = rules.changes(
                    {"name": mapping.name, **mapping.data}, {"name": name, **data}
                )
                outcome = Outcome.UPDATED if changes else Outcome.UNCHANGED
            if outcome != Outcome.UNCHANGED and not self.dry_run:
                EntityMapping.objects.update_or_create(
                    connection=self.connection,
                    entity_type=kind,
                    procore_id=record.id,
                    defaults={"name": name[:255], "data": data, "synced_at": timezone.now()},
                )
            self.recorder.record(Row(kind, outcome, record.id, name=name, changes=changes))

    def fieldsets(self, fieldsets: list) -> None:
        listed = {f.id for f in fieldsets}
        with transaction.atomic():
            for fieldset in fieldsets:
                row, created = (
                    Fieldset.objects.get_or_create(
                        connection=self.connection,
                        procore_id=fieldset.id,
                        defaults={"name": fieldset.name, "field_ids": list(fieldset.field_ids)},
                    )
                    if not self.dry_run
                    else (None, True)
                )
                if row is not None and not created:
                    row.name = fieldset.name
                    row.field_ids = list(fieldset.field_ids)
                    row.gone_from_procore = False
                    row.save()
            if not self.dry_run:
                self.connection.fieldsets.exclude(procore_id__in=listed).update(
                    gone_from_procore=True
                )

    def custom_fields(self, definitions: list) -> None:
        """Definitions into Linx; a selected field that disappeared stays selected, marked gone."""
        listed = {d.id for d in definitions}
        if self.dry_run:
            return
        with transaction.atomic():
            for definition in definitions:
                CustomField.objects.update_or_create(
                    connection=self.connection,
                    procore_id=definition.id,
                    defaults={
                        "label": definition.label,
                        "data_type": definition.data_type,
                        "options": [{"id": o.id, "label": o.label} for o in definition.options],
                        "active": definition.active,
                        "gone_from_procore": False,
                    },
                )
            self.connection.custom_fields.exclude(procore_id__in=listed).update(
                gone_from_procore=True
            )

    def exaktime_custom_fields(self) -> None:
        """Create or update each selected custom field in ExakTime."""
        twins = TwinWriter(self.connection, self.recorder, self.exaktime, dry_run=self.dry_run)
        for field in self.connection.selected_custom_fields():
            mapped = twins.write(
                Twin(
                    EntityType.CUSTOM_FIELD,
                    field.procore_id,
                    field.label,
                    rules.exaktime_custom_field(field),
                    {"name": "custom field label"},
                )
            )
            if mapped and field.exaktime_id != mapped and not self.dry_run:
                CustomField.objects.filter(pk=field.pk).update(exaktime_id=mapped)
