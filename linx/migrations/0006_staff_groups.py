"""The three staff groups: Viewers, Operators, Administrators.

- Viewers read everything and run nothing.
- Operators also start, re-run and cancel runs, and link, unlink and ignore records.
- Administrators also manage connections, their secrets and settings.

A person's group decides what the admin lets them do; every action checks it.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = ["connection", "fieldset", "customfield", "entitymapping", "syncrun", "rowresult"]
VIEW = [f"view_{model}" for model in MODELS]
GROUPS = {
    "Viewers": VIEW,
    "Operators": [*VIEW, "run_sync", "change_entitymapping"],
    "Administrators": [
        *VIEW,
        "run_sync",
        "change_entitymapping",
        "add_connection",
        "change_connection",
        "delete_connection",
        "change_fieldset",
        "change_customfield",
    ],
}


def create_groups(apps, schema_editor):
    # Permissions are normally made after every migration has run; these groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="linx", codename__in=codenames)
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("linx", "0005_mapping_ignored_by_and_run_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
