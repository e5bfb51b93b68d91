"""What every PayPal parser needs besides the object: the API, the channel's settings, the time.

Two channel settings decide how PayPal money meets the books:

* ``sales_booked_by``: ``paypal`` (default) when PayPal Checkout *is* the shop: each order becomes
  a sale here and its captures are the sale's tender; ``other_channel`` when another channel
  (WooCommerce, Magento ...) books the sales and PayPal only collects the money: a capture is then
  the tender of the shop's order named by ``invoice_id`` or ``custom_id`` (``sale_reference``),
  and refunds of those captures are left to the shop's channel, which books them with their lines.
* ``tax_rates``: the channel's tax names and rates (``{"VAT 20%": "0.20"}`` or the text
  ``"VAT 20%=0.20; VAT 5%=0.05"``). Orders v2 carry a tax *amount* per item but no tax name or rate;
  the rate that reproduces each amount names the tax line, so the mapping rules for taxes apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .api import PayPalAPI

__all__ = ["GATEWAY", "METHOD", "Context"]

GATEWAY = "paypal"
#: The payment method name PayPal money carries (map it with a clearing rule on ``method``).
METHOD = "paypal"


@dataclass(frozen=True)
class Context:
    """Parsing context for one event."""

    api: PayPalAPI | None
    settings: Mapping[str, Any]
    event_time: datetime | None = None

    @property
    def books_sales(self) -> bool:
        """True when PayPal orders are this channel's sales (``sales_booked_by`` = ``paypal``)."""
        return str(self.settings.get("sales_booked_by") or "paypal") == "paypal"

    @property
    def sale_reference_field(self) -> str:
        """The capture field naming the shop's order in ``other_channel`` mode."""
        value = str(self.settings.get("sale_reference") or "invoice_id")
        return value if value in ("invoice_id", "custom_id") else "invoice_id"

    def tax_rates(self) -> list[tuple[str, Decimal]]:
        """The configured ``(title, rate)`` pairs, in the order given."""
        raw = self.settings.get("tax_rates") or {}
        pairs: list[tuple[str, Any]] = []
        if isinstance(raw, Mapping):
            pairs = [(str(k), v) for k, v in raw.items()]
        elif isinstance(raw, str):
            for part in raw.replace("\n", ";").split(";"):
                title, sep, rate = part.partition("=")
                if sep:
                    pairs.append((title.strip(), rate.strip()))
        out: list[tuple[str, Decimal]] = []
        for title, rate in pairs:
            try:
                value = Decimal(str(rate))
            except InvalidOperation:
                continue
            if value >= 1:  # "20" means 20 %
                value = value / 100
            if title and value.is_finite():
                out.append((title, value))
        return out
