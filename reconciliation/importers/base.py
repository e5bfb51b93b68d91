"""What every statement parser yields: lines with exact Decimal amounts and row-level errors.

Parsers read a binary file object incrementally (``iter_csv``, ``iter_ofx``, ``iter_camt053``):
they yield each :class:`ParsedLine` or :class:`RowError` as soon as it is read and fill the
statement's own facts (account, period, balances) into a :class:`ParsedStatement` given to them,
whose ``lines`` and ``errors`` they leave alone. :func:`collect` gathers everything into that
statement for callers that want the whole file at once (``parse_csv`` and friends, previews).
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

from integrator import money

__all__ = [
    "CHUNK_BYTES",
    "ParsedLine",
    "ParsedStatement",
    "RowError",
    "StatementItem",
    "StatementRejected",
    "binary_stream",
    "collect",
    "decoded_chunks",
    "parse_signed_amount",
]

CHUNK_BYTES = 1 << 20  # how much of a file is read at a time


class StatementRejected(ValueError):
    """The file as a whole cannot be imported (not the format it claims, wrong account, no readable
    line ...); ``errors`` holds the row errors when they are the reason."""

    def __init__(self, message: str, errors: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.errors: list[RowError] = list(errors or [])

    def describe(self, shown: int = 5) -> str:
        """The reason with the first ``shown`` row errors, for a message or a job: "... (row 3:
        ...; row 9: ... ...)"."""
        rows = "; ".join(f"row {e.row}: {e.message}" for e in self.errors[:shown])
        more = " ..." if len(self.errors) > shown else ""
        return str(self) + (f" ({rows}{more})" if rows else "")


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


StatementItem = ParsedLine | RowError


def collect(statement: ParsedStatement, items: Iterable[StatementItem]) -> ParsedStatement:
    """Gather a parser's lines and row errors into ``statement`` (the whole file in memory)."""
    for item in items:
        if isinstance(item, RowError):
            statement.errors.append(item)
        else:
            statement.lines.append(item)
    return statement


def binary_stream(content: bytes | IO[bytes]) -> IO[bytes]:
    """A seekable binary file object for ``content`` (bytes are wrapped, file objects used as they are)."""
    if isinstance(content, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(content))
    return content


def _decode_error_message(exc: UnicodeDecodeError, offset: int) -> str:
    """``str(exc)`` with the position counted from the start of the file rather than the chunk."""
    start = offset + exc.start
    if exc.end - exc.start == 1:
        return (
            f"'{exc.encoding}' codec can't decode byte 0x{exc.object[exc.start]:02x} in position "
            f"{start}: {exc.reason}"
        )
    return (
        f"'{exc.encoding}' codec can't decode bytes in position {start}-{offset + exc.end - 1}: {exc.reason}"
    )


def decoded_chunks(
    stream: IO[bytes], encoding: str, *, errors: str = "strict", what: str = ""
) -> Iterator[str]:
    """Decode a binary stream chunk by chunk; a byte that is not ``encoding`` refuses the file.

    ``utf-8-sig`` drops a leading byte order mark as ``bytes.decode`` does, and positions in the
    refusal count from after it (as ``bytes.decode("utf-8-sig")`` reports them), so the message is
    the one a whole-file decode gives. ``what`` prefixes the refusal (default: ``the file is not
    <encoding> text``).
    """
    try:
        sig = codecs.lookup(encoding).name == "utf-8-sig"
    except LookupError as exc:
        raise StatementRejected(f"unknown text encoding {encoding!r}") from exc
    decoder = codecs.getincrementaldecoder("utf-8" if sig else encoding)(errors)
    offset = 0  # bytes handed to the decoder so far (after a stripped byte order mark)
    first = True
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if first and sig:
            while len(chunk) < 3 and chunk:  # a BOM split across reads
                more = stream.read(CHUNK_BYTES)
                if not more:
                    break
                chunk += more
            if chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[3:]
        first = False
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            prefix = what or f"the file is not {encoding} text"
            raise StatementRejected(f"{prefix}: {_decode_error_message(exc, offset - pending)}") from exc
        offset += len(chunk)
        if text:
            yield text
        if not chunk:
            return
