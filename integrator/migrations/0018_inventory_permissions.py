"""Grant the inventory and tax permissions to the roles.

* everyone sees stock, shipments, valuation, reorder suggestions, purchase orders and tax checks;
* clerks and managers enter and receive shipments, add their costs, count stock and act on
  reorder suggestions;
* finance managers also adjust and write off stock (add_stockmovement) and keep the tax rules;
* integration admins and managers keep the inventory book (which accounts stock is booked to).
"""

from django.db import migrations

VIEW = [
    "view_stocklevel", "view_stockmovement", "view_shipment", "view_shipmentline", "view_shipmentcost",
    "view_costpool", "view_reordersuggestion", "view_purchaseorder", "view_stockcount", "view_supplier",
    "view_inventorybook", "view_taxrule", "view_taxcheck",
]  # fmt: skip
CLERK = [
    "add_shipment", "change_shipment", "add_shipmentcost", "add_stockcount", "change_reordersuggestion",
    "add_supplier", "change_supplier",
]  # fmt: skip
GRANTS = {
    "finance_clerk": VIEW + CLERK,
    "finance_manager": VIEW + CLERK + ["add_stockmovement", "add_taxrule", "change_taxrule",
                                        "add_inventorybook", "change_inventorybook"],
    "auditor": VIEW,
    "integration_admin": VIEW + ["add_inventorybook", "change_inventorybook"],
}  # fmt: skip


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
        group.permissions.add(*Permission.objects.filter(content_type__app_label="integrator", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="integrator", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("integrator", "0017_inventory")]

    operations = [migrations.RunPython(grant, revoke)]
