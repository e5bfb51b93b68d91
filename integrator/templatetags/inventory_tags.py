"""Template filters of the Inventory screens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()

__all__ = ["plain"]


@register.filter
def plain(value: Any) -> str:
    """A Decimal without trailing zeros or an exponent (100, 6.81, 0.25); '' for None."""
    if value is None or value == "":
        return ""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    text = f"{number.normalize():f}"
    return "0" if text in ("-0", "") else text
