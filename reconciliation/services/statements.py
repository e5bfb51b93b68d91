"""Bank accounts and statement imports: preview, import (duplicates skipped), all audited.

The same file twice is refused by its checksum (UNIQUE per bank account). Lines are identified by
``line_hash`` (UNIQUE per bank account): the bank's own id (OFX FITID, CAMT AcctSvcrRef) when the
file carries one, else the line's content plus its occurrence number among identical lines of the
file, so two genuine 10.00 fees on one day both import while an overlapping statement adds nothing
twice. Imports into one account are serialised by a row lock on the account.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from integrator import money
from integrator.models import LedgerAccount, LedgerConnection
from integrator.services import audit
from reconciliation.importers import (
    CSVFormat,
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementRejected,
    detect_format,
    parse_statement,
)
from reconciliation.models import BankAccount, BankLine, BankStatement

__all__ = [
    "MAX_STATEMENT_BYTES",
    "ImportResult",
    "create_bank_account",
    "import_statement",
    "preview_statement",
]

MAX_STATEMENT_BYTES = 10 * 1024 * 1024


@dataclass
class ImportResult:
    """What an import (or a preview) found: the lines, which are new, which are known, the errors."""

    parsed: ParsedStatement
    format: str
    checksum: str
    new_lines: list[ParsedLine] = field(default_factory=list)
    duplicate_lines: list[ParsedLine] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    statement: BankStatement | None = None
    duplicate_of: BankStatement | None = None

    @property
    def imported(self) -> int:
        """Lines stored by this import (0 for a preview or a file already imported)."""
        return len(self.new_lines) if self.statement is not None else 0

    @property
    def created(self) -> bool:
        """True when a statement row was made."""
        return self.statement is not None


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


def _read(account: BankAccount, content: bytes, filename: str, fmt: str | None) -> ImportResult:
    """Parse a file for an account and check it is that account's statement."""
    if len(content) > MAX_STATEMENT_BYTES:
        raise StatementRejected(f"the file is larger than {MAX_STATEMENT_BYTES // (1024 * 1024)} MB")
    fmt = fmt or detect_format(content, filename)
    parsed = parse_statement(content, fmt, currency=account.currency, csv_format=account.csv_format)
    if (
        account.account_number
        and parsed.account_id
        and _normal_account(parsed.account_id) != _normal_account(account.account_number)
    ):
        raise StatementRejected(
            f"the file is a statement of account {parsed.account_id}, not of {account.name} "
            f"({account.account_number})"
        )
    result = ImportResult(parsed=parsed, format=fmt, checksum=hashlib.sha256(content).hexdigest())
    result.errors = list(parsed.errors)
    return result


def _classify(account: BankAccount, result: ImportResult) -> dict[str, ParsedLine]:
    """Split lines into new and known (one query); wrong-currency lines become row errors."""
    occurrences: Counter[tuple[Any, ...]] = Counter()
    hashed: dict[str, ParsedLine] = {}
    for line in result.parsed.lines:
        if line.currency != account.currency:
            result.errors.append(
                RowError(line.row, f"currency {line.currency} differs from the account's {account.currency}")
            )
            continue
        identity = (line.date, line.amount, line.reference, line.description, line.counterparty)
        occurrences[identity] += 1
        hashed[line_hash(line, occurrences[identity])] = line
    known: set[str] = set()
    keys = list(hashed)
    for i in range(0, len(keys), 500):
        known.update(
            BankLine.objects.filter(bank_account=account, line_hash__in=keys[i : i + 500]).values_list(
                "line_hash", flat=True
            )
        )
    result.new_lines = [ln for h, ln in hashed.items() if h not in known]
    result.duplicate_lines = [ln for h, ln in hashed.items() if h in known]
    result.errors.sort(key=lambda e: e.row)
    return {h: ln for h, ln in hashed.items() if h not in known}


def _refuse_unreadable(result: ImportResult) -> None:
    """A statement with no line read is refused with its row errors, never stored as an empty
    statement of "period None - None": nothing would be imported, and the clerk must fix the file."""
    if result.parsed.lines and (result.new_lines or result.duplicate_lines):
        return
    failed = [e for e in result.errors if not e.skipped]
    if failed:
        raise StatementRejected(
            f"no line of the file could be read ({len(failed)} row error{'s' if len(failed) != 1 else ''}): "
            "nothing was imported. Fix the rows below, or check the account's column layout, and "
            "upload it again",
            errors=result.errors,
        )
    start, end = result.parsed.covered_period()
    if start is None or end is None:
        skipped = len(result.errors)
        raise StatementRejected(
            "the file holds no statement lines"
            + (f" ({skipped} row(s) skipped, e.g. pending)" if skipped else "")
            + " and states no period: nothing was imported",
            errors=result.errors,
        )


def preview_statement(
    account: BankAccount, content: bytes, *, filename: str = "", fmt: str | None = None
) -> ImportResult:
    """Parse and classify a file without storing anything (the screen's preview)."""
    result = _read(account, content, filename, fmt)
    result.duplicate_of = BankStatement.objects.filter(bank_account=account, checksum=result.checksum).first()
    _classify(account, result)
    _refuse_unreadable(result)
    return result


def import_statement(
    account: BankAccount, content: bytes, *, filename: str = "", fmt: str | None = None, actor: Any = None
) -> ImportResult:
    """Store the statement and its new lines; a file already imported imports nothing."""
    result = _read(account, content, filename, fmt)
    with transaction.atomic():
        BankAccount.objects.select_for_update().get(pk=account.pk)  # one import per account at a time
        result.duplicate_of = BankStatement.objects.filter(
            bank_account=account, checksum=result.checksum
        ).first()
        if result.duplicate_of is not None:
            result.duplicate_lines = list(result.parsed.lines)
            return result
        new = _classify(account, result)
        _refuse_unreadable(result)
        start, end = result.parsed.covered_period()
        statement = BankStatement.objects.create(
            bank_account=account,
            format=result.format,
            filename=(filename or "statement")[:255],
            content=content,
            checksum=result.checksum,
            period_start=start,
            period_end=end,
            opening_balance=result.parsed.opening_balance,
            closing_balance=result.parsed.closing_balance,
            line_count=len(result.parsed.lines),
            imported_count=len(new),
            duplicate_count=len(result.duplicate_lines),
            error_count=sum(1 for e in result.errors if not e.skipped),
            errors=[e.as_dict() for e in result.errors],
            imported_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        BankLine.objects.bulk_create(
            [
                BankLine(
                    bank_account=account,
                    statement=statement,
                    row=ln.row,
                    date=ln.date,
                    value_date=ln.value_date,
                    amount=ln.amount,
                    currency=ln.currency,
                    description=ln.description,
                    reference=ln.reference,
                    bank_reference=ln.bank_reference,
                    counterparty=ln.counterparty,
                    line_hash=h,
                )
                for h, ln in new.items()
            ],
            batch_size=500,
        )
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
    return result
