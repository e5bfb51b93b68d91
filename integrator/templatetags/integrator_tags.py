"""Template filters: money shown to people, JSON shown to people, relative times."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone

from connectors.http import redact
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


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON for ``<pre>`` blocks; secret-looking keys are redacted as in the integration
    log. Text that is not JSON is shown as it is."""
    if value is None or value == "":
        return ""
    data = value
    if isinstance(value, bytes | str):
        try:
            data = json.loads(value)
        except ValueError:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return json.dumps(redact(data), indent=2, ensure_ascii=False, sort_keys=False, default=str)


@register.filter
def ago(value: datetime | None) -> str:
    """A short relative time: ``4 min ago``, ``3 h ago``, ``in 2 d``."""
    if value is None:
        return "never"
    seconds = (timezone.now() - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = "just now" if not future else "in under a minute"
        return text
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            n = int(seconds // size)
            return f"in {n} {unit}" if future else f"{n} {unit} ago"
    return ""  # pragma: no cover - unreachable
