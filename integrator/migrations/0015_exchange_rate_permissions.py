"""Grant the exchange-rate permissions to the roles.

* everyone sees the rates a journal used (view_exchangerate);
* clerks and managers import the reference rates (add_exchangerate): reference data, not a choice;
* finance managers enter or correct a manual rate (change_exchangerate): a person's rate moves the
  books, so it is theirs, and audited.
"""

from django.db import migrations

GRANTS = {
    "finance_clerk": ["view_exchangerate", "add_exchangerate"],
    "finance_manager": ["view_exchangerate", "add_exchangerate", "change_exchangerate"],
    "auditor": ["view_exchangerate"],
    "integration_admin": ["view_exchangerate"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="integrator", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="integrator", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("integrator", "0014_setup_close_alert_permissions")]

    operations = [migrations.RunPython(grant, revoke)]
