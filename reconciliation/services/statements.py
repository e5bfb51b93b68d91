"""Bank accounts and statement imports: preview, import (duplicates skipped), all audited.

The same file twice is refused by its checksum (UNIQUE per bank account). Lines are identified by
``line_hash`` (UNIQUE per bank account): the bank's own id (OFX FITID, CAMT AcctSvcrRef) when the
file carries one, else the line's content plus its occurrence number among identical lines of the
file, so two genuine 10.00 fees on one day both import while an overlapping statement adds nothing
twice. Imports into one account are serialised by a row lock on the account.

Imports stream: the file (bytes, an uploaded file or an open file) is read twice, never whole in
memory. The first pass checks its size against the cap (``STATEMENT_UPLOAD_MAX_BYTES`` for uploads,
none for the operators' ``import_statement`` command), takes its checksum and the copy kept on the
statement (files over ``STORE_RAW_MAX_BYTES`` are kept gzip-compressed: see
:func:`statement_file_bytes`). The second pass parses it line by line and stores new lines in
batches of ``BATCH_LINES`` with ``bulk_create``, reporting progress per batch; everything happens in
one transaction, so a file refused at its end (an OFX or CAMT file cut short) stores nothing.
Occurrence numbers need the lines seen so far: a 15-byte fingerprint per distinct line content
(about 80 bytes a line in memory), never the lines themselves.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.db import connection, reset_queries, transaction

from integrator import money
from integrator.models import LedgerAccount, LedgerConnection
from integrator.services import audit
from reconciliation.importers import (
    CSVFormat,
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementItem,
    StatementRejected,
    binary_stream,
    detect_format,
    iter_statement,
)
from reconciliation.models import BankAccount, BankLine, BankStatement

__all__ = [
    "BATCH_LINES",
    "MAX_STATEMENT_BYTES",
    "ImportProgress",
    "ImportResult",
    "create_bank_account",
    "describe_size",
    "import_statement",
    "preview_statement",
    "statement_file_bytes",
    "upload_limit",
]

MAX_STATEMENT_BYTES = 10 * 1024 * 1024  # the default upload cap (settings.STATEMENT_UPLOAD_MAX_BYTES)
STORE_RAW_MAX_BYTES = 10 * 1024 * 1024  # larger files are kept gzip-compressed on the statement
BATCH_LINES = 5000
MAX_LISTED_ERRORS = 10_000  # row errors kept on a statement (all are counted)
_READ = 1 << 20
_UNSET: Any = object()


def upload_limit() -> int:
    """The largest statement file the screens and the API accept, in bytes."""
    return int(getattr(settings, "STATEMENT_UPLOAD_MAX_BYTES", MAX_STATEMENT_BYTES))


def describe_size(size: int) -> str:
    """``10 MB``, ``2.5 MB``, ``48.8 KB``: a byte count as people read it (1 MB = 1,048,576 bytes)."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


@dataclass
class ImportProgress:
    """Where a streaming import stands, after each batch of lines."""

    lines: int
    new: int
    duplicates: int
    errors: int
    bytes_read: int
    bytes_total: int
    seconds: float

    @property
    def percent(self) -> int:
        """How much of the file has been read."""
        return min(100, int(self.bytes_read * 100 / self.bytes_total)) if self.bytes_total else 100

    @property
    def text(self) -> str:
        """One line for a progress bar or a terminal."""
        return (
            f"{self.lines:,} lines read ({self.percent}% of the file), {self.new:,} new, "
            f"{self.duplicates:,} already known, {self.errors:,} errors"
        )


@dataclass
class ImportResult:
    """What an import (or a preview) found. ``parsed`` holds what the file says of itself (account,
    period, balances); a preview also lists the lines (``new_lines``, ``duplicate_lines``), an
    import only counts them (a file may hold a million)."""

    parsed: ParsedStatement
    format: str
    checksum: str
    new_lines: list[ParsedLine] = field(default_factory=list)
    duplicate_lines: list[ParsedLine] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    statement: BankStatement | None = None
    duplicate_of: BankStatement | None = None
    line_count: int = 0
    new_count: int = 0
    duplicate_count: int = 0
    error_count: int = 0
    size: int = 0
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        """Lines stored by this import (0 for a preview or a file already imported)."""
        return self.new_count if self.statement is not None else 0

    @property
    def created(self) -> bool:
        """True when a statement row was made."""
        return self.statement is not None

    @property
    def lines_per_second(self) -> float:
        """Throughput of the import (lines read per second, both passes)."""
        return self.line_count / self.seconds if self.seconds else 0.0


