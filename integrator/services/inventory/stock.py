"""Stock movements: every change of a product's quantity (per location) and value (per book).

Each movement has a unique ``key``; a function asked to make a movement whose key exists returns
the existing one and changes nothing, so re-running any stage moves nothing twice. Locks are
taken in a fixed order - the product's cost pool, then its stock level - so concurrent sales of
one product queue instead of deadlocking, and the level's row lock is what makes the reorder
trigger fire once per breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from integrator import money
from integrator.models import CostPool, InventoryBook, Product, StockLevel, StockMovement
from integrator.services.inventory import costing

__all__ = [
    "Moved",
    "issue_stock",
    "locked_level",
    "locked_pool",
    "pull_source_levels",
    "receive_stock",
    "record_source_levels",
    "reverse_movement",
    "transfer_stock",
]

ZERO = Decimal(0)
Kind = StockMovement.Kind


@dataclass
class Moved:
    """A movement and whether this call made it (False: it existed already)."""

    movement: StockMovement
    made: bool


def _places(book: InventoryBook) -> int:
    return money.minor_units(book.connection.functional_currency)


def locked_pool(book: InventoryBook, product: Product) -> tuple[CostPool, costing.CostPool]:
    """The product's cost pool row, locked for this transaction, and its costing state."""
    CostPool.objects.get_or_create(book=book, product=product)
    row = CostPool.objects.select_for_update().get(book=book, product=product)
    state = costing.CostPool.from_json(row.state, method=product.costing_method, places=_places(book))
    state.method = product.costing_method
    return row, state


def _save_pool(row: CostPool, state: costing.CostPool) -> None:
    row.state = state.to_json()
    row.quantity = state.quantity
    row.value = state.value
    row.save(update_fields=["state", "quantity", "value", "updated_at"])


def locked_level(product: Product, location: str) -> StockLevel:
    """The product's stock level at ``location``, locked for this transaction."""
    StockLevel.objects.get_or_create(product=product, location=location)
    return StockLevel.objects.select_for_update().get(product=product, location=location)


def _existing(key: str) -> StockMovement | None:
    return StockMovement.objects.filter(key=key).first()


def _record(
    *, key: str, kind: str, product: Product, location: str, book: InventoryBook | None, on: date,
    quantity: Decimal, value: Decimal = ZERO, cogs: Decimal = ZERO, **extra: Any,
) -> StockMovement:  # fmt: skip
    """Save a movement and move the level's quantity (the caller holds the pool's lock)."""
    movement = StockMovement.objects.create(
        key=key[:200], kind=kind, product=product, location=location, book=book, date=on,
        quantity=quantity, value=value, cogs=cogs, **extra,
    )  # fmt: skip
    if quantity:
        level = locked_level(product, location)
        level.quantity += quantity
        level.save(update_fields=["quantity", "updated_at"])
        if quantity < 0 or kind == Kind.COUNT:
            from integrator.services.inventory.reorder import check_level

            check_level(level)
        else:
            from integrator.services.inventory.reorder import close_breach

            close_breach(level)
    return movement


def receive_stock(
    book: InventoryBook, product: Product, location: str, quantity: Decimal, value: Decimal, *,
    key: str, on: date, kind: str = Kind.RECEIPT, lot: str = "", **extra: Any,
) -> Moved:  # fmt: skip
    """Units in at ``value`` (functional currency): a receipt, a return to stock, an adjustment up.
    ``cogs`` of the movement is the correction for units oversold before (for a return, less the
    cost taken back)."""
    with transaction.atomic():
        found = _existing(key)
        if found is not None:
            return Moved(found, False)
        row, state = locked_pool(book, product)
        receipt = state.receive(quantity, value, lot or key)
        _save_pool(row, state)
        value = receipt.value - receipt.correction
        # A return to stock takes its cost back out of COGS (less any oversold correction).
        cogs = receipt.correction - receipt.value if kind == Kind.RETURN else receipt.correction
        movement = _record(key=key, kind=kind, product=product, location=location, book=book, on=on,
                           quantity=quantity, value=value, cogs=cogs, **extra)  # fmt: skip
    return Moved(movement, True)


def issue_stock(
    book: InventoryBook, product: Product, location: str, quantity: Decimal, *,
    key: str, on: date, kind: str = Kind.SALE, **extra: Any,
) -> Moved:  # fmt: skip
    """Units out at their cost (a sale, a write-off, an adjustment down). For a sale the cost is
    COGS (``cogs``); the stock value falls by the same amount."""
    with transaction.atomic():
        found = _existing(key)
        if found is not None:
            return Moved(found, False)
        row, state = locked_pool(book, product)
        issued = state.issue(quantity)
        _save_pool(row, state)
        movement = _record(key=key, kind=kind, product=product, location=location, book=book, on=on,
                           quantity=-quantity, value=-issued.cost,
                           cogs=issued.cost if kind == Kind.SALE else ZERO, **extra)  # fmt: skip
    return Moved(movement, True)


