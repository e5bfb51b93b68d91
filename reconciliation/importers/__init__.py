"""Bank statement parsers: CSV (configurable), OFX (SGML and XML) and CAMT.053 (ISO 20022 XML).

Parsers only read, and never touch the database. :func:`iter_statement` reads a binary file object
incrementally, yielding each line (exact Decimal amounts) or row-level error as it goes, so a file
of a million lines is never held in memory; :func:`parse_statement` reads bytes whole into a
:class:`ParsedStatement`. ``reconciliation.services.statements`` stores the lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from reconciliation.choices import StatementFormat
from reconciliation.importers.base import (
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementItem,
    StatementRejected,
    binary_stream,
    collect,
    parse_signed_amount,
)
from reconciliation.importers.camt import iter_camt053, parse_camt053
from reconciliation.importers.csv_format import SAMPLE_CSV, CSVFormat, iter_csv, parse_csv
from reconciliation.importers.ofx import iter_ofx, parse_ofx

__all__ = [
    "SAMPLE_CSV",
    "CSVFormat",
    "ParsedLine",
    "ParsedStatement",
    "RowError",
    "StatementItem",
    "StatementRejected",
    "binary_stream",
    "collect",
    "detect_format",
    "iter_camt053",
    "iter_csv",
    "iter_ofx",
    "iter_statement",
    "parse_camt053",
    "parse_csv",
    "parse_ofx",
    "parse_signed_amount",
    "parse_statement",
]


def detect_format(content: bytes, filename: str = "") -> str:
    """Guess the format from the content (then the file name); CSV when nothing else fits."""
    head = content[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    upper = head.upper()
    if upper.startswith(b"OFXHEADER") or b"<OFX>" in upper or b"<?OFX" in upper:
        return StatementFormat.OFX
    if b"camt.053" in head or b"BkToCstmrStmt" in head:
        return StatementFormat.CAMT053
    name = filename.lower()
    if name.endswith((".ofx", ".qfx")):
        return StatementFormat.OFX
    if name.endswith(".xml"):
        return StatementFormat.CAMT053
    return StatementFormat.CSV


def iter_statement(
    stream: IO[bytes],
    fmt: str,
    *,
    currency: str,
    header: ParsedStatement,
    csv_format: dict[str, Any] | None = None,
) -> Iterator[StatementItem]:
    """Read a seekable binary file in the given format, one line or row error at a time.

    ``currency`` is the account's (used when a file omits it); ``header`` receives what the file
    says of itself (account, period, balances) as it is read. A file refused as a whole raises
    :class:`StatementRejected`, possibly after some lines were yielded.
    """
    if fmt == StatementFormat.CSV:
        return iter_csv(stream, currency=currency, fmt=CSVFormat.from_dict(csv_format), header=header)
    if fmt == StatementFormat.OFX:
        return iter_ofx(stream, currency=currency, header=header)
    if fmt == StatementFormat.CAMT053:
        return iter_camt053(stream, header=header)
    raise StatementRejected(f"unknown statement format {fmt!r}")


def parse_statement(
    content: bytes, fmt: str, *, currency: str, csv_format: dict[str, Any] | None = None
) -> ParsedStatement:
    """Parse a whole file in the given format (``currency`` is the account's, used when a file omits it)."""
    if fmt == StatementFormat.CSV:
        return parse_csv(content, currency=currency, fmt=CSVFormat.from_dict(csv_format))
    if fmt == StatementFormat.OFX:
        return parse_ofx(content, currency=currency)
    if fmt == StatementFormat.CAMT053:
        return parse_camt053(content)
    raise StatementRejected(f"unknown statement format {fmt!r}")
