"""Grant the API-token permissions: integration admins manage tokens, auditors may see the list."""

from django.db import migrations

GRANTS = {
    "integration_admin": ["view_apitoken", "add_apitoken", "change_apitoken"],
    "auditor": ["view_apitoken"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("security")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="security", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="security")
    for group in Group.objects.filter(name__in=list(GRANTS)):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [("security", "0001_api_tokens"), ("integrator", "0003_roles")]

    operations = [migrations.RunPython(grant, revoke)]
