"""Roles as groups with permissions: finance clerk, finance manager, auditor, integration admin."""

from django.db import migrations

ROLES = {
    "finance_clerk": {
        "view": "__all__",
        "change": ["transaction", "posting", "mappingversion", "mappingrule", "product"],
        "add": ["mappingversion", "mappingrule", "product"],
    },
    "finance_manager": {
        "view": "__all__",
        "change": ["transaction", "posting", "mappingversion", "mappingrule", "product", "ledgerconnection"],
        "add": ["mappingversion", "mappingrule", "product"],
    },
    "auditor": {"view": "__all__"},
    "integration_admin": {
        "view": "__all__",
        "change": ["channel", "ledgerconnection", "ledgeraccount", "taxcode", "posting"],
        "add": ["channel", "ledgerconnection", "ledgeraccount", "taxcode"],
    },
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label__in=["integrator", "reconciliation"])
    for name, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for action, models in grants.items():
            qs = ours.filter(codename__startswith=f"{action}_")
            if models != "__all__":
                qs = qs.filter(codename__in=[f"{action}_{m}" for m in models])
            perms.extend(qs)
        group.permissions.set(perms)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrator", "0002_database_invariants"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
