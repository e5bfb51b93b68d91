"""Grant the permissions of setup, period close, recovery and alerts to the roles.

* everyone may see period closes and alerts;
* finance managers close (add_periodclose) and reopen (reopen_periodclose) a period;
* clerks, managers and integration admins re-process quarantined or failed inbox events
  (change_inboundevent);
* integration admins manage the people who use the integrator (add/change/view user): without a
  shell or the Django admin someone must, and they already hold the connections and credentials.
"""

from django.db import migrations

EVERYONE = ["view_periodclose", "view_alert"]
GRANTS = {
    "finance_clerk": [*EVERYONE, "change_inboundevent"],
    "finance_manager": [*EVERYONE, "change_inboundevent", "add_periodclose", "reopen_periodclose"],
    "auditor": EVERYONE,
    "integration_admin": [*EVERYONE, "change_inboundevent"],
}
USER_ADMIN = {"integration_admin": ["add_user", "change_user", "view_user"]}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for table, label in ((GRANTS, "integrator"), (USER_ADMIN, "auth")):
        for name, codenames in table.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label=label, codename__in=codenames)
            )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for table, label in ((GRANTS, "integrator"), (USER_ADMIN, "auth")):
        for name, codenames in table.items():
            for group in Group.objects.filter(name=name):
                group.permissions.remove(
                    *Permission.objects.filter(content_type__app_label=label, codename__in=codenames)
                )


class Migration(migrations.Migration):
    dependencies = [("integrator", "0013_setup_period_close_alerts")]

    operations = [migrations.RunPython(grant, revoke)]
