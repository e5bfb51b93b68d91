"""The chart of accounts, tax codes and items of each ledger connection.

* :func:`refresh_chart` reads them from the ledger through its connector (``fetch_accounts``,
  ``fetch_tax_codes``, ``fetch_items``; the vendor calls happen before any database transaction)
  and upserts our copy: new codes are added, changed names / types / ids updated, codes the ledger
  no longer lists are deactivated (never deleted: old journals point at them). The built-in ledger
  keeps its chart here already, so there is nothing to fetch.
* :func:`import_chart` / :func:`export_chart` move accounts or tax codes in and out as CSV or XLSX
  through the django-import-export resources, with a dry-run preview and row-level errors; a file
  with any bad row imports nothing.
* :func:`import_rules_into_change` / :func:`export_rules` do the same for mapping rules, always
  into a draft change request (rules of an active version are never edited in place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tablib
from django.core.exceptions import PermissionDenied
from django.db import transaction
from import_export.formats.base_formats import CSV, XLSX
from import_export.resources import ModelResource

from connectors.base import RemoteItem
from integrator.cells import inert_dataset, restore_text
from integrator.choices import AccountType
from integrator.models import (
    LedgerAccount,
    LedgerConnection,
    MappingChangeRequest,
    MappingVersion,
    TaxCode,
)
from integrator.resources import (
    LedgerAccountResource,
    MappingChangeItemResource,
    MappingRuleResource,
    TaxCodeResource,
)
from integrator.services import audit
from integrator.services.posting import ledger_target_for

__all__ = [
    "FORMATS",
    "ChartFileError",
    "ChartRefresh",
    "ImportReport",
    "RowError",
    "export_chart",
    "export_rules",
    "import_chart",
    "import_rules_into_change",
    "load_dataset",
    "refresh_chart",
]

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_WHAT = {
    "accounts": (LedgerAccountResource, "integrator.add_ledgeraccount"),
    "tax_codes": (TaxCodeResource, "integrator.add_taxcode"),
}


class ChartFileError(ValueError):
    """The uploaded file cannot be read as the format it claims."""


@dataclass
class ChartRefresh:
    """What a refresh from the ledger changed."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    items: list[RemoteItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RowError:
    """One bad row of an import: its number in the file (1 = first data row) and the messages."""

    row: int
    messages: tuple[str, ...]
    values: dict[str, Any]


