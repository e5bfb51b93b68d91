"""The Django admin: a read-mostly back office for integration admins.

Charts of accounts and tax codes can be imported and exported (CSV / XLSX, with the dry-run preview
and row errors of django-import-export; the resources audit every real import). Mapping rules can
be exported only: rules change through approved change requests, never in place. Everything else
is read-only here, because every write must go through a service that audits it. Encrypted fields
(credentials, webhook secrets) are never shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from import_export.admin import ExportMixin, ImportExportModelAdmin
from import_export.formats.base_formats import CSV, XLSX

from integrator import models as m
from integrator.resources import LedgerAccountResource, MappingRuleResource, TaxCodeResource
from integrator.services import audit

FORMATS = [CSV, XLSX]


class ReadOnlyAdmin(admin.ModelAdmin):
    """List and inspect only: writes go through the services (which audit them)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """No adding here."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """No editing here."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """No deleting here."""
        return False


class ChartAdmin(ImportExportModelAdmin):
    """Accounts and tax codes: import / export, and audited edits."""

    formats = FORMATS
    list_filter: tuple[str, ...] = ("connection", "active")
    search_fields = ("code", "name", "remote_id")

    def get_resource_kwargs(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The importing user is recorded in the audit trail."""
        return {"actor": request.user}

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        """Save and audit with before and after."""
        before = audit.snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        action = "changed" if change else "created"
        audit.record(
            f"chart.{obj._meta.model_name}_{action}",
            obj=obj,
            before=before,
            after=audit.snapshot(obj),
            actor=request.user,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Accounts are deactivated, never deleted (old journals point at them)."""
        return False


@admin.register(m.LedgerAccount)
class LedgerAccountAdmin(ChartAdmin):
    """Chart of accounts."""

    resource_classes = [LedgerAccountResource]
    list_display = ("code", "name", "type", "connection", "remote_id", "active")
    list_filter = ("connection", "type", "active")


@admin.register(m.TaxCode)
class TaxCodeAdmin(ChartAdmin):
    """Tax codes."""

    resource_classes = [TaxCodeResource]
    list_display = ("code", "name", "rate", "connection", "remote_id", "active")


@admin.register(m.MappingRule)
class MappingRuleAdmin(ExportMixin, ReadOnlyAdmin):
    """Rules of mapping versions: export only (change them through a change request)."""

    resource_classes = [MappingRuleResource]
    formats = FORMATS
    list_display = ("version", "kind", "match_field", "match_value", "account", "tax_code", "item_ref")
    list_filter = ("kind", "match_field", "version__mapping_set")
    search_fields = ("match_value", "account__code", "item_ref")


@admin.register(m.LedgerConnection)
class LedgerConnectionAdmin(ReadOnlyAdmin):
    """Ledger connections (credentials never shown)."""

    list_display = ("name", "platform", "functional_currency", "lock_date", "needs_reauth", "active")
    exclude = ("credentials",)


@admin.register(m.Channel)
class ChannelAdmin(ReadOnlyAdmin):
    """Sales channels (credentials and webhook secrets never shown)."""

    list_display = ("name", "platform", "slug", "currency", "posting_mode", "ledger_connection", "active")
    exclude = ("credentials", "webhook_secrets")


_PLAIN: dict[type[Model], tuple[str, ...]] = {
    m.MappingSet: ("channel", "connection", "discount_mode"),
    m.MappingVersion: ("mapping_set", "number", "status", "effective_from", "created_by", "approved_by"),
    m.MappingChangeRequest: (
        "title",
        "mapping_set",
        "status",
        "effective_from",
        "author",
        "reviewer",
        "decided_at",
    ),
    m.MappingChangeItem: ("change", "action", "kind", "match_field", "match_value", "account"),
    m.RepostRequest: ("mapping_set", "since", "status", "requested_by", "executed_by", "executed_at"),
    m.RepostResult: ("repost", "transaction", "outcome", "original_entry", "new_entry"),
    m.Transaction: (
        "kind",
        "external_id",
        "number",
        "channel",
        "status",
        "business_date",
        "currency",
        "total",
    ),
    m.InboundEvent: ("event_type", "dedupe_key", "channel", "status", "received_at"),
    m.JournalEntry: ("reference", "kind", "date", "currency", "channel", "mapping_version", "superseded"),
    m.Posting: ("entry", "state", "posting_date", "attempts", "remote_id", "updated_at"),
    m.AuditEvent: ("occurred_at", "actor_label", "action", "object_type", "object_id"),
    m.Job: (),
    m.BookEntry: (),
}
for _model, _columns in _PLAIN.items():
    admin.site.register(
        _model,
        type(
            f"{_model.__name__}Admin",
            (ReadOnlyAdmin,),
            {
                "__doc__": f"{str(_model._meta.verbose_name_plural).capitalize()} (read only).",
                "list_display": _columns or ("__str__",),
            },
        ),
    )

# Products, stock, shipments and tax rules (issue 12).
import integrator.admin_inventory  # noqa: E402,F401