def create_bank_account(
    *,
    name: str,
    connection: LedgerConnection,
    ledger_account: LedgerAccount,
    currency: str,
    account_number: str = "",
    csv_format: dict[str, Any] | None = None,
    actor: Any = None,
) -> BankAccount:
    """Register a bank account mirrored by ``ledger_account`` of ``connection``."""
    currency = money.normalize_currency(currency)
    if ledger_account.connection_id != connection.pk:
        raise ValueError(f"account {ledger_account.code} belongs to another ledger connection")
    fmt = CSVFormat.from_dict(csv_format).as_dict() if csv_format else {}
    with transaction.atomic():
        account = BankAccount.objects.create(
            name=name,
            connection=connection,
            ledger_account=ledger_account,
            currency=currency,
            account_number=account_number.strip(),
            csv_format=fmt,
        )
        audit.record(
            "bank_account.created",
            obj=account,
            after=audit.snapshot(
                account, ["name", "connection", "ledger_account", "currency", "account_number"]
            ),
            actor=actor,
        )
    return account


def _normal_account(value: str) -> str:
    return "".join(value.split()).upper()


def line_hash(line: ParsedLine, occurrence: int) -> str:
    """The identity of a bank line across files (see the module docstring)."""
    amount = money.quantize(line.amount, line.currency)
    if line.bank_reference:
        parts = ["id", line.bank_reference, line.date.isoformat(), str(amount), line.currency]
    else:
        parts = [
            "row",
            line.date.isoformat(),
            str(amount),
            line.currency,
            line.reference,
            line.description,
            line.counterparty,
            str(occurrence),
        ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _fingerprint(*parts: Any) -> int:
    """120 bits standing for ``parts`` (``repr`` keeps them apart): far less memory than the
    parts themselves, and no more likely to collide than ``line_hash``'s SHA-256 is."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=15).digest(), "big")


def _amount_key(amount: Decimal) -> str:
    """Equal amounts give equal text (``-0.50`` and ``-0.5``; ``-0.00`` and ``0``)."""
    return "0" if amount.is_zero() else str(amount.normalize())


@dataclass
class _SurveyedFile:
    """What the first pass over a file found."""

    format: str
    checksum: str
    size: int
    stored: bytes  # what the statement keeps of the file


def _survey(
    stream: IO[bytes], *, filename: str, fmt: str | None, limit: int | None, keep: bool
) -> _SurveyedFile:
    """First pass: refuse a file over ``limit``; detect its format; checksum; the copy to keep."""
    size = stream.seek(0, io.SEEK_END)
    if limit is not None and size > limit:
        raise StatementRejected(
            f"the file is larger than {describe_size(limit)} ({describe_size(size)}), the limit for "
            "uploads (STATEMENT_UPLOAD_MAX_BYTES): an operator can import it with "
            "`manage.py import_statement`"
        )
    stream.seek(0)
    chunk = stream.read(_READ)
    fmt = fmt or detect_format(chunk[:4096], filename)
    digest = hashlib.sha256()
    compress = keep and size > STORE_RAW_MAX_BYTES
    packer = zlib.compressobj(6, zlib.DEFLATED, 31) if compress else None  # 31: a gzip member
    kept: list[bytes] = []
    while chunk:
        digest.update(chunk)
        if packer is not None:
            kept.append(packer.compress(chunk))
        elif keep:
            kept.append(chunk)
        chunk = stream.read(_READ)
    if packer is not None:
        kept.append(packer.flush())
    stream.seek(0)
    return _SurveyedFile(format=fmt, checksum=digest.hexdigest(), size=size, stored=b"".join(kept))


def statement_file_bytes(statement: BankStatement) -> bytes:
    """The imported file as it was uploaded (kept gzip-compressed when larger than
    ``STORE_RAW_MAX_BYTES``; no statement format starts with gzip's magic bytes)."""
    content = bytes(statement.content)
    return gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content


class _LineReader:
    """A parser's items for one account: each good line with its ``line_hash``; wrong-currency
    lines and row errors become errors (the first ``MAX_LISTED_ERRORS`` listed, all counted)."""

    def __init__(self, account: BankAccount) -> None:
        self.account = account
        self.occurrences: dict[int, int] = {}
        self.errors: list[RowError] = []
        self.error_count = 0  # not skipped
        self.unlisted = 0
        self.line_count = 0
        self.first_date: date | None = None
        self.last_date: date | None = None

    def read(self, items: Iterable[StatementItem]) -> Iterator[tuple[str, ParsedLine]]:
        """Yield ``(line_hash, line)`` for every line of the account's currency."""
        currency = self.account.currency
        for item in items:
            if isinstance(item, RowError):
                self._error(item)
                continue
            self.line_count += 1
            if self.first_date is None or item.date < self.first_date:
                self.first_date = item.date
            if self.last_date is None or item.date > self.last_date:
                self.last_date = item.date
            if item.currency != currency:
                self._error(
                    RowError(item.row, f"currency {item.currency} differs from the account's {currency}")
                )
                continue
            key = _fingerprint(
                item.date.isoformat(),
                _amount_key(item.amount),
                item.reference,
                item.description,
                item.counterparty,
            )
            occurrence = self.occurrences.get(key, 0) + 1
            self.occurrences[key] = occurrence
            yield line_hash(item, occurrence), item

    def _error(self, error: RowError) -> None:
        if not error.skipped:
            self.error_count += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(error)
        else:
            self.unlisted += 1

    def listed_errors(self) -> list[RowError]:
        """The errors in row order (the header's first), with a note when some are not listed."""
        errors = sorted(self.errors, key=lambda e: e.row)
        if self.unlisted:
            errors.append(
                RowError(errors[-1].row, f"... and {self.unlisted:,} more rows with errors, not listed")
            )
        return errors

    def covered_period(self, parsed: ParsedStatement) -> tuple[date | None, date | None]:
        """The period the file states, else the first and last booking dates."""
        return parsed.period_start or self.first_date, parsed.period_end or self.last_date


def _check_account(account: BankAccount, parsed: ParsedStatement) -> None:
    """Refuse another account's statement (as soon as the file has named its account)."""
    if (
        account.account_number
        and parsed.account_id
        and _normal_account(parsed.account_id) != _normal_account(account.account_number)
    ):
        raise StatementRejected(
            f"the file is a statement of account {parsed.account_id}, not of {account.name} "
            f"({account.account_number})"
        )


def _known_hashes(account: BankAccount, hashes: list[str]) -> dict[str, Any]:
    """Which of ``hashes`` the account has already, with the statement that brought each."""
    known: dict[str, Any] = {}
    for i in range(0, len(hashes), 500):
        known.update(
            BankLine.objects.filter(bank_account=account, line_hash__in=hashes[i : i + 500]).values_list(
                "line_hash", "statement_id"
            )
        )
    return known


def _refuse_unreadable(reader: _LineReader, parsed: ParsedStatement, stored: int) -> None:
    """A statement with no line read is refused with its row errors, never stored as an empty
    statement of "period None - None": nothing would be imported, and the clerk must fix the file.
    ``stored`` counts the lines that were new or already known."""
    if reader.line_count and stored:
        return
    errors = reader.listed_errors()
    if reader.error_count:
        failed = reader.error_count
        raise StatementRejected(
            f"no line of the file could be read ({failed} row error{'s' if failed != 1 else ''}): "
            "nothing was imported. Fix the rows below, or check the account's column layout, and "
            "upload it again",
            errors=errors,
        )
    start, end = reader.covered_period(parsed)
    if start is None or end is None:
        skipped = len(reader.errors) + reader.unlisted
        raise StatementRejected(
            "the file holds no statement lines"
            + (f" ({skipped} row(s) skipped, e.g. pending)" if skipped else "")
            + " and states no period: nothing was imported",
            errors=errors,
        )


def preview_statement(
    account: BankAccount,
    content: bytes | IO[bytes],
    *,
    filename: str = "",
    fmt: str | None = None,
    max_bytes: int | None = _UNSET,
) -> ImportResult:
    """Parse and classify a file without storing anything (the screen's preview). The lines are
    listed, so this is for files within the upload cap."""
    started = time.monotonic()
    stream = binary_stream(content)
    limit = upload_limit() if max_bytes is _UNSET else max_bytes
    surveyed = _survey(stream, filename=filename, fmt=fmt, limit=limit, keep=False)
    parsed = ParsedStatement(format=surveyed.format)
    reader = _LineReader(account)
    items = iter_statement(
        stream, surveyed.format, currency=account.currency, header=parsed, csv_format=account.csv_format
    )
    hashed: dict[str, ParsedLine] = {}
    for h, line in reader.read(items):
        _check_account(account, parsed)
        hashed[h] = line  # the same line twice in one file: one line, the later one (as always)
    _check_account(account, parsed)
    known = _known_hashes(account, list(hashed))
    result = ImportResult(
        parsed=parsed, format=surveyed.format, checksum=surveyed.checksum, size=surveyed.size
    )
    result.duplicate_of = (
        BankStatement.objects.defer("content")
        .filter(bank_account=account, checksum=surveyed.checksum)
        .first()
    )
    result.new_lines = [ln for h, ln in hashed.items() if h not in known]
    result.duplicate_lines = [ln for h, ln in hashed.items() if h in known]
    result.new_count, result.duplicate_count = len(result.new_lines), len(result.duplicate_lines)
    result.line_count, result.error_count = reader.line_count, reader.error_count
    result.errors = reader.listed_errors()
    _refuse_unreadable(reader, parsed, len(hashed))
    result.seconds = time.monotonic() - started
    return result


class _LineWriter:
    """Stores a statement's new lines in batches: which are known is asked per batch, so the lines
    of this very file stored by an earlier batch count too."""

    def __init__(self, account: BankAccount, statement_id: Any) -> None:
        self.account = account
        self.statement_id = statement_id
        self.pending: dict[str, ParsedLine] = {}
        self.known_elsewhere: set[int] = set()  # fingerprints of duplicates already counted
        self.new = 0
        self.duplicates = 0

    def add(self, h: str, line: ParsedLine) -> None:
        """Queue a line (a hash queued twice keeps the later line, as a whole-file read did)."""
        self.pending[h] = line

    def flush(self) -> None:
        """Store the queued lines that are new; count the known ones once each."""
        if not self.pending:
            return
        known = _known_hashes(self.account, list(self.pending))
        fresh: list[BankLine] = []
        for h, line in self.pending.items():
            owner = known.get(h)
            if owner is None:
                fresh.append(self._row(h, line))
            elif owner == self.statement_id:  # again in this file: the later line wins
                BankLine.objects.filter(statement_id=owner, line_hash=h).update(**self._fields(line))
            else:
                key = int(h[:30], 16)
                if key not in self.known_elsewhere:
                    self.known_elsewhere.add(key)
                    self.duplicates += 1
        BankLine.objects.bulk_create(fresh, batch_size=BATCH_LINES)
        self.new += len(fresh)
        self.pending.clear()

    @staticmethod
    def _fields(line: ParsedLine) -> dict[str, Any]:
        return {
            "row": line.row,
            "date": line.date,
            "value_date": line.value_date,
            "amount": line.amount,
            "currency": line.currency,
            "description": line.description,
            "reference": line.reference,
            "bank_reference": line.bank_reference,
            "counterparty": line.counterparty,
        }

    def _row(self, h: str, line: ParsedLine) -> BankLine:
        return BankLine(
            bank_account=self.account, statement_id=self.statement_id, line_hash=h, **self._fields(line)
        )


def _store_file(statement_id: Any, data: bytes) -> None:
    """Put the kept copy of the file on its statement. On PostgreSQL the bytes go as a binary
    parameter: Django binds on the client, which would spell them out as hex text twice over."""
    if connection.vendor == "postgresql":
        import psycopg

        raw = connection.connection
        table = connection.ops.quote_name(BankStatement._meta.db_table)
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(f"UPDATE {table} SET content = %b WHERE id = %s", [data, statement_id])  # noqa: S608 - the table name comes from the model; values are parameters
    else:
        BankStatement.objects.filter(pk=statement_id).update(content=data)


def import_statement(
    account: BankAccount,
    content: bytes | IO[bytes],
    *,
    filename: str = "",
    fmt: str | None = None,
    actor: Any = None,
    max_bytes: int | None = _UNSET,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportResult:
    """Store the statement and its new lines; a file already imported imports nothing.

    ``content`` is the file: bytes, an uploaded file or a binary file open for reading (read twice,
    never whole). ``max_bytes`` caps its size (default: the upload cap; None: no cap, for the
    operators' command). ``progress`` is called after each batch of lines.
    """
    started = time.monotonic()
    stream = binary_stream(content)
    limit = upload_limit() if max_bytes is _UNSET else max_bytes
    surveyed = _survey(stream, filename=filename, fmt=fmt, limit=limit, keep=True)
    parsed = ParsedStatement(format=surveyed.format)
    result = ImportResult(
        parsed=parsed, format=surveyed.format, checksum=surveyed.checksum, size=surveyed.size
    )
    with transaction.atomic():
        BankAccount.objects.select_for_update().get(pk=account.pk)  # one import per account at a time
        result.duplicate_of = (
            BankStatement.objects.defer("content")
            .filter(bank_account=account, checksum=surveyed.checksum)
            .first()
        )
        if result.duplicate_of is not None:
            result.line_count = result.duplicate_count = result.duplicate_of.line_count
            result.seconds = time.monotonic() - started
            return result
        statement_id = BankStatement.objects.create(
            bank_account=account,
            format=surveyed.format,
            filename=(filename or "statement")[:255],
            content=b"",
            checksum=surveyed.checksum,
            imported_by=actor if getattr(actor, "is_authenticated", False) else None,
        ).pk
        _store_file(statement_id, surveyed.stored)
        surveyed.stored = b""
        reader = _LineReader(account)
        writer = _LineWriter(account, statement_id)
        items = iter_statement(
            stream, surveyed.format, currency=account.currency, header=parsed, csv_format=account.csv_format
        )

        def report() -> None:
            if progress is not None:
                progress(
                    ImportProgress(
                        lines=reader.line_count,
                        new=writer.new,
                        duplicates=writer.duplicates,
                        errors=reader.error_count,
                        bytes_read=min(stream.tell(), surveyed.size),
                        bytes_total=surveyed.size,
                        seconds=time.monotonic() - started,
                    )
                )

        for h, line in reader.read(items):
            writer.add(h, line)
            if len(writer.pending) >= BATCH_LINES:
                _check_account(account, parsed)
                writer.flush()
                if settings.DEBUG:  # the debug log of queries would keep every batch's SQL
                    reset_queries()
                report()
        _check_account(account, parsed)
        writer.flush()
        _refuse_unreadable(reader, parsed, writer.new + writer.duplicates)
        start, end = reader.covered_period(parsed)
        errors = reader.listed_errors()
        BankStatement.objects.filter(pk=statement_id).update(
            period_start=start,
            period_end=end,
            opening_balance=parsed.opening_balance,
            closing_balance=parsed.closing_balance,
            line_count=reader.line_count,
            imported_count=writer.new,
            duplicate_count=writer.duplicates,
            error_count=reader.error_count,
            errors=[e.as_dict() for e in errors],
        )
        statement = BankStatement.objects.defer("content").get(pk=statement_id)
        audit.record(
            "bank_statement.imported",
            obj=statement,
            after={
                "bank_account": str(account.pk),
                "filename": statement.filename,
                "format": statement.format,
                "checksum": statement.checksum,
                "period": [str(start), str(end)],
                "imported": statement.imported_count,
                "duplicates": statement.duplicate_count,
                "errors": statement.error_count,
            },
            actor=actor,
        )
        result.statement = statement
        result.errors = errors
        result.line_count, result.new_count = reader.line_count, writer.new
        result.duplicate_count, result.error_count = writer.duplicates, reader.error_count
        report()
    result.seconds = time.monotonic() - started
    return result
