"""Schedules join the staff groups: everyone may see them, Administrators manage them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Viewers": ["view_runschedule"],
    "Operators": ["view_runschedule"],
    "Administrators": [
        "view_runschedule",
        "add_runschedule",
        "change_runschedule",
        "delete_runschedule",
    ],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="linx", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="linx", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("linx", "0008_service_url_checks")]

    operations = [migrations.RunPython(grant, revoke)]
