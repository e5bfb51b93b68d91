"""The inventory threshold trigger: a level that falls below its reorder point makes one reorder
suggestion per breach.

:func:`check_level` runs inside the transaction that moved the level, holding its row lock, so
twenty concurrent sales of the last units see the level one after the other: the first to take it
below the point opens breach ``n`` (``StockLevel.breach``) and makes its suggestion (UNIQUE(level,
breach) in the database as well), the others find the breach already open. A level that rises back
to its point closes the breach; the next fall opens a new one. The notification is sent after
commit (:func:`integrator.services.inventory.notify.notify_reorder`), once.

The quantity covers the lead time at the recent rate of sale and brings stock back to the reorder
point: ``ceil(velocity x lead time + reorder point - level)``, at least the product's minimum order
and at least one unit, where velocity is the units sold (less returns) in the last 28 days, per day.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from integrator.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderSuggestion,
    StockLevel,
    StockMovement,
)

__all__ = ["VELOCITY_DAYS", "check_level", "close_breach", "reorder_quantity", "sales_velocity"]

VELOCITY_DAYS = 28
DEFAULT_LEAD_TIME_DAYS = 30
ZERO = Decimal(0)


def _reorder_point(level: StockLevel) -> Decimal | None:
    return level.reorder_point if level.reorder_point is not None else level.product.reorder_point


def sales_velocity(level: StockLevel) -> Decimal:
    """Units a day sold at the level's location over the last :data:`VELOCITY_DAYS` days."""
    latest = (
        StockMovement.objects.filter(product_id=level.product_id, location=level.location)
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )
    if latest is None:
        return ZERO
    since = latest - timedelta(days=VELOCITY_DAYS - 1)
    kinds = [StockMovement.Kind.SALE, StockMovement.Kind.RETURN, StockMovement.Kind.REVERSAL]
    moved = (
        StockMovement.objects.filter(
            product_id=level.product_id,
            location=level.location,
            kind__in=kinds,
            date__gte=since,
            transaction__isnull=False,
        ).aggregate(q=Sum("quantity"))["q"]
        or ZERO
    )
    return max(-moved, ZERO) / VELOCITY_DAYS


def reorder_quantity(level: StockLevel, point: Decimal, velocity: Decimal) -> Decimal:
    """How much to order (see the module docstring)."""
    product = level.product
    supplier = product.supplier
    lead = product.lead_time_days or (supplier.lead_time_days if supplier else DEFAULT_LEAD_TIME_DAYS)
    wanted = (velocity * lead + point - level.quantity).to_integral_value(rounding=ROUND_CEILING)
    return max(wanted, product.minimum_order, Decimal(1))


def check_level(level: StockLevel) -> ReorderSuggestion | None:
    """Open a breach and make its suggestion when the (locked) level has fallen below its reorder
    point; close the breach when it is back at or above it."""
    point = _reorder_point(level)
    if point is None:
        return None
    if level.quantity >= point:
        close_breach(level)
        return None
    if level.below:
        return None  # this breach has its suggestion already
    level.below = True
    level.breach += 1
    level.save(update_fields=["below", "breach", "updated_at"])
    velocity = sales_velocity(level)
    suggestion = ReorderSuggestion.objects.create(
        level=level, breach=level.breach, quantity=reorder_quantity(level, point, velocity),
        level_quantity=level.quantity, reorder_point=point, daily_velocity=velocity.quantize(Decimal("0.0001")),
    )  # fmt: skip
    supplier = level.product.supplier
    if supplier is not None and getattr(settings, "INVENTORY_DRAFT_PURCHASE_ORDERS", True):
        order = PurchaseOrder.objects.create(
            supplier=supplier, note=f"Drafted by the reorder trigger: {level.product.sku} at {level.location}"
        )
        PurchaseOrderLine.objects.create(order=order, product=level.product, quantity=suggestion.quantity)
        suggestion.purchase_order = order
        suggestion.save(update_fields=["purchase_order"])
    from integrator.services.inventory.notify import notify_reorder

    pk = suggestion.pk
    transaction.on_commit(lambda: notify_reorder(pk))
    return suggestion


def close_breach(level: StockLevel) -> None:
    """The (locked) level is back at or above its reorder point: the breach is over."""
    point = _reorder_point(level)
    if level.below and (point is None or level.quantity >= point):
        level.below = False
        level.save(update_fields=["below", "updated_at"])
        from integrator.services.inventory.notify import restocked

        key = (level.product.sku, level.location)
        transaction.on_commit(lambda: restocked(*key))
