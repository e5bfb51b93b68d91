"""Telling people about a reorder suggestion, after the transaction that made it has committed
(through the alerts service: an in-app alert and e-mail to those who want inventory alerts)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from integrator.choices import AlertKind
from integrator.models import ReorderSuggestion
from integrator.services.alerts import notify_inventory_threshold, resolve_alerts

__all__ = ["notify_reorder", "restocked"]


def notify_reorder(suggestion_id: Any) -> bool:
    """Notify once for a suggestion: the first caller marks it notified and raises the alert;
    any later call (a retry, a second worker) does nothing. Returns True when it notified."""
    claimed = ReorderSuggestion.objects.filter(pk=suggestion_id, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    if not claimed:
        return False
    suggestion = ReorderSuggestion.objects.select_related("level__product").get(pk=suggestion_id)
    level = suggestion.level
    notify_inventory_threshold(
        level.product.sku,
        level.location,
        f"{suggestion.level_quantity.normalize():f}",
        f"{suggestion.reorder_point.normalize():f}",
        url="/inventory/reorder/",
        name=level.product.name,
    )
    return True


def restocked(sku: str, location: str) -> int:
    """Close the low-stock alert of a product and location that is back above its reorder point."""
    key = f"stock:{location}:{sku}"
    from integrator.models import Alert

    open_keys = Alert.objects.filter(kind=AlertKind.INVENTORY, resolved_at__isnull=True).exclude(
        cause_key=key
    )
    return resolve_alerts(AlertKind.INVENTORY, open_keys.values_list("cause_key", flat=True), prefix="stock:")
