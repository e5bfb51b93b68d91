"""django-import-export resources: charts of accounts, tax codes and mapping rules as CSV / XLSX.

Every import is previewed first (a dry run inside a transaction that is rolled back) and reports
row-level errors; a real import with any bad row imports nothing. Imports are audited from
``after_import`` so the admin integration and the screens leave the same trail.

Mapping rules of a version are immutable once active, so rules are *exported* from a version and
*imported into a draft change request* (:class:`MappingChangeItemResource`), which then goes through
approval like any other change.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields, resources
from import_export.instance_loaders import BaseInstanceLoader
from import_export.widgets import DecimalWidget, ForeignKeyWidget

from integrator.cells import inert_dataset
from integrator.choices import AccountType
from integrator.models import (
    LedgerAccount,
    LedgerConnection,
    MappingChangeItem,
    MappingChangeRequest,
    MappingRule,
    TaxCode,
)
from integrator.services import audit

__all__ = [
    "LedgerAccountResource",
    "MappingChangeItemResource",
    "MappingRuleResource",
    "TaxCodeResource",
]

_TYPE_ALIASES = {
    "assets": AccountType.ASSET,
    "bank": AccountType.ASSET,
    "liabilities": AccountType.LIABILITY,
    "income": AccountType.REVENUE,
    "sales": AccountType.REVENUE,
    "expenses": AccountType.EXPENSE,
    "cost": AccountType.EXPENSE,
}


_TRUE = {"1", "true", "yes", "y", "active", "on"}
_FALSE = {"0", "false", "no", "n", "inactive", "off"}


class ConnectionWidget(ForeignKeyWidget):
    """The ledger connection by id, looked up once per import rather than once per row."""

    def __init__(self) -> None:
        super().__init__(LedgerConnection, "pk")
        self._cache: dict[str, LedgerConnection] = {}

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        """A known connection, or a row error naming the unknown id."""
        key = str(value or "").strip()
        if not key:
            return None
        if key not in self._cache:
            try:
                self._cache[key] = LedgerConnection.objects.get(pk=uuid.UUID(key))
            except (ValueError, LedgerConnection.DoesNotExist):
                raise ValueError(f"no ledger connection with id {key!r}") from None
        return self._cache[key]


class ChartInstanceLoader(BaseInstanceLoader):
    """Existing rows of the connections named in the file, loaded in one query and matched by
    (connection, code): a 500-row chart costs one query, not 500."""

    def __init__(self, resource: Any, dataset: Any = None) -> None:
        super().__init__(resource, dataset)
        ids = set()
        if dataset is not None and "connection" in (dataset.headers or []):
            for value in dataset["connection"]:
                try:
                    ids.add(uuid.UUID(str(value)))
                except ValueError:
                    continue
        model = resource._meta.model
        self.cache = {(str(o.connection_id), o.code): o for o in model.objects.filter(connection_id__in=ids)}

    def get_instance(self, row: Any) -> Any:
        """The row's existing object, or None for a new one."""
        return self.cache.get((str(row.get("connection") or "").strip(), str(row.get("code") or "").strip()))


