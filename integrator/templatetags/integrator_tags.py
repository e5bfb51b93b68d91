"""Template filters for money shown to people."""

from __future__ import annotations

from decimal import Decimal

from django import template

from integrator import money as money_lib

register = template.Library()


@register.filter
def money(value: Decimal | None, currency: str) -> str:
    """``{{ amount|money:currency }}`` -> ``1,203.50`` (the currency's minor unit, grouped)."""
    if value is None or value == "":
        return ""
    try:
        q = money_lib.quantize(Decimal(value), currency)
    except (money_lib.UnknownCurrency, money_lib.InvalidAmount, ArithmeticError):
        return str(value)
    return f"{q:,}"
