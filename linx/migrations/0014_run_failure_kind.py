"""A run records why it stopped early (``failure_kind``) instead of leaving it to ``message``;
a failed row keeps the hint (what to do) as its own field too.

Runs that stopped early before this field existed are known only by their message:
they get ``other``, so re-runs resume them and the CLI reports them as before.
"""

from django.db import migrations, models


def mark_earlier_stops(apps, schema_editor):
    SyncRun = apps.get_model("linx", "SyncRun")
    SyncRun.objects.filter(status__in=["failed", "cancelled"]).exclude(message="").update(
        failure_kind="other"
    )


class Migration(migrations.Migration):
    dependencies = [("linx", "0013_encrypt_mfa_seeds")]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="failure_kind",
            field=models.CharField(
                blank=True,
                choices=[
                    ("configuration", "Settings need a fix"),
                    ("authentication", "Sign-in refused"),
                    ("unavailable", "Service did not answer"),
                    ("rate_limited", "Rate limited"),
                    ("data", "Data refused"),
                    ("stopped", "Stopped"),
                    ("crashed", "Linx stopped unexpectedly"),
                    ("other", "Stopped early"),
                ],
                help_text="Why it stopped before going through every record; blank when it did not.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="rowresult",
            name="hint",
            field=models.TextField(
                blank=True,
                db_default="",
                help_text="What to do about the failure, when Linx knows (the message ends with it).",
            ),
        ),
        migrations.RunPython(mark_earlier_stops, migrations.RunPython.noop),
    ]
