"""The daily stock-level pull: every active channel that names stock locations has what its sales
system holds there read and recorded beside our levels (``StockLevel.source_quantity``), so the
daily reconciliation compares against fresh figures.

A channel opts in with ``settings["stock_locations"]``: ``{vendor location id: our location name}``
(Shopify location ids, Square location ids). Its source must expose ``fetch_inventory_levels``.
One channel or location failing (token expired, vendor down) is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from connectors.base import ConnectorError
from integrator.models import Channel
from integrator.services.inventory.stock import pull_source_levels

__all__ = ["PullSummary", "pull_all_source_levels", "stock_locations"]

log = logging.getLogger(__name__)


@dataclass
class PullSummary:
    """What one run of the daily pull did: levels recorded, and the pulls that failed with why."""

    recorded: int = 0
    pulled: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def stock_locations(channel: Channel) -> dict[str, str]:
    """``{vendor location id: our location name}`` from the channel's settings (empty if none)."""
    raw = (channel.settings or {}).get("stock_locations") or {}
    if not isinstance(raw, dict):
        return {}
    return {str(k).strip(): str(v or "main").strip() for k, v in raw.items() if str(k).strip()}


def pull_all_source_levels() -> PullSummary:
    """Pull every configured location of every active channel (the vendor calls happen outside any
    transaction; each location's levels are recorded in one)."""
    summary = PullSummary()
    for channel in Channel.objects.filter(active=True).order_by("slug"):
        for vendor_id, ours in stock_locations(channel).items():
            label = f"{channel.slug}:{vendor_id}"
            try:
                summary.recorded += pull_source_levels(channel, location_id=vendor_id, location=ours)
            except (ConnectorError, ValueError) as exc:
                log.warning("stock levels of %s not pulled: %s", label, exc)
                summary.failed[label] = str(exc)[:300]
                continue
            summary.pulled.append(label)
    return summary
