"""Bank statement parsers: CSV (configurable), OFX (SGML and XML) and CAMT.053 (ISO 20022 XML).

Parsers only read: they return a :class:`ParsedStatement` with exact Decimal amounts and row-level
errors, and never touch the database. ``reconciliation.services.statements`` stores the result.
"""

from __future__ import annotations

from typing import Any

from reconciliation.choices import StatementFormat
from reconciliation.importers.base import (
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementRejected,
    parse_signed_amount,
)
from reconciliation.importers.camt import parse_camt053
from reconciliation.importers.csv_format import SAMPLE_CSV, CSVFormat, parse_csv
from reconciliation.importers.ofx import parse_ofx

__all__ = [
    "SAMPLE_CSV",
    "CSVFormat",
    "ParsedLine",
    "ParsedStatement",
    "RowError",
    "StatementRejected",
    "detect_format",
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


def parse_statement(
    content: bytes, fmt: str, *, currency: str, csv_format: dict[str, Any] | None = None
) -> ParsedStatement:
    """Parse a file in the given format (``currency`` is the account's, used when a file omits it)."""
    if fmt == StatementFormat.CSV:
        return parse_csv(content, currency=currency, fmt=CSVFormat.from_dict(csv_format))
    if fmt == StatementFormat.OFX:
        return parse_ofx(content, currency=currency)
    if fmt == StatementFormat.CAMT053:
        return parse_camt053(content)
    raise StatementRejected(f"unknown statement format {fmt!r}")
