"""The audit trail: who linked, unlinked, ignored, un-ignored, cancelled or moved a service.

Every staff group may read it (it holds no secret); nobody edits it.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GROUPS = ["Viewers", "Operators", "Administrators"]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="linx", codename="view_auditevent")
    for name in GROUPS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*view)


class Migration(migrations.Migration):

    dependencies = [
        ('linx', '0015_export_ledger'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('actor_name', models.CharField(help_text='As it was at the time: kept if the user is deleted.', max_length=255, verbose_name='who')),
                ('action', models.CharField(choices=[('link', 'Linked'), ('unlink', 'Unlinked'), ('ignore', 'Ignored on import'), ('unignore', 'No longer ignored'), ('cancel', 'Run cancelled'), ('secrets_cleared', 'Service moved: secrets cleared')], max_length=32)),
                ('target', models.CharField(help_text='What was acted on, for people.', max_length=300)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('connection', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='linx.connection')),
            ],
            options={
                'ordering': ['-at', '-pk'],
                'indexes': [models.Index(fields=['connection', '-at'], name='linx_audite_connect_0a6210_idx')],
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