class CodeInConnectionWidget(ForeignKeyWidget):
    """A foreign key by ``code`` within one ledger connection; an unknown code is a row error."""

    def __init__(self, model: Any, connection: LedgerConnection | None = None) -> None:
        super().__init__(model, field="code")
        self.connection = connection

    def get_queryset(self, value: Any, row: Any, *args: Any, **kwargs: Any) -> Any:
        """Only this connection's codes."""
        qs = self.model.objects.all()
        if self.connection is not None:
            qs = qs.filter(connection=self.connection)
        return qs

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        """Turn "no such code" into a validation message rather than a crash."""
        try:
            return super().clean(str(value).strip() if value is not None else value, row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(
                f"no {self.model._meta.verbose_name} with code {value!r} in this ledger"
            ) from None


class InertExportMixin:
    """Exports whose text cells cannot run as spreadsheet formulas (screens and admin alike)."""

    def export(self, *args: Any, **kwargs: Any) -> Any:
        """The exported dataset through :func:`integrator.cells.inert_dataset`."""
        return inert_dataset(super().export(*args, **kwargs))  # type: ignore[misc]


class _ChartResource(InertExportMixin, resources.ModelResource):
    """Rows of one ledger connection's chart, keyed by (connection, code).

    Bound to a connection (the screens) the ``connection`` column is filled in for every row;
    unbound (the admin) each row must name its connection by id. Duplicate codes within one file
    are row errors, as are unknown types and blank names.
    """

    connection = fields.Field(attribute="connection", column_name="connection", widget=ConnectionWidget())

    def __init__(self, connection: LedgerConnection | None = None, actor: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fields["connection"].widget = ConnectionWidget()  # a fresh cache per import
        self.bound_connection = connection
        self.actor = actor
        self._seen: dict[tuple[str, str], int] = {}

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        """Fill in the bound connection and normalise headers (case, spaces)."""
        dataset.headers = [str(h or "").strip().lower().replace(" ", "_") for h in dataset.headers]
        if self.bound_connection is not None:
            if "connection" in dataset.headers:
                del dataset["connection"]
            dataset.append_col([str(self.bound_connection.pk)] * len(dataset), header="connection")
        self._seen = {}

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        """Normalise values and refuse duplicate codes within the file."""
        for name in ("code", "name", "remote_id"):
            if name in row and row[name] is not None:
                row[name] = str(row[name]).strip()
        if "active" in row:
            flag = str(row["active"] if row["active"] is not None else "").strip().lower()
            if flag and flag not in _TRUE | _FALSE:
                raise ValidationError({"active": [f"active must be yes or no, not {row['active']!r}"]})
            row["active"] = "0" if flag in _FALSE else "1"
        key = (str(row.get("connection") or ""), str(row.get("code") or "").lower())
        number = kwargs.get("row_number", 0)
        if key[1] and key in self._seen:
            raise ValidationError(
                {"code": [f"code {row['code']} appears again (first on row {self._seen[key]})"]}
            )
        self._seen[key] = number

    def validate_instance(
        self, instance: Any, import_validation_errors: Any = None, validate_unique: bool = True
    ) -> None:
        """Model validation without the per-row queries: the connection was checked when read, and
        uniqueness by the duplicate check above (and the database constraint)."""
        errors = dict(import_validation_errors or {})
        try:
            instance.full_clean(exclude=[*errors, "connection"], validate_unique=False)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def after_import(self, dataset: Any, result: Any, **kwargs: Any) -> None:
        """Audit a real (not dry-run) import that went through."""
        super().after_import(dataset, result, **kwargs)
        if kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors():
            return
        totals = result.totals
        audit.record(
            f"chart.{self._meta.model._meta.model_name}s_imported",
            object_type=self._meta.model._meta.label,
            object_id=str(self.bound_connection.pk) if self.bound_connection else "",
            before=None,
            after={
                "rows": result.total_rows,
                "new": totals.get("new", 0),
                "updated": totals.get("update", 0),
                "unchanged": totals.get("skip", 0),
                "codes": [r.object_repr for r in result.rows][:500],
            },
            actor=self.actor,
        )


class LedgerAccountResource(_ChartResource):
    """Accounts: code, name, type (asset, liability, equity, revenue, expense), remote id, active."""

    class Meta:
        model = LedgerAccount
        fields = ("connection", "code", "name", "type", "remote_id", "active")
        export_order = fields
        import_id_fields = ("connection", "code")
        instance_loader_class = ChartInstanceLoader
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        skip_html_diff = True
        use_bulk = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        """Accept type labels and a few common synonyms ("Income", "Expenses")."""
        super().before_import_row(row, **kwargs)
        raw = str(row.get("type") or "").strip().lower()
        labels = {label.lower(): value for value, label in AccountType.choices}
        row["type"] = _TYPE_ALIASES.get(raw) or labels.get(raw) or raw


class TaxCodeResource(_ChartResource):
    """Tax codes: code, name, rate as a fraction (0.20 for 20 %), remote id, active."""

    rate = fields.Field(attribute="rate", column_name="rate", widget=DecimalWidget())

    class Meta:
        model = TaxCode
        fields = ("connection", "code", "name", "rate", "remote_id", "active")
        export_order = fields
        import_id_fields = ("connection", "code")
        instance_loader_class = ChartInstanceLoader
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        skip_html_diff = True
        use_bulk = True

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        """A rate must be a fraction between 0 and 1; "20" is refused rather than read as 2000 %."""
        super().before_import_row(row, **kwargs)
        try:
            rate = Decimal(str(row.get("rate")).strip().rstrip("%"))
        except (InvalidOperation, ValueError):
            raise ValidationError({"rate": [f"rate {row.get('rate')!r} is not a number"]}) from None
        if not Decimal(0) <= rate < 1:
            raise ValidationError({"rate": [f"rate {rate} must be a fraction: 0.20 for 20 %"]})
        row["rate"] = str(rate)


class MappingRuleResource(InertExportMixin, resources.ModelResource):
    """The rules of a mapping version, with accounts and tax codes by code (export only)."""

    version = fields.Field(attribute="version__number", column_name="version", readonly=True)
    account = fields.Field(
        attribute="account", column_name="account", widget=ForeignKeyWidget(LedgerAccount, "code")
    )
    tax_code = fields.Field(
        attribute="tax_code", column_name="tax_code", widget=ForeignKeyWidget(TaxCode, "code")
    )

    class Meta:
        model = MappingRule
        fields = ("version", "kind", "match_field", "match_value", "account", "tax_code", "item_ref")
        export_order = fields


class MappingChangeItemResource(resources.ModelResource):
    """Rules imported into a draft change request (same columns as the rule export, plus an
    optional ``action``: add, edit or remove; blank means add or change as the rule exists).

    Each row is validated exactly as the mapping editor validates an item; the import is allowed
    only on a draft, by its author.
    """

    change = fields.Field(
        attribute="change", column_name="change", widget=ForeignKeyWidget(MappingChangeRequest, "pk")
    )

    class Meta:
        model = MappingChangeItem
        fields = ("change", "action", "kind", "match_field", "match_value", "account", "tax_code", "item_ref")
        import_id_fields = ("change", "kind", "match_field", "match_value")
        clean_model_instances = True

    def __init__(self, change: MappingChangeRequest, actor: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.change = change
        self.actor = actor
        connection = change.mapping_set.connection
        self.fields["account"] = fields.Field(
            attribute="account",
            column_name="account",
            widget=CodeInConnectionWidget(LedgerAccount, connection),
        )
        self.fields["tax_code"] = fields.Field(
            attribute="tax_code", column_name="tax_code", widget=CodeInConnectionWidget(TaxCode, connection)
        )
        self._seen: set[tuple[str, str, str]] = set()

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        """Only a draft, only its author; every row belongs to this change."""
        from integrator.models.mapping_changes import ChangeStatus

        if self.change.status != ChangeStatus.DRAFT:
            raise ValueError("rules can only be imported into a draft change")
        if getattr(self.actor, "pk", None) != self.change.author_id:
            raise ValueError("only the author of a draft may import rules into it")
        dataset.headers = [str(h or "").strip().lower().replace(" ", "_") for h in dataset.headers]
        for name in ("change", "version"):
            if name in dataset.headers:
                del dataset[name]
        dataset.append_col([str(self.change.pk)] * len(dataset), header="change")
        for name in ("action", "match_value", "tax_code", "item_ref"):
            if name not in dataset.headers:
                dataset.append_col([""] * len(dataset), header=name)
        self._seen = set()

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        """Blank cells to empty strings; a rule named twice in one file is an error."""
        for name in ("action", "kind", "match_field", "match_value", "item_ref", "account", "tax_code"):
            row[name] = str(row.get(name) or "").strip()
        row["match_field"] = row["match_field"].lower() or "default"
        row["kind"] = row["kind"].lower()
        key = (row["kind"], row["match_field"], row["match_value"].lower())
        if key in self._seen:
            raise ValidationError({"match_value": ["this rule appears twice in the file"]})
        self._seen.add(key)

    def validate_instance(
        self, instance: Any, import_validation_errors: Any = None, validate_unique: bool = True
    ) -> None:
        """Validate the item exactly as the mapping editor does (its action inferred when blank)."""
        from integrator.services.mapping_changes import check_item

        errors = dict(import_validation_errors or {})
        if not errors:
            check = check_item(
                self.change,
                action=instance.action or None,
                kind=instance.kind,
                match_field=instance.match_field,
                match_value=instance.match_value,
                account=instance.account,
                tax_code=instance.tax_code,
                item_ref=instance.item_ref,
            )
            errors.update(check.errors)
            instance.action = check.action
            if instance.action == "remove":
                instance.account = instance.tax_code = None
                instance.item_ref = ""
        if errors:
            raise ValidationError(errors)

    def after_import(self, dataset: Any, result: Any, **kwargs: Any) -> None:
        """Audit a real import of items into the draft."""
        super().after_import(dataset, result, **kwargs)
        if kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors():
            return
        items = list(self.change.items.select_related("account", "tax_code"))
        audit.record(
            "mapping_change.items_imported",
            obj=self.change,
            before=None,
            after={
                "rows": result.total_rows,
                "items": [
                    f"{i.action} {i.kind} {i.match_field}={i.match_value or '*'} -> "
                    f"{i.account.code if i.account else '-'}"
                    for i in items
                ],
            },
            actor=self.actor,
        )