def add_late_cost(
    book: InventoryBook, product: Product, location: str, amount: Decimal, *, lot: str, key: str, on: date,
    **extra: Any,
) -> Moved:  # fmt: skip
    """A cost of receipt ``lot`` known after it was received: the share still on hand joins stock
    value, the share sold is expensed (``cogs``)."""
    with transaction.atomic():
        found = _existing(key)
        if found is not None:
            return Moved(found, False)
        row, state = locked_pool(book, product)
        split = state.add_late_cost(lot, amount)
        _save_pool(row, state)
        movement = _record(key=key, kind=Kind.LATE_COST, product=product, location=location, book=book, on=on,
                           quantity=ZERO, value=split.capitalised, cogs=split.expensed, **extra)  # fmt: skip
    return Moved(movement, True)


def reverse_movement(movement: StockMovement, *, on: date, note: str = "") -> Moved:
    """Undo a sale or return movement of an older revision: the units go back (or out again) at
    the value they moved at, and their COGS is taken back."""
    key = f"rev/{movement.key}"
    with transaction.atomic():
        found = _existing(key)
        if found is not None:
            return Moved(found, False)
        book = movement.book
        assert book is not None
        row, state = locked_pool(book, movement.product)
        if movement.quantity < 0:
            receipt = state.receive(-movement.quantity, -movement.value, key)
            value, cogs = receipt.value - receipt.correction, receipt.correction - movement.cogs
        else:
            # A return (or receipt) undone: the units leave at today's cost, which is COGS again.
            issued = state.issue(movement.quantity)
            value, cogs = -issued.cost, issued.cost
        _save_pool(row, state)
        made = _record(key=key, kind=Kind.REVERSAL, product=movement.product, location=movement.location,
                       book=book, on=on, quantity=-movement.quantity, value=value, cogs=cogs,
                       transaction=movement.transaction, revision=movement.revision, reverses=movement,
                       note=note[:255])  # fmt: skip
    return Moved(made, True)


def transfer_stock(
    product: Product, source: str, destination: str, quantity: Decimal, *, key: str, on: date
) -> tuple[Moved, Moved]:
    """Move units between locations (value is per product, so it does not change)."""
    with transaction.atomic():
        found = _existing(f"{key}/out")
        if found is not None:
            return Moved(found, False), Moved(StockMovement.objects.get(key=f"{key}/in"), False)
        out = _record(key=f"{key}/out", kind=Kind.TRANSFER, product=product, location=source, book=None,
                      on=on, quantity=-quantity, note=f"to {destination}")  # fmt: skip
        into = _record(key=f"{key}/in", kind=Kind.TRANSFER, product=product, location=destination, book=None,
                       on=on, quantity=quantity, note=f"from {source}")  # fmt: skip
    return Moved(out, True), Moved(into, True)


def record_source_levels(levels: dict[str, Decimal], *, location: str, read_at: Any = None) -> int:
    """Keep what a sales source says it holds (Shopify inventory levels, Square inventory counts),
    per SKU at ``location``, beside our own quantity: the reconciliation compares the two. Unknown
    SKUs and products that keep no stock are skipped. Returns how many levels were recorded."""
    from django.utils import timezone

    recorded = 0
    products = {p.sku: p for p in Product.objects.filter(sku__in=levels.keys(), track_stock=True)}
    with transaction.atomic():
        for sku, quantity in levels.items():
            product = products.get(sku)
            if product is None:
                continue
            StockLevel.objects.get_or_create(product=product, location=location)
            StockLevel.objects.filter(product=product, location=location).update(
                source_quantity=quantity, source_read_at=read_at or timezone.now()
            )
            recorded += 1
    return recorded


def pull_source_levels(channel: Any, *, location_id: str, location: str = "") -> int:
    """Read what a channel's sales system holds at one of its locations (a source connector with
    ``fetch_inventory_levels``, e.g. Shopify) and record it beside our levels at ``location``. The
    call to the vendor happens before, and outside, the database transaction."""
    from integrator.services.channels import source_for

    source = source_for(channel)
    fetch = getattr(source, "fetch_inventory_levels", None)
    if fetch is None:
        raise ValueError(f"{channel.platform} does not report stock levels to the integrator")
    levels = fetch(location_id)
    return record_source_levels(levels, location=location or "main")
