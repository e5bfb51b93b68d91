"""Admin of issue 12: products' stock settings, suppliers, the inventory book and tax rules are
edited here (each save audited with before and after); stock, movements, shipments, suggestions,
purchase orders and tax checks are read only (they change through the services)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from integrator import models as m
from integrator.admin import ReadOnlyAdmin
from integrator.services import audit

__all__ = ["AuditedAdmin"]


class AuditedAdmin(admin.ModelAdmin):
    """Edits saved with an audit row (before and after)."""

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        """Save and audit."""
        before = audit.snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        audit.record(f"inventory.{obj._meta.model_name}_{'changed' if change else 'created'}", obj=obj,
                     before=before, after=audit.snapshot(obj), actor=request.user)  # fmt: skip


@admin.register(m.Product)
class ProductAdmin(AuditedAdmin):
    """Products with their stock settings (tracked, costing method, reorder point, lead time ...)."""

    list_display = (
        "sku",
        "name",
        "category",
        "unit",
        "track_stock",
        "costing_method",
        "reorder_point",
        "supplier",
    )
    list_filter = ("track_stock", "costing_method", "category")
    search_fields = ("sku", "name")


@admin.register(m.Supplier)
class SupplierAdmin(AuditedAdmin):
    """Suppliers: currency and lead time."""

    list_display = ("name", "country", "currency", "lead_time_days")


@admin.register(m.InventoryBook)
class InventoryBookAdmin(AuditedAdmin):
    """Which accounts stock is booked to, per ledger."""

    list_display = ("connection", "inventory_account", "cogs_account", "adjustments_account", "channel")


class TaxComponentInline(admin.TabularInline):
    """The levies of a tax rule."""

    model = m.TaxComponent
    extra = 1


@admin.register(m.TaxRule)
class TaxRuleAdmin(AuditedAdmin):
    """Configured tax rules (they come before the built-in ones)."""

    list_display = ("code", "name", "jurisdiction", "tax_class", "valid_from", "valid_to", "exempt")
    inlines = [TaxComponentInline]


_READ_ONLY: dict[type[Model], tuple[str, ...]] = {
    m.StockLevel: ("product", "location", "quantity", "reorder_point", "below", "breach"),
    m.StockMovement: ("date", "kind", "product", "location", "quantity", "value", "cogs", "key"),
    m.CostPool: ("product", "book", "quantity", "value"),
    m.Shipment: ("reference", "supplier", "currency", "invoice_date", "status", "received_on"),
    m.ReorderSuggestion: ("level", "breach", "quantity", "status", "created_at"),
    m.PurchaseOrder: ("supplier", "status", "created_at"),
    m.StockCount: ("location", "counted_on", "applied"),
    m.TaxCheck: ("transaction", "revision", "stated", "computed", "difference", "within_rounding"),
}
for _model, _columns in _READ_ONLY.items():
    admin.site.register(
        _model,
        type(f"{_model.__name__}Admin", (ReadOnlyAdmin,), {
            "__doc__": f"{str(_model._meta.verbose_name_plural).capitalize()} (read only).", "list_display": _columns,
        }),
    )  # fmt: skip
