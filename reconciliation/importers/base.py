"""What every statement parser returns: lines with exact Decimal amounts and row-level errors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from integrator import money

__all__ = ["ParsedLine", "ParsedStatement", "RowError", "StatementRejected", "parse_signed_amount"]


class StatementRejected(ValueError):
    """The file as a whole cannot be imported (not the format it claims, wrong account, no readable
    line ...); ``errors`` holds the row errors when they are the reason."""

    def __init__(self, message: str, errors: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.errors: list[RowError] = list(errors or [])


@dataclass(frozen=True)
class RowError:
    """A row that could not be read (``skipped`` rows are fine but not imported, e.g. pending)."""

    row: int
    message: str
    skipped: bool = False

    def as_dict(self) -> dict[str, object]:
        """JSON-safe form kept on the statement."""
        return {"row": self.row, "message": self.message, "skipped": self.skipped}


@dataclass(frozen=True)
class ParsedLine:
    """One statement line as read from the file; ``amount`` is signed (positive = money in)."""

    row: int
    date: dt.date
    amount: Decimal
    currency: str
    description: str = ""
    reference: str = ""
    counterparty: str = ""
    bank_reference: str = ""
    value_date: dt.date | None = None


@dataclass
class ParsedStatement:
    """A whole file: account, period, balances, lines and errors."""

    format: str
    account_id: str = ""
    currency: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    lines: list[ParsedLine] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def covered_period(self) -> tuple[dt.date | None, dt.date | None]:
        """The period the file states, else the first and last booking dates."""
        dates = [ln.date for ln in self.lines]
        start = self.period_start or (min(dates) if dates else None)
        end = self.period_end or (max(dates) if dates else None)
        return start, end


def parse_signed_amount(
    raw: str, currency: str, *, decimal_separator: str = ".", thousands: str = ""
) -> Decimal:
    """An exact Decimal from a bank's text: ``-12.50``, ``12.50-``, ``(12.50)``, ``1.234,56``.

    Raises ``money.InvalidAmount`` for anything else, including more decimals than the currency has.
    """
    text = raw.strip().replace("\u00a0", "").replace(" ", "")
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if text.endswith("-"):
        negative, text = True, text[:-1]
    if text.startswith("-"):
        negative, text = not negative, text[1:]
    elif text.startswith("+"):
        text = text[1:]
    if thousands:
        text = text.replace(thousands, "")
    if decimal_separator != ".":
        if "." in text and not thousands:
            raise money.InvalidAmount(
                f"{raw!r} uses '.' but this format's decimal separator is {decimal_separator!r}"
            )
        text = text.replace(decimal_separator, ".")
    if not text or not all(c.isdigit() or c == "." for c in text) or text.count(".") > 1:
        raise money.InvalidAmount(f"{raw!r} is not an amount")
    value = money.parse_amount(text, currency)
    return -value if negative else value
