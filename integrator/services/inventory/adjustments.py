"""Stock changes a person makes: opening stock, adjustments and write-offs, counts and transfers.

Each moves stock (:mod:`.stock`) and journals the value change against the inventory book's stock
adjustments account (``Dr inventory / Cr adjustments`` for a gain, the mirror for a loss). Every
function is atomic, audited, and idempotent by its ``key``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from integrator.models import InventoryBook, Product, StockCount, StockLevel, StockMovement
from integrator.services import audit
from integrator.services.inventory import stock
from integrator.services.inventory.books import post_stock_entry

__all__ = ["adjust_stock", "apply_count", "record_count", "transfer"]

ZERO = Decimal(0)
Kind = StockMovement.Kind


def _journal(book: InventoryBook, movement: StockMovement, memo: str) -> None:
    value = movement.value
    if not value:
        return
    legs = [
        (book.inventory_account_id, value, "", value, "inventory", memo),
        (book.adjustments_account_id, -value, "", -value, "adjustment", memo),
    ]
    post_stock_entry(book, reference=f"inventory/{movement.key}", on=movement.date, memo=memo, legs=legs)


def adjust_stock(
    book: InventoryBook, product: Product, quantity: Decimal, *, key: str, on: date, location: str = "",
    unit_cost: Decimal | None = None, kind: str = Kind.ADJUSTMENT, reason: str = "", actor: Any = None,
) -> StockMovement:  # fmt: skip
    """Add (``quantity`` > 0, at ``unit_cost`` or the current cost) or remove stock (a write-off
    or an adjustment down, at cost), journaled against stock adjustments."""
    if quantity == 0:
        raise ValueError("an adjustment needs a quantity")
    location = location or book.default_location
    with transaction.atomic():
        if quantity > 0:
            if unit_cost is None:
                _, pool = stock.locked_pool(book, product)
                unit_cost = pool.unit_cost()
            moved = stock.receive_stock(book, product, location, quantity, quantity * unit_cost, key=key, on=on,
                                        kind=kind, note=reason[:255])  # fmt: skip
        else:
            moved = stock.issue_stock(book, product, location, -quantity, key=key, on=on, kind=kind,
                                      note=reason[:255])  # fmt: skip
        if moved.made:
            label = StockMovement.Kind(kind).label
            _journal(
                book,
                moved.movement,
                f"{label}: {product.sku} {quantity:+}" + (f" ({reason})" if reason else ""),
            )
            audit.record(f"stock.{kind}", obj=moved.movement, actor=actor,
                         after={"sku": product.sku, "quantity": str(quantity), "value": str(moved.movement.value),
                                "reason": reason})  # fmt: skip
    return moved.movement


def apply_count(count: StockCount, book: InventoryBook, *, actor: Any = None) -> list[StockMovement]:
    """Bring each counted product's level to what was counted (a count movement for each
    difference, at cost), once."""
    made: list[StockMovement] = []
    with transaction.atomic():
        count = StockCount.objects.select_for_update().get(pk=count.pk)
        if count.applied:
            return made
        for line in count.lines.select_related("product"):
            level = StockLevel.objects.filter(product=line.product, location=count.location).first()
            expected = level.quantity if level else ZERO
            line.expected = expected
            line.save(update_fields=["expected"])
            difference = line.counted - expected
            if difference:
                made.append(adjust_stock(book, line.product, difference, key=f"count/{count.pk}/{line.product_id}",
                                         on=count.counted_on, location=count.location, kind=Kind.COUNT,
                                         reason=f"count of {count.counted_on}", actor=actor))  # fmt: skip
        count.applied = True
        count.save(update_fields=["applied"])
        audit.record("stock.count_applied", obj=count, actor=actor, after={"adjusted": len(made)})
    return made


def record_count(
    book: InventoryBook, *, location: str, counted_on: date, counts: dict[str, Decimal], note: str = "",
    actor: Any = None,
) -> StockCount:  # fmt: skip
    """Record a stock take (SKU -> units counted) and apply it at once. Unknown SKUs, and products
    that keep no stock, are refused (ValueError) before anything is saved."""
    from integrator.models import Product

    products = {p.sku: p for p in Product.objects.filter(sku__in=counts.keys(), track_stock=True)}
    unknown = sorted(set(counts) - products.keys())
    if unknown:
        raise ValueError(f"no product keeping stock with SKU {', '.join(unknown)}")
    if any(q < 0 for q in counts.values()):
        raise ValueError("a count cannot be negative")
    with transaction.atomic():
        count = StockCount.objects.create(
            location=location or book.default_location, counted_on=counted_on, note=note[:255],
            created_by=actor if getattr(actor, "pk", None) else None,
        )  # fmt: skip
        for sku, quantity in counts.items():
            count.lines.create(product=products[sku], counted=quantity)
        apply_count(count, book, actor=actor)
    return count


def transfer(
    product: Product,
    source: str,
    destination: str,
    quantity: Decimal,
    *,
    key: str,
    on: date,
    actor: Any = None,
) -> None:
    """Move units between locations (no value changes: cost is per product)."""
    if quantity <= 0 or source == destination:
        raise ValueError("a transfer needs a positive quantity and two different locations")
    with transaction.atomic():
        out, _ = stock.transfer_stock(product, source, destination, quantity, key=key, on=on)
        if out.made:
            audit.record("stock.transfer", obj=out.movement, actor=actor,
                         after={"sku": product.sku, "from": source, "to": destination, "quantity": str(quantity)})  # fmt: skip
