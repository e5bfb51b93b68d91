"""Table definitions for list screens: column headers, whitelisted sorting, and export columns.

A table says, once per resource, which columns a list shows, which database fields each column
sorts by (``?sort=total`` / ``?sort=-total``; anything else is ignored, so a query string cannot
order by an arbitrary field) and what each column's value is in a CSV/XLSX export. Templates
render the cells themselves (links, badges); exports use :attr:`Column.value`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest

from integrator import money

__all__ = [
    "AccountTable",
    "Column",
    "InboundEventTable",
    "JobTable",
    "JournalEntryTable",
    "PostingTable",
    "Table",
    "TransactionTable",
]


def attr(path: str) -> Callable[[Any], Any]:
    """A value getter following a dotted path (``entry.reference``); None-safe."""

    def get(obj: Any) -> Any:
        for part in path.split("."):
            if obj is None:
                return None
            obj = getattr(obj, part)
            if callable(obj) and not isinstance(obj, Model):
                obj = obj()
        return obj

    return get


def _money(field: str) -> Callable[[Any], Any]:
    """An amount quantised to the row's currency (aggregates come back from SQLite as floats
    turned Decimal, e.g. 139.440000000000)."""

    def get(obj: Any) -> Any:
        value = getattr(obj, field)
        return None if value is None else money.quantize(value, obj.currency)

    return get


@dataclass(frozen=True)
class Column:
    """One column: a label, the export value, the sort fields, and whether the screen shows it."""

    name: str
    label: str
    value: Callable[[Any], Any]
    order_by: tuple[str, ...] = ()
    numeric: bool = False
    shown: bool = True


class Table:
    """A sorted queryset plus its columns. Subclasses set ``columns`` and ``default_sort``."""

    columns: ClassVar[tuple[Column, ...]] = ()
    default_sort: ClassVar[str] = ""

    def __init__(self, queryset: QuerySet[Any], request: HttpRequest) -> None:
        self.request = request
        by_name = {c.name: c for c in self.columns if c.order_by}
        requested = request.GET.get("sort", "") or self.default_sort
        name = requested.lstrip("-")
        column = by_name.get(name)
        if column is None:
            requested = self.default_sort
            name = requested.lstrip("-")
            column = by_name.get(name)
        self.sort = requested if column is not None else ""
        descending = self.sort.startswith("-")
        if column is not None:
            fields = [f"-{f}" if descending else f for f in column.order_by]
            # The primary key breaks ties so pages never overlap or skip rows.
            queryset = queryset.order_by(*fields, "-pk" if descending else "pk")
        self.queryset = queryset

    @property
    def shown_columns(self) -> list[Column]:
        """Columns the screen shows (exports may carry more)."""
        return [c for c in self.columns if c.shown]

    def headers(self) -> list[dict[str, Any]]:
        """Header cells: label, alignment, the link that sorts by the column, current direction."""
        out = []
        current = self.sort.lstrip("-")
        for column in self.shown_columns:
            cell: dict[str, Any] = {
                "label": column.label,
                "numeric": column.numeric,
                "url": "",
                "direction": "",
            }
            if column.order_by:
                if current == column.name:
                    cell["direction"] = "descending" if self.sort.startswith("-") else "ascending"
                    target = column.name if self.sort.startswith("-") else f"-{column.name}"
                else:
                    target = f"-{column.name}" if column.numeric else column.name
                params = self.request.GET.copy()
                params["sort"] = target
                params.pop("page", None)
                params.pop("export", None)
                cell["url"] = "?" + params.urlencode()
            out.append(cell)
        return out

    def export_header(self) -> list[str]:
        """Column labels for an export."""
        return [c.label for c in self.columns]

    def export_rows(self, rows: Iterable[Any]) -> Iterator[list[Any]]:
        """Column values for each row of an export."""
        for row in rows:
            yield [c.value(row) for c in self.columns]


class TransactionTable(Table):
    """Transactions: when, channel, document, status, totals, why it is held."""

    default_sort = "-occurred_at"
    columns = (
        Column("occurred_at", "When", attr("occurred_at"), ("occurred_at",)),
        Column("channel", "Channel", attr("channel.name"), ("channel__name",)),
        Column("number", "Document", attr("number"), ("number",)),
        Column("kind", "Kind", attr("kind"), ("kind",), shown=False),
        Column("status", "Status", attr("status"), ("status",)),
        Column("total", "Total", attr("total"), ("total",), numeric=True),
        Column("tax_total", "Tax", attr("tax_total"), ("tax_total",), numeric=True),
        Column("currency", "Currency", attr("currency"), shown=False),
        Column("reasons", "Why", lambda t: "; ".join(t.status_reasons or [])),
        Column("business_date", "Business day", attr("business_date"), ("business_date",), shown=False),
        Column("external_id", "Vendor id", attr("external_id"), shown=False),
        Column("revision", "Revision", attr("revision"), shown=False),
        Column("id", "Id", attr("id"), shown=False),
    )


class JournalEntryTable(Table):
    """Journal entries with their debit total (annotated ``amount``)."""

    default_sort = "-date"
    columns = (
        Column("date", "Date", attr("date"), ("date", "created_at")),
        Column("reference", "Reference", attr("reference"), ("reference",)),
        Column("kind", "Kind", attr("kind"), ("kind",)),
        Column("channel", "Channel", attr("channel.name"), ("channel__name",)),
        Column("amount", "Amount", _money("amount"), ("amount",), numeric=True),
        Column("currency", "Currency", attr("currency"), ("currency",)),
        Column("mapping", "Mapping", lambda e: f"v{e.mapping_version.number}" if e.mapping_version else ""),
        Column("posting", "Posting", lambda e: getattr(getattr(e, "posting", None), "state", "")),
        Column("memo", "Memo", attr("memo"), shown=False),
        Column("id", "Id", attr("id"), shown=False),
    )


class PostingTable(Table):
    """Outbox postings."""

    default_sort = "-created"
    columns = (
        Column("reference", "Document", attr("entry.reference"), ("entry__reference",)),
        Column("connection", "Ledger", attr("connection.name"), ("connection__name",)),
        Column("posting_date", "Date", attr("posting_date"), ("posting_date",)),
        Column("state", "State", attr("state"), ("state",)),
        Column("attempts", "Attempts", attr("attempts"), ("attempts",), numeric=True),
        Column("remote", "Ledger document", lambda p: p.remote_number or p.remote_id),
        Column("last_error", "Last error", attr("last_error")),
        Column("created", "Created", attr("created_at"), ("created_at",), shown=False),
        Column("posted_at", "Posted at", attr("posted_at"), ("posted_at",), shown=False),
        Column("idempotency_key", "Idempotency key", attr("idempotency_key"), shown=False),
        Column("id", "Id", attr("id"), shown=False),
    )


class InboundEventTable(Table):
    """The inbox."""

    default_sort = "-received_at"
    columns = (
        Column("received_at", "Received", attr("received_at"), ("received_at",)),
        Column("channel", "Channel", attr("channel.name"), ("channel__name",)),
        Column("event_type", "Event", attr("event_type"), ("event_type",)),
        Column("source", "Source", attr("source"), ("source",)),
        Column("status", "Status", attr("status"), ("status",)),
        Column("deliveries", "Deliveries", attr("deliveries"), ("deliveries",), numeric=True),
        Column("error", "Error", attr("error")),
        Column("dedupe_key", "Dedupe key", attr("dedupe_key"), shown=False),
        Column("id", "Id", attr("id"), shown=False),
    )


class JobTable(Table):
    """Long-running work."""

    default_sort = "-started_at"
    columns = (
        Column("started_at", "Started", attr("started_at"), ("started_at",)),
        Column("kind", "Kind", attr("kind"), ("kind",)),
        Column("description", "Description", attr("description")),
        Column("status", "Status", attr("status"), ("status",)),
        Column("progress", "Progress", lambda j: f"{j.done}/{j.total}" if j.total else str(j.done)),
        Column("message", "Message", attr("message")),
        Column("finished_at", "Finished", attr("finished_at"), ("finished_at",), shown=False),
        Column("id", "Id", attr("id"), shown=False),
    )


class AccountTable(Table):
    """A ledger's chart of accounts."""

    default_sort = "code"
    columns = (
        Column("code", "Code", attr("code"), ("code",)),
        Column("name", "Name", attr("name"), ("name",)),
        Column("type", "Type", attr("type"), ("type",)),
        Column("connection", "Ledger", attr("connection.name"), ("connection__name",)),
        Column("active", "Active", attr("active"), ("active",)),
        Column("remote_id", "Ledger id", attr("remote_id"), shown=False),
    )