@dataclass
class ImportReport:
    """The outcome of an import or of its dry run."""

    dry_run: bool
    total_rows: int
    new: int
    updated: int
    unchanged: int
    errors: list[RowError]
    imported: bool
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No bad rows."""
        return not self.errors


# -- refresh from the ledger -----------------------------------------------------------------------


def _upsert(
    model: Any,
    connection: LedgerConnection,
    remote: list[Any],
    fields_: tuple[str, ...],
    out: ChartRefresh,
    label: str,
) -> None:
    existing = {obj.code: obj for obj in model.objects.filter(connection=connection)}
    seen = set()
    for r in remote:
        code = str(r.code).strip()
        if not code:
            out.skipped.append(f"{label} without a code: {r.name}")
            continue
        seen.add(code)
        values = {f: getattr(r, f) for f in fields_}
        obj = existing.get(code)
        if obj is None:
            model.objects.create(connection=connection, code=code, **values)
            out.created.append(f"{label} {code}")
        elif any(getattr(obj, f) != v for f, v in values.items()):
            for f, v in values.items():
                setattr(obj, f, v)
            obj.save()
            out.updated.append(f"{label} {code}")
    for code, obj in existing.items():
        if code not in seen and obj.active:
            model.objects.filter(pk=obj.pk).update(active=False)
            out.deactivated.append(f"{label} {code}")


def refresh_chart(connection: LedgerConnection, *, actor: Any) -> ChartRefresh:
    """Fetch accounts, tax codes and items from the ledger and upsert our copy (audited)."""
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm("integrator.change_ledgeraccount"):
        raise PermissionDenied("You may not refresh the chart of accounts.")
    out = ChartRefresh()
    target = ledger_target_for(connection)
    # Network first, outside any transaction.
    items = target.fetch_items()
    out.items = list(items)
    if connection.platform == "builtin":
        return out  # the built-in ledger's chart lives in our tables already
    accounts = target.fetch_accounts()
    tax_codes = target.fetch_tax_codes()
    valid = []
    for a in accounts:
        if a.type in AccountType.values:
            valid.append(a)
        else:
            out.skipped.append(f"account {a.code}: unknown type {a.type!r}")
    with transaction.atomic():
        _upsert(LedgerAccount, connection, valid, ("name", "type", "remote_id", "active"), out, "account")
        _upsert(TaxCode, connection, tax_codes, ("name", "rate", "remote_id", "active"), out, "tax code")
        audit.record(
            "chart.refreshed",
            obj=connection,
            before=None,
            after={
                "created": out.created,
                "updated": out.updated,
                "deactivated": out.deactivated,
                "skipped": out.skipped,
                "items": len(out.items),
            },
            actor=actor,
        )
    return out


# -- files ---------------------------------------------------------------------------------------


def load_dataset(content: bytes, fmt: str) -> tablib.Dataset:
    """Read an uploaded CSV (UTF-8, with or without BOM) or XLSX file."""
    try:
        if fmt == "csv":
            return _restored(CSV().create_dataset(content.decode("utf-8-sig")))
        if fmt == "xlsx":
            return _restored(XLSX().create_dataset(content))
    except Exception as exc:
        raise ChartFileError(f"cannot read the file as {fmt.upper()}: {exc}") from exc
    raise ChartFileError(f"unsupported format {fmt!r}: use CSV or XLSX")


def _restored(dataset: tablib.Dataset) -> tablib.Dataset:
    """Undo the export's formula escaping (:func:`integrator.cells.restore_text`) so a file we
    exported imports to the same values."""
    restored = tablib.Dataset(headers=dataset.headers)
    for row in dataset:
        restored.append([restore_text(v) if isinstance(v, str) else v for v in row])
    return restored


def _dump(dataset: tablib.Dataset, fmt: str) -> bytes:
    dataset = inert_dataset(dataset)  # a rule's match value "=HYPERLINK(...)" stays text
    if fmt == "csv":
        return CSV().export_data(dataset).encode("utf-8")
    if fmt == "xlsx":
        data: bytes = XLSX().export_data(dataset)
        return data
    raise ChartFileError(f"unsupported format {fmt!r}: use CSV or XLSX")


def _report(result: Any, dry_run: bool, imported: bool) -> ImportReport:
    errors: list[RowError] = []
    for invalid in result.invalid_rows:
        texts = tuple(
            f"{name}: {m}" if name != "__all__" else str(m)
            for name, msgs in invalid.error_dict.items()
            for m in msgs
        )
        values = dict(zip(result.diff_headers, invalid.values, strict=False))
        errors.append(RowError(row=invalid.number, messages=texts, values=values))
    for error_row in result.error_rows:
        row_values = dict(error_row.errors[0].row or {}) if error_row.errors else {}
        messages = tuple(str(e.error) for e in error_row.errors)
        errors.append(RowError(row=error_row.number, messages=messages, values=row_values))
    for base in result.base_errors:
        errors.append(RowError(row=0, messages=(str(base.error),), values={}))
    errors.sort(key=lambda e: e.row)
    totals = result.totals
    preview = [
        {"row": i, "type": r.import_type, "object": r.object_repr}
        for i, r in enumerate(result.rows, 1)
        if r.import_type in ("new", "update")
    ][:200]
    return ImportReport(
        dry_run=dry_run,
        total_rows=result.total_rows,
        new=totals.get("new", 0),
        updated=totals.get("update", 0),
        unchanged=totals.get("skip", 0),
        errors=errors,
        imported=imported,
        preview=preview,
    )


def _run_import(resource: ModelResource, dataset: tablib.Dataset, dry_run: bool) -> ImportReport:
    result = resource.import_data(
        dataset,
        dry_run=dry_run,
        use_transactions=True,
        raise_errors=False,
        collect_failed_rows=True,
        rollback_on_validation_errors=True,
    )
    failed = result.has_errors() or result.has_validation_errors()
    return _report(result, dry_run, imported=not dry_run and not failed)


def import_chart(
    connection: LedgerConnection,
    *,
    content: bytes,
    fmt: str,
    what: str = "accounts",
    dry_run: bool = True,
    actor: Any,
) -> ImportReport:
    """Import accounts or tax codes into a connection. A dry run (the default) previews and saves
    nothing; a real import with any bad row saves nothing either. Audited when it saves."""
    resource_class, perm = _WHAT[what]
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(perm):
        raise PermissionDenied("You may not import the chart of accounts.")
    dataset = load_dataset(content, fmt)
    return _run_import(resource_class(connection=connection, actor=actor), dataset, dry_run)


def export_chart(connection: LedgerConnection, *, what: str = "accounts", fmt: str = "csv") -> bytes:
    """The connection's accounts or tax codes as a CSV or XLSX file (re-importable as is)."""
    resource_class, _ = _WHAT[what]
    model = LedgerAccount if what == "accounts" else TaxCode
    dataset = resource_class(connection=connection).export(model.objects.filter(connection=connection))
    return _dump(dataset, fmt)


def import_rules_into_change(
    change: MappingChangeRequest, *, content: bytes, fmt: str, dry_run: bool = True, actor: Any
) -> ImportReport:
    """Import rules as items of a draft change (validated as the editor validates them)."""
    if not getattr(actor, "is_authenticated", False) or actor.pk != change.author_id:
        raise PermissionDenied("Only the author of a draft may import rules into it.")
    dataset = load_dataset(content, fmt)
    return _run_import(MappingChangeItemResource(change=change, actor=actor), dataset, dry_run)


def export_rules(version: MappingVersion, *, fmt: str = "csv") -> bytes:
    """A version's rules as CSV or XLSX (importable into a draft change)."""
    dataset = MappingRuleResource().export(version.rules.select_related("account", "tax_code", "version"))
    return _dump(dataset, fmt)
