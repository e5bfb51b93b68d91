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
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from integrator import money
from reconciliation.importers.base import (
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementRejected,
    parse_signed_amount,
)

__all__ = ["SAMPLE_CSV", "CSVFormat", "parse_csv"]

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


def _decode(content: bytes, encoding: str) -> str:
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        raise StatementRejected(f"the file is not {encoding} text: {exc}") from exc


def parse_csv(content: bytes, *, currency: str, fmt: CSVFormat | None = None) -> ParsedStatement:
    """Read a CSV statement; rows that cannot be read become row errors (row 1 is the header)."""
    fmt = fmt or CSVFormat()
    text = _decode(content, fmt.encoding)
    lines = text.splitlines()[fmt.skip_lines :]
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=fmt.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise StatementRejected("the CSV file is empty") from None
    except csv.Error as exc:
        raise StatementRejected(f"the CSV header cannot be read: {exc}") from exc
    columns = {name.strip().lower(): i for i, name in enumerate(header)}

    def col(name: str, *, required: bool) -> int | None:
        if not name:
            return None
        index = columns.get(name.strip().lower())
        if index is None and required:
            found = ", ".join(h.strip() for h in header) or "(none)"
            raise StatementRejected(f"column {name!r} is missing from the CSV header (found: {found})")
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

    statement = ParsedStatement(format="csv", currency=currency)
    row_number = 1 + fmt.skip_lines
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_number += 1
            statement.errors.append(RowError(row_number, f"cannot be read as CSV: {exc}"))
            continue
        row_number += 1
        if not any(cell.strip() for cell in row):
            continue

        def cell(index: int | None, row: list[str] = row) -> str:
            return row[index].strip() if index is not None and index < len(row) else ""

        try:
            line_currency = money.normalize_currency(cell(i_currency) or currency)
            raw_date = cell(i_date)
            try:
                booked = datetime.strptime(raw_date, fmt.date_format).date()
            except ValueError:
                raise ValueError(f"date {raw_date!r} does not match the format {fmt.date_format}") from None
            amount = _amount(cell(i_amount), cell(i_credit), cell(i_debit), line_currency, fmt, split)
        except (ValueError, money.InvalidAmount, money.UnknownCurrency) as exc:
            statement.errors.append(RowError(row_number, str(exc)))
            continue
        statement.lines.append(
            ParsedLine(
                row=row_number,
                date=booked,
                amount=amount,
                currency=line_currency,
                description=cell(i_desc)[:500],
                reference=cell(i_ref)[:140],
                counterparty=cell(i_party)[:200],
            )
        )
    return statement


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
