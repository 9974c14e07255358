"""The export ledger gets its own table.

Until now each timecard entry Linx created (or was creating) was an `EntityMapping` of
type `time_entry` whose ExakTime id was the entry's origin_id (`4711-ot1`) and whose
state, date, worker and fields sat in `data`. Every such row, pending ones included
(their outcome is unknown: dropping one could create its entry twice), becomes an
`ExportLedgerLine`; the reverse moves them back.
"""

import datetime

import django.db.models.deletion
from django.db import migrations, models

ENTITY_TYPES = [
    ("employee", "Employee"),
    ("location", "Location"),
    ("sub_job", "Sub-job location"),
    ("cost_code", "Cost code"),
    ("crew", "Crew / employee group"),
    ("location_group", "Location group"),
    ("location_category", "Location category"),
    ("custom_field", "Custom field"),
    ("work_classification", "Work classification"),
    ("time_type", "Time type"),
    ("time_record", "Time record"),
]
KIND_LABELS = {"regular": "regular", "ot1": "OT1", "ot2": "OT2"}


def _day(value):
    try:
        return datetime.date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def to_ledger(apps, schema_editor):
    EntityMapping = apps.get_model("linx", "EntityMapping")
    ExportLedgerLine = apps.get_model("linx", "ExportLedgerLine")
    mappings = EntityMapping.objects.filter(entity_type="time_entry").order_by("pk")
    lines = []
    for mapping in mappings.iterator():
        data = mapping.data or {}
        record_id, _, kind = mapping.exaktime_id.rpartition("-")
        lines.append(
            ExportLedgerLine(
                connection_id=mapping.connection_id,
                origin_id=mapping.exaktime_id,
                time_record_id=int(record_id),
                kind=kind,
                procore_id=mapping.procore_id,
                # What the exporter goes by: a line with no entry id is pending.
                state="pending" if mapping.procore_id is None else "done",
                work_date=_day(data.get("date")),
                party_id=data.get("party_id"),
                fields=data.get("fields") or {},
                fingerprint=mapping.fingerprint,
                revision=mapping.revision,
                synced_at=mapping.synced_at,
            )
        )
    ExportLedgerLine.objects.bulk_create(lines, batch_size=500)
    mappings.delete()


def to_mappings(apps, schema_editor):
    EntityMapping = apps.get_model("linx", "EntityMapping")
    ExportLedgerLine = apps.get_model("linx", "ExportLedgerLine")
    lines = ExportLedgerLine.objects.order_by("pk")
    EntityMapping.objects.bulk_create(
        (
            EntityMapping(
                connection_id=line.connection_id,
                entity_type="time_entry",
                exaktime_id=line.origin_id,
                procore_id=line.procore_id,
                name=f"time record {line.time_record_id} {KIND_LABELS.get(line.kind, line.kind)}",
                fingerprint=line.fingerprint,
                revision=line.revision,
                synced_at=line.synced_at,
                data={
                    "state": line.state,
                    "date": line.work_date and line.work_date.isoformat(),
                    "party_id": line.party_id,
                    "fields": line.fields,
                },
            )
            for line in lines.iterator()
        ),
        batch_size=500,
    )
    lines.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("linx", "0014_run_failure_kind"),
    ]

    operations = [
        migrations.CreateModel(
            name="ExportLedgerLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("origin_id", models.CharField(max_length=64)),
                ("time_record_id", models.BigIntegerField(verbose_name="ExakTime time record ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[("regular", "regular"), ("ot1", "OT1"), ("ot2", "OT2")],
                        max_length=16,
                    ),
                ),
                (
                    "procore_id",
                    models.BigIntegerField(
                        blank=True, null=True, verbose_name="Procore timecard entry ID"
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[("pending", "Pending"), ("done", "Done")],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("work_date", models.DateField(blank=True, null=True)),
                (
                    "party_id",
                    models.BigIntegerField(blank=True, null=True, verbose_name="Procore worker ID"),
                ),
                (
                    "fields",
                    models.JSONField(blank=True, default=dict, help_text="The entry as last sent."),
                ),
                ("fingerprint", models.CharField(blank=True, max_length=64)),
                (
                    "revision",
                    models.BigIntegerField(
                        blank=True,
                        help_text="ExakTime time record revision last exported.",
                        null=True,
                    ),
                ),
                ("synced_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "connection",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="export_lines",
                        to="linx.connection",
                    ),
                ),
            ],
            options={
                "ordering": ["connection", "origin_id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("connection", "origin_id"), name="export_line_unique_origin"
                    )
                ],
            },
        ),
        migrations.RunPython(to_ledger, to_mappings),
        # No mapping is a timecard entry any more.
        migrations.AlterField(
            model_name="entitymapping",
            name="entity_type",
            field=models.CharField(choices=ENTITY_TYPES, max_length=32),
        ),
        migrations.AlterField(
            model_name="openfailure",
            name="entity_type",
            field=models.CharField(choices=ENTITY_TYPES, max_length=32),
        ),
        migrations.AlterField(
            model_name="rowresult",
            name="entity_type",
            field=models.CharField(choices=ENTITY_TYPES, max_length=32),
        ),
    ]
