"""Open failures: the records still failing, per connection.

Seeded from each connection's latest finished real run of each kind, so an existing
install does not start at zero: that run's failed rows are the records known to fail.
Every staff group may see them (they are part of what a run reports).
"""

import django.db.models.deletion
import django.utils.timezone
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

FINISHED = ["succeeded", "partial", "failed"]
GROUPS = ["Viewers", "Operators", "Administrators"]


def source_of(row):
    """As linx.sync.failures.source_of (a migration keeps its own copy)."""
    if row.entity_type == "time_record" and row.exaktime_id:
        return row.exaktime_id
    if row.procore_id is not None:
        return str(row.procore_id)
    if row.exaktime_id:
        return f"exaktime: {row.exaktime_id}"
    return f"list: {row.name}"[:300]


def seed(apps, schema_editor):
    SyncRun = apps.get_model("linx", "SyncRun")
    RowResult = apps.get_model("linx", "RowResult")
    OpenFailure = apps.get_model("linx", "OpenFailure")
    Connection = apps.get_model("linx", "Connection")
    for connection_id in Connection.objects.values_list("pk", flat=True):
        for kind in ("preimport", "import", "export"):
            last = (
                SyncRun.objects.filter(
                    connection_id=connection_id, kind=kind, dry_run=False, status__in=FINISHED
                )
                .order_by("-created_at", "-id")
                .first()
            )
            if last is None:
                continue
            failures = {}
            for row in RowResult.objects.filter(run=last, outcome="failed").order_by("id"):
                failures[(row.entity_type, source_of(row))] = OpenFailure(
                    connection_id=connection_id,
                    kind=kind,
                    entity_type=row.entity_type,
                    source_id=source_of(row),
                    procore_id=row.procore_id,
                    exaktime_id=row.exaktime_id,
                    name=row.name,
                    message=row.message,
                    retryable=row.retryable,
                    first_seen_at=row.created_at,
                    last_seen_at=row.created_at,
                    last_run=last,
                )
            OpenFailure.objects.bulk_create(failures.values(), batch_size=500)


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="linx", codename="view_openfailure")
    for name in GROUPS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)


class Migration(migrations.Migration):
    dependencies = [
        ("linx", "0009_schedule_permissions_for_staff_groups"),
    ]

    operations = [
        migrations.CreateModel(
            name="OpenFailure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("preimport", "Pre-import"),
                            ("import", "Import"),
                            ("export", "Export"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "entity_type",
                    models.CharField(
                        choices=[
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
                            ("time_entry", "Timecard entry"),
                            ("time_record", "Time record"),
                        ],
                        max_length=32,
                    ),
                ),
                ("source_id", models.CharField(max_length=300)),
                (
                    "procore_id",
                    models.BigIntegerField(blank=True, null=True, verbose_name="Procore ID"),
                ),
                (
                    "exaktime_id",
                    models.CharField(blank=True, max_length=64, verbose_name="ExakTime ID"),
                ),
                ("name", models.CharField(blank=True, max_length=255)),
                ("message", models.TextField(blank=True)),
                ("retryable", models.BooleanField(default=False)),
                ("first_seen_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("last_seen_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "connection",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="open_failures",
                        to="linx.connection",
                    ),
                ),
                (
                    "last_run",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="linx.syncrun",
                    ),
                ),
            ],
            options={
                "ordering": ["connection", "kind", "entity_type", "name"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("connection", "kind", "entity_type", "source_id"),
                        name="open_failure_unique_per_record",
                        violation_error_message="This record already has an open failure.",
                    )
                ],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
