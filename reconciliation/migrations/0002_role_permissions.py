"""Grant the reconciliation permissions to the roles (data migration, reversible).

The roles migration (integrator 0003) ran before these models existed, so it could not grant them:
finance clerks and managers view everything, start runs, import statements and resolve exceptions;
only finance managers write off; integration admins register bank accounts; auditors only read.
"""

from django.db import migrations

MODELS = ["bankaccount", "bankstatement", "bankline", "reconciliationrun", "reconciliationexception", "match"]
GRANTS = {
    "finance_clerk": ["add_reconciliationrun", "add_bankstatement", "change_reconciliationexception"],
    "finance_manager": [
        "add_reconciliationrun",
        "add_bankstatement",
        "change_reconciliationexception",
        "write_off_reconciliationexception",
        "add_bankaccount",
        "change_bankaccount",
        "add_match",
    ],
    "auditor": [],
    "integration_admin": ["add_bankaccount", "change_bankaccount"],
}


def _permissions(apps):
    from django.contrib.auth.management import create_permissions

    config = apps.get_app_config("reconciliation")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    return apps.get_model("auth", "Permission").objects.filter(content_type__app_label="reconciliation")


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    ours = _permissions(apps)
    for role, extra in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        codenames = [f"view_{m}" for m in MODELS] + extra
        group.permissions.add(*ours.filter(codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    ours = apps.get_model("auth", "Permission").objects.filter(content_type__app_label="reconciliation")
    for group in Group.objects.filter(name__in=list(GRANTS)):
        group.permissions.remove(*ours)


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0001_initial"), ("integrator", "0003_roles")]

    operations = [migrations.RunPython(grant, revoke)]
