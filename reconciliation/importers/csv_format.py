"""CSV bank statements with configurable columns.

Banks lay out CSV exports in many ways, so the layout is configuration (``BankAccount.csv_format``),
not code: which column holds the date and in which format, one signed amount column or separate
money-in / money-out columns, the decimal and thousands separators, the delimiter, and how many
preamble lines come before the header. The default layout is the sample served by the statements
screen::

    date,amount,currency,description,reference,counterparty
    2026-11-23,139.44,GBP,STRIPE PAYOUT,po-1,Stripe Payments UK
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import IO, Any

from integrator import money
from reconciliation.importers.base import (
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementItem,
    StatementRejected,
    collect,
    decoded_chunks,
    parse_signed_amount,
)

__all__ = ["SAMPLE_CSV", "CSVFormat", "iter_csv", "parse_csv", "text_lines"]

SAMPLE_CSV = (
    "date,amount,currency,description,reference,counterparty\n"
    "2026-11-23,139.44,GBP,STRIPE PAYOUT,po-1,Stripe Payments UK\n"
    "2026-11-23,-12.00,GBP,Card terminal rental,INV-77,Acme Terminals\n"
)


@dataclass(frozen=True)
class CSVFormat:
    """Where a bank puts each field. Column names are matched case-insensitively.

    Use ``amount_column`` for one signed amount, or ``credit_column`` + ``debit_column`` (money in /
    money out, both positive) when the bank splits them. ``currency_column`` may be empty: the bank
    account's currency is then used.
    """

    delimiter: str = ","
    date_column: str = "date"
    date_format: str = "%Y-%m-%d"
    amount_column: str = "amount"
    credit_column: str = ""
    debit_column: str = ""
    currency_column: str = "currency"
    description_column: str = "description"
    reference_column: str = "reference"
    counterparty_column: str = "counterparty"
    decimal_separator: str = "."
    thousands_separator: str = ""
    encoding: str = "utf-8-sig"
    skip_lines: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CSVFormat:
        """Build from stored configuration; unknown keys are refused so a typo is not ignored."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StatementRejected(f"unknown CSV format setting(s): {', '.join(unknown)}")
        fmt = cls(**data)
        if not fmt.amount_column and not (fmt.credit_column and fmt.debit_column):
            raise StatementRejected("the CSV format needs an amount column, or both credit and debit columns")
        if len(fmt.delimiter) != 1:
            raise StatementRejected("the CSV delimiter must be one character")
        return fmt

    def as_dict(self) -> dict[str, Any]:
        """The configuration as stored on the bank account."""
        return asdict(self)


