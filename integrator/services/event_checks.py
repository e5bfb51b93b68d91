"""What a canonical document must satisfy before it is stored: text a database can hold, numbers
its columns can hold.

A signed event can still carry what no column takes: a lone surrogate (``\\ud800``, valid JSON, not
valid UTF-8), a NUL, a quantity of 10^20 (the column holds 14 digits) or an amount of 10^30. Found
at the insert, such values raised database or decimal errors that left the event ``received`` for
ever and stopped the batch behind it (issue 14). They are named here, before anything is written,
so the pipeline can quarantine the event with a reason a person can read.

The limits follow the columns: money is ``numeric(18, 4)``, quantities ``numeric(14, 4)``, tax
rates ``numeric(9, 6)``, exchange rates ``numeric(24, 12)``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from integrator.canonical import ExchangeRate, LineItem, TaxLine

__all__ = ["storable_text", "unstorable_reason"]

MONEY_LIMIT = Decimal(10) ** 14
QUANTITY_LIMIT = Decimal(10) ** 10
TAX_RATE_LIMIT = Decimal(10) ** 3
EXCHANGE_RATE_LIMIT = Decimal(10) ** 12
_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udxxx`` and NULs as ``\\x00``.

    Used on keys that must be stored whatever the vendor sent (an event's dedupe key): the same
    input always gives the same output, so deduplication still works.
    """
    if _UNSTORABLE_CHARS.search(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _limit_for(owner: Any, name: str) -> Decimal:
    if name == "quantity":
        return QUANTITY_LIMIT
    if isinstance(owner, ExchangeRate):
        return EXCHANGE_RATE_LIMIT
    if isinstance(owner, TaxLine) and name == "rate":
        return TAX_RATE_LIMIT
    return MONEY_LIMIT


def _walk(value: Any, path: str, owner: Any, name: str) -> Iterator[str]:
    if isinstance(value, str):
        bad = _UNSTORABLE_CHARS.search(value)
        if bad is not None:
            char = bad.group()
            what = "a NUL character" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"
            yield f"{path} holds {what}, which no database column can store"
    elif isinstance(value, Decimal):
        if not value.is_finite():
            yield f"{path} is {value}, not a number"
        elif abs(value) >= _limit_for(owner, name):
            yield f"{path} = {value:.6g} is beyond the largest value the books hold ({_limit_for(owner, name):.0e})"
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name), f"{path}.{f.name}", value, f.name)
        if isinstance(value, LineItem) and value.quantity.is_finite() and value.unit_price.is_finite():
            gross = abs(value.quantity * value.unit_price)
            if gross >= MONEY_LIMIT:
                yield f"{path}: quantity times unit price = {gross:.6g} is beyond the largest amount the books hold"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(str(key), f"{path} key", owner, name)
            yield from _walk(item, f"{path}[{str(key)[:40]!r}]", owner, name)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", owner, name)


def unstorable_reason(doc: Any) -> str | None:
    """Why ``doc`` (a canonical document) cannot be stored, or None when it can."""
    for reason in _walk(doc, type(doc).__name__.lower(), None, ""):
        return reason
    return None
