"""Shipments from a CSV or XLSX file (read with tablib, as django-import-export reads its files),
previewed before anything is saved.

One row per invoice line or cost; rows with the same ``shipment`` reference make one shipment::

    shipment, supplier, currency, invoice_date, invoice_rate, record, sku, quantity, unit_price,
    unit_weight, kind, amount, cost_currency, basis, cost_rate, paid_through

``record`` is ``line`` (``sku``, ``quantity``, ``unit_price``, optional ``unit_weight``) or
``cost`` (``kind``, ``amount``, ``cost_currency``, ``basis``, optional ``cost_rate`` and
``paid_through``). Dates are ISO (2026-11-10). A file with any problem imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import tablib
from django.db import transaction

from integrator import money
from integrator.models import InventoryBook, Product, Shipment, ShipmentCost, Supplier
from integrator.services.inventory.landed import create_shipment

__all__ = ["COLUMNS", "ParsedShipment", "import_shipments", "parse_shipments"]

COLUMNS = [
    "shipment", "supplier", "currency", "invoice_date", "invoice_rate", "record", "sku", "quantity", "unit_price",
    "unit_weight", "kind", "amount", "cost_currency", "basis", "cost_rate", "paid_through",
]  # fmt: skip
MAX_ROWS = 2000


@dataclass
class ParsedShipment:
    """A shipment read from the file, ready to create."""

    reference: str
    supplier: str
    currency: str
    invoice_date: date
    invoice_rate: Decimal | None
    lines: list[dict[str, Any]] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)


def _dataset(content: bytes, filename: str) -> tablib.Dataset:
    if filename.lower().endswith(".xlsx"):
        return tablib.Dataset().load(content, format="xlsx")
    return tablib.Dataset().load(content.decode("utf-8-sig"), format="csv")


def _decimal(
    value: Any, what: str, problems: list[str], row: int, *, required: bool = True
) -> Decimal | None:
    text = str(value if value is not None else "").strip()
    if not text:
        if required:
            problems.append(f"row {row}: {what} is missing")
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        problems.append(f"row {row}: {what} {text!r} is not a number")
        return None


def parse_shipments(content: bytes, filename: str) -> tuple[list[ParsedShipment], list[str]]:
    """Read the file; returns the shipments and the problems (nothing is saved)."""
    try:
        data = _dataset(content, filename)
    except Exception as exc:  # tablib raises many kinds for a file it cannot read
        return [], [f"cannot read the file: {exc}"]
    headers = [str(h or "").strip().lower() for h in (data.headers or [])]
    missing = [c for c in ("shipment", "supplier", "invoice_date", "record") if c not in headers]
    if missing:
        return [], [f"missing column(s): {', '.join(missing)}"]
    if len(data) > MAX_ROWS:
        return [], [f"more than {MAX_ROWS} rows"]
    problems: list[str] = []
    shipments: dict[str, ParsedShipment] = {}
    products = {p.sku: p for p in Product.objects.all()}
    for i, values in enumerate(data, start=2):
        row = {h: ("" if v is None else str(v).strip()) for h, v in zip(headers, values, strict=False)}
        ref = row.get("shipment", "")
        if not ref:
            problems.append(f"row {i}: the shipment reference is missing")
            continue
        ship = shipments.get(ref)
        if ship is None:
            try:
                day = date.fromisoformat(row.get("invoice_date", "")[:10])
            except ValueError:
                problems.append(
                    f"row {i}: invoice_date {row.get('invoice_date')!r} is not a date (YYYY-MM-DD)"
                )
                continue
            currency = row.get("currency", "").upper()
            if currency and not money.is_known_currency(currency):
                problems.append(f"row {i}: {currency} is not an ISO-4217 currency")
            ship = shipments[ref] = ParsedShipment(
                ref, row.get("supplier", ""), currency, day,
                _decimal(row.get("invoice_rate"), "invoice_rate", problems, i, required=False),
            )  # fmt: skip
        record = row.get("record", "").lower()
        if record == "line":
            product = products.get(row.get("sku", ""))
            if product is None:
                problems.append(f"row {i}: no product with SKU {row.get('sku')!r}")
                continue
            quantity = _decimal(row.get("quantity"), "quantity", problems, i)
            price = _decimal(row.get("unit_price"), "unit_price", problems, i)
            if quantity is not None and quantity <= 0:
                problems.append(f"row {i}: the quantity must be positive")
            ship.lines.append({"product": product, "quantity": quantity, "unit_price": price,
                               "unit_weight": _decimal(row.get("unit_weight"), "unit_weight", problems, i,
                                                       required=False)})  # fmt: skip
        elif record == "cost":
            kind = row.get("kind", "").lower()
            if kind not in ShipmentCost.Kind.values:
                problems.append(
                    f"row {i}: cost kind {kind!r} is not one of {', '.join(ShipmentCost.Kind.values)}"
                )
            basis = row.get("basis", "").lower() or ShipmentCost.Basis.VALUE
            if basis not in ShipmentCost.Basis.values:
                problems.append(
                    f"row {i}: basis {basis!r} is not one of {', '.join(ShipmentCost.Basis.values)}"
                )
            paid = row.get("paid_through", "").lower() or ShipmentCost.PaidThrough.PAYABLES
            cur = (row.get("cost_currency") or ship.currency).upper()
            if not money.is_known_currency(cur):
                problems.append(f"row {i}: {cur} is not an ISO-4217 currency")
            ship.costs.append({"kind": kind, "amount": _decimal(row.get("amount"), "amount", problems, i),
                               "currency": cur, "basis": basis, "paid_through": paid,
                               "rate": _decimal(row.get("cost_rate"), "cost_rate", problems, i, required=False)})  # fmt: skip
        else:
            problems.append(f"row {i}: record must be 'line' or 'cost', not {record!r}")
    for ship in shipments.values():
        if not ship.lines:
            problems.append(f"shipment {ship.reference}: no lines")
        if Shipment.objects.filter(reference=ship.reference).exists():
            problems.append(f"shipment {ship.reference} exists already")
    return list(shipments.values()), problems


def import_shipments(
    content: bytes, filename: str, book: InventoryBook, *, actor: Any = None
) -> list[Shipment]:
    """Create the file's shipments as drafts (all or none); raises ValueError with the problems."""
    parsed, problems = parse_shipments(content, filename)
    if problems:
        raise ValueError("; ".join(problems[:20]))
    made = []
    with transaction.atomic():
        for ship in parsed:
            supplier, _ = Supplier.objects.get_or_create(
                name=ship.supplier or "Unknown supplier", defaults={"currency": ship.currency or "USD"}
            )
            made.append(create_shipment(
                book, reference=ship.reference, supplier=supplier, invoice_date=ship.invoice_date,
                currency=ship.currency or supplier.currency, invoice_rate=ship.invoice_rate, lines=ship.lines,
                costs=ship.costs, actor=actor,
            ))  # fmt: skip
    return made