_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def text_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines of a text read in chunks, exactly as ``str.splitlines()`` of the whole text gives
    them (every line break it knows, ``\r\n`` counted once even across two chunks), each ending
    in ``\n`` as the CSV reader wants them so that quoted fields may span lines."""
    rest = ""
    for chunk in chunks:
        text = rest + chunk
        if text.endswith("\r"):  # its \n may start the next chunk
            text, rest = text[:-1], "\r"
        else:
            rest = ""
        pieces = text.splitlines(keepends=True)
        if pieces and pieces[-1][-1:] not in _LINE_BREAKS:
            rest = pieces.pop() + rest
        for piece in pieces:
            yield piece.rstrip(_LINE_BREAKS) + "\n"
    if rest:
        for piece in rest.splitlines():
            yield piece + "\n"


def parse_csv(content: bytes, *, currency: str, fmt: CSVFormat | None = None) -> ParsedStatement:
    """Read a whole CSV statement; rows that cannot be read become row errors (row 1 is the header)."""
    statement = ParsedStatement(format="csv", currency=currency)
    return collect(statement, iter_csv(io.BytesIO(content), currency=currency, fmt=fmt))


def iter_csv(
    stream: IO[bytes], *, currency: str, fmt: CSVFormat | None = None, header: ParsedStatement | None = None
) -> Iterator[StatementItem]:
    """Read a CSV statement from a binary file object, one row at a time (row 1 is the header).

    Yields each line, or a row error for a row that cannot be read. A CSV file states no account,
    period or balance, so ``header`` is left as it is.
    """
    fmt = fmt or CSVFormat()
    chunks = decoded_chunks(stream, fmt.encoding)
    lines = itertools.islice(text_lines(chunks), fmt.skip_lines, None)
    reader = csv.reader(lines, delimiter=fmt.delimiter)

    def refuse(message: str) -> StatementRejected:
        for _ in chunks:  # a file that is not text is refused as such, whatever else is wrong
            pass
        return StatementRejected(message)

    try:
        header_row = next(reader)
    except StopIteration:
        raise refuse("the CSV file is empty") from None
    except csv.Error as exc:
        raise refuse(f"the CSV header cannot be read: {exc}") from exc
    columns = {name.strip().lower(): i for i, name in enumerate(header_row)}

    def col(name: str, *, required: bool) -> int | None:
        if not name:
            return None
        index = columns.get(name.strip().lower())
        if index is None and required:
            found = ", ".join(h.strip() for h in header_row) or "(none)"
            raise refuse(f"column {name!r} is missing from the CSV header (found: {found})")
        return index

    i_date = col(fmt.date_column, required=True)
    split = bool(fmt.credit_column and fmt.debit_column)
    i_amount = None if split else col(fmt.amount_column, required=True)
    i_credit = col(fmt.credit_column, required=True) if split else None
    i_debit = col(fmt.debit_column, required=True) if split else None
    i_currency = col(fmt.currency_column, required=False)
    i_desc = col(fmt.description_column, required=False)
    i_ref = col(fmt.reference_column, required=False)
    i_party = col(fmt.counterparty_column, required=False)

    dates = _DateCache(fmt.date_format)
    currencies: dict[str, str] = {}
    row_number = 1 + fmt.skip_lines
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row_number += 1
            yield RowError(row_number, f"cannot be read as CSV: {exc}")
            continue
        row_number += 1
        if not any(cell.strip() for cell in row):
            continue

        def cell(index: int | None, row: list[str] = row) -> str:
            return row[index].strip() if index is not None and index < len(row) else ""

        try:
            raw_currency = cell(i_currency) or currency
            line_currency = currencies.get(raw_currency) or money.normalize_currency(raw_currency)
            currencies.setdefault(raw_currency, line_currency)
            booked = dates.parse(cell(i_date))
            amount = _amount(cell(i_amount), cell(i_credit), cell(i_debit), line_currency, fmt, split)
        except (ValueError, money.InvalidAmount, money.UnknownCurrency) as exc:
            yield RowError(row_number, str(exc))
            continue
        yield ParsedLine(
            row=row_number,
            date=booked,
            amount=amount,
            currency=line_currency,
            description=cell(i_desc)[:500],
            reference=cell(i_ref)[:140],
            counterparty=cell(i_party)[:200],
        )


class _DateCache:
    """``strptime`` is slow and a statement has few distinct dates: remember the ones read."""

    LIMIT = 10_000

    def __init__(self, date_format: str) -> None:
        self.date_format = date_format
        self.known: dict[str, date] = {}

    def parse(self, raw: str) -> date:
        """The date in ``raw``, or ValueError saying it does not match the format."""
        booked = self.known.get(raw)
        if booked is not None:
            return booked
        try:
            booked = datetime.strptime(raw, self.date_format).date()
        except ValueError:
            raise ValueError(f"date {raw!r} does not match the format {self.date_format}") from None
        if len(self.known) < self.LIMIT:
            self.known[raw] = booked
        return booked


def _amount(raw: str, credit: str, debit: str, currency: str, fmt: CSVFormat, split: bool) -> Any:
    """The signed amount of a row: one signed column, or money in / money out columns."""

    def parse(text: str) -> Any:
        return parse_signed_amount(
            text, currency, decimal_separator=fmt.decimal_separator, thousands=fmt.thousands_separator
        )

    if not split:
        if not raw:
            raise ValueError("the amount is empty")
        return parse(raw)
    if credit and debit:
        raise ValueError(f"both money in ({credit}) and money out ({debit}) are filled")
    if not credit and not debit:
        raise ValueError("neither money in nor money out is filled")
    return parse(credit) if credit else -abs(parse(debit))
