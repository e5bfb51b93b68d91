"""Statements imported streaming: big files in little memory, with every rule of a small one.

The writers below make statements of any length in each format (the benchmark uses them too):
``n`` booked lines of a GBP account, every 1,000th line a second identical bank charge (both must
import), amounts in and out, dates over a year.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import IO

from tests.reconciliation.conftest import IBAN

FIRST_DAY = date(2026, 1, 1)
NAMES = ("Stripe Payments UK", "Royal Mail Group", "Acme Terminals", "Kumasi Crafts Ltd", "HMRC VAT")


def _line_facts(i: int) -> tuple[date, str, str, str, str]:
    """Date, signed amount, description, reference and counterparty of line ``i`` (0-based);
    line ``i`` repeats line ``i - 1`` exactly when ``i % 1000 == 999`` (two identical charges)."""
    if i % 1000 == 999:
        i -= 1
    day = FIRST_DAY + timedelta(days=(i * 365) // max(i + 1, 1_000_000))
    cents = (i * 7919) % 250_000 - 100_000
    amount = f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"
    return day, amount, f"Payment {i} card sale", f"REF{i:09d}", NAMES[i % len(NAMES)]


def write_csv_statement(out: IO[bytes], n: int) -> None:
    """A CSV statement in the default layout."""
    out.write(b"date,amount,currency,description,reference,counterparty\n")
    for i in range(n):
        day, amount, description, reference, party = _line_facts(i)
        out.write(f"{day.isoformat()},{amount},GBP,{description},{reference},{party}\n".encode())


def write_ofx_statement(out: IO[bytes], n: int) -> None:
    """An OFX 1.02 (SGML) bank statement with ``n`` transactions (FITIDs, so bank ids dedupe)."""
    last = FIRST_DAY + timedelta(days=365)
    out.write(
        (
            "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
            "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX>\n<SIGNONMSGSRSV1>\n<SONRS>\n"
            "<STATUS>\n<CODE>0\n<SEVERITY>INFO\n</STATUS>\n<DTSERVER>20270101120000\n<LANGUAGE>ENG\n"
            "</SONRS>\n</SIGNONMSGSRSV1>\n<BANKMSGSRSV1>\n<STMTTRNRS>\n<TRNUID>1\n<STATUS>\n<CODE>0\n"
            "<SEVERITY>INFO\n</STATUS>\n<STMTRS>\n<CURDEF>GBP\n<BANKACCTFROM>\n<BANKID>201234\n"
            f"<ACCTID>{IBAN}\n<ACCTTYPE>CHECKING\n</BANKACCTFROM>\n<BANKTRANLIST>\n"
            f"<DTSTART>{FIRST_DAY:%Y%m%d}\n<DTEND>{last:%Y%m%d}\n"
        ).encode()
    )
    for i in range(n):
        day, amount, description, _reference, party = _line_facts(i)
        kind = "DEBIT" if amount.startswith("-") else "CREDIT"
        out.write(
            f"<STMTTRN>\n<TRNTYPE>{kind}\n<DTPOSTED>{day:%Y%m%d}\n<TRNAMT>{amount}\n<FITID>F{i:09d}\n"
            f"<NAME>{party}\n<MEMO>{description}\n</STMTTRN>\n".encode()
        )
    out.write(
        f"</BANKTRANLIST>\n<LEDGERBAL>\n<BALAMT>10093.54\n<DTASOF>{last:%Y%m%d}\n</LEDGERBAL>\n"
        "</STMTRS>\n</STMTTRNRS>\n</BANKMSGSRSV1>\n</OFX>\n".encode()
    )


def write_camt053_statement(out: IO[bytes], n: int) -> None:
    """A CAMT.053.001.02 document with one statement of ``n`` booked entries."""
    last = FIRST_DAY + timedelta(days=365)
    out.write(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
            "<GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>2027-01-01T06:00:00+00:00</CreDtTm></GrpHdr>\n"
            f"<Stmt><Id>BENCH-1</Id><FrToDt><FrDtTm>{FIRST_DAY}T00:00:00+00:00</FrDtTm>"
            f"<ToDtTm>{last}T23:59:59+00:00</ToDtTm></FrToDt><Acct><Id><IBAN>{IBAN}</IBAN></Id>"
            "<Ccy>GBP</Ccy></Acct><Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="GBP">10000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{FIRST_DAY}</Dt></Dt></Bal>\n'
        ).encode()
    )
    for i in range(n):
        day, amount, description, reference, party = _line_facts(i)
        debit = amount.startswith("-")
        role = "Cdtr" if debit else "Dbtr"
        out.write(
            f'<Ntry><NtryRef>{i}</NtryRef><Amt Ccy="GBP">{amount.lstrip("-")}</Amt>'
            f"<CdtDbtInd>{'DBIT' if debit else 'CRDT'}</CdtDbtInd><Sts>BOOK</Sts>"
            f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            f"<AcctSvcrRef>A{i:09d}</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>{reference}"
            f"</EndToEndId></Refs><RltdPties><{role}><Nm>{party}</Nm></{role}></RltdPties>"
            f"<RmtInf><Ustrd>{description}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n".encode()
        )
    out.write(b"</Stmt></BkToCstmrStmt></Document>\n")


WRITERS = {"csv": write_csv_statement, "ofx": write_ofx_statement, "camt053": write_camt053_statement}


def write_statement(path: Path, fmt: str, n: int) -> Path:
    """Write a statement of ``n`` lines in ``fmt`` to ``path`` (buffered, never whole in memory)."""
    with path.open("wb", buffering=1 << 20) as out:
        WRITERS[fmt](out, n)
    return path


# -- the tests ----------------------------------------------------------------------------------

import io  # noqa: E402
import tracemalloc  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test import Client  # noqa: E402

from integrator.models import AuditEvent  # noqa: E402
from reconciliation.importers import (  # noqa: E402
    ParsedStatement,
    RowError,
    StatementRejected,
    iter_statement,
    parse_statement,
)
from reconciliation.models import BankAccount, BankLine, BankStatement  # noqa: E402
from reconciliation.services import statements  # noqa: E402
from reconciliation.services.statements import import_statement, statement_file_bytes  # noqa: E402

FORMATS = ["csv", "ofx", "camt053"]


def _file_total(n: int) -> Decimal:
    """The sum of the amounts of the first ``n`` lines the writers write."""
    return sum((Decimal(_line_facts(i)[1]) for i in range(n)), Decimal("0"))


def _nothing_saved() -> None:
    assert not BankStatement.objects.exists() and not BankLine.objects.exists()
    assert not AuditEvent.objects.filter(action="bank_statement.imported").exists()


@pytest.mark.parametrize(("fmt", "n"), [("csv", 50_000), ("ofx", 20_000), ("camt053", 20_000)])
def test_a_big_statement_imports_in_batches_with_the_right_totals(
    bank_account: BankAccount, tmp_path: Path, fmt: str, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statements, "BATCH_LINES", 2_000)
    path = write_statement(tmp_path / f"big.{fmt}", fmt, n)
    seen: list[int] = []
    with path.open("rb") as stream:
        result = import_statement(
            bank_account, stream, filename=path.name, max_bytes=None, progress=lambda p: seen.append(p.lines)
        )
    statement = result.statement
    assert statement is not None and result.format == fmt
    assert (statement.line_count, statement.imported_count, statement.error_count) == (n, n, 0)
    lines = BankLine.objects.filter(statement=statement)
    assert lines.count() == n
    assert lines.aggregate(total=Sum("amount"))["total"] == _file_total(n)
    assert (statement.period_start, statement.period_end) != (None, None)
    assert len(seen) >= 10 and seen == sorted(seen) and seen[-1] == n  # a report per batch
    assert AuditEvent.objects.filter(action="bank_statement.imported", object_id=str(statement.pk)).exists()
    assert result.lines_per_second > 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_reimporting_adds_no_line_and_an_overlapping_file_only_its_new_lines(
    bank_account: BankAccount, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statements, "BATCH_LINES", 700)  # several batches per file
    first = write_statement(tmp_path / f"a.{fmt}", fmt, 3_000)
    import_statement(bank_account, first.read_bytes(), filename=first.name)
    again = import_statement(bank_account, first.read_bytes(), filename="copy")
    assert again.statement is None and again.duplicate_of is not None and again.duplicate_count == 3_000
    longer = write_statement(tmp_path / f"b.{fmt}", fmt, 4_000)  # the same 3,000 lines and 1,000 more
    result = import_statement(bank_account, longer.read_bytes(), filename=longer.name)
    assert result.statement is not None
    assert (result.statement.imported_count, result.statement.duplicate_count) == (1_000, 3_000)
    assert BankLine.objects.count() == 4_000  # the identical charges (every 1,000th line) kept, once


@pytest.mark.parametrize(("fmt", "refusal"), [("ofx", "OFX file"), ("camt053", "not well-formed XML")])
def test_a_big_file_cut_short_is_refused_and_nothing_is_kept(
    bank_account: BankAccount, tmp_path: Path, fmt: str, refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statements, "BATCH_LINES", 1_000)
    content = write_statement(tmp_path / f"whole.{fmt}", fmt, 12_000).read_bytes()
    cut = content[: len(content) - 300]  # the last transactions and every closing tag are gone
    flushed: list[int] = []
    with pytest.raises(StatementRejected, match=refusal):
        import_statement(bank_account, cut, filename=f"cut.{fmt}", progress=lambda p: flushed.append(p.new))
    if fmt == "camt053":  # its entries were stored batch by batch before the end was read
        assert flushed and flushed[-1] >= 10_000
    # (an OFX file whose aggregates are never closed has them dropped as empty leaves, as before:
    # its transactions belong to no statement and the file is refused once read)
    _nothing_saved()


def test_an_ofx_file_cut_before_its_closing_tags_keeps_ofx_and_is_refused() -> None:
    content = write_statement_bytes("ofx", 2_000)
    cut = content[: content.index(b"</BANKTRANLIST>")]
    with pytest.raises(StatementRejected, match=r"the file ends inside <OFX> \(is it cut short\?\)"):
        list(iter_statement(io.BytesIO(cut), "ofx", currency="GBP", header=ParsedStatement(format="ofx")))


def write_statement_bytes(fmt: str, n: int) -> bytes:
    """A statement in memory (small ones only)."""
    out = io.BytesIO()
    WRITERS[fmt](out, n)
    return out.getvalue()


def _traced_peak(work: Any) -> tuple[Any, int]:
    """What ``work()`` returns, and the most memory Python objects took meanwhile."""
    tracemalloc.start()
    try:
        value = work()
        return value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["csv", "ofx"])
def test_reading_holds_a_piece_of_the_file_not_its_lines(tmp_path: Path, fmt: str) -> None:
    path = write_statement(tmp_path / f"s.{fmt}", fmt, 50_000)

    def stream() -> int:
        with path.open("rb") as f:
            items = iter_statement(f, fmt, currency="GBP", header=ParsedStatement(format=fmt))
            return sum(1 for item in items if not isinstance(item, RowError))

    def whole() -> int:
        return len(parse_statement(path.read_bytes(), fmt, currency="GBP").lines)

    (streamed, peak), (parsed, whole_peak) = _traced_peak(stream), _traced_peak(whole)
    assert streamed == parsed == 50_000
    assert peak < 12 * 1024 * 1024 and peak < whole_peak / 4, (peak, whole_peak)


def test_a_large_file_is_kept_compressed_and_reads_back(
    bank_account: BankAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statements, "STORE_RAW_MAX_BYTES", 10_000)
    content = write_statement_bytes("csv", 2_000)
    result = import_statement(bank_account, content, filename="s.csv")
    assert result.statement is not None
    stored = BankStatement.objects.get(pk=result.statement.pk)
    assert len(bytes(stored.content)) < len(content) / 3 and statement_file_bytes(stored) == content


def test_the_command_imports_a_file_over_the_upload_cap_and_then_nothing(
    bank_account: BankAccount, tmp_path: Path, settings: Any
) -> None:
    settings.STATEMENT_UPLOAD_MAX_BYTES = 1_000
    path = write_statement(tmp_path / "nov.ofx", "ofx", 5_000)
    out = io.StringIO()
    call_command("import_statement", str(path), account=bank_account.name, stdout=out)
    text = out.getvalue()
    assert "5,000 lines read" in text and "5,000 imported" in text and "lines/s" in text
    assert BankLine.objects.count() == 5_000
    again = io.StringIO()
    call_command("import_statement", str(path), account=str(bank_account.pk), stdout=again)
    assert "already imported" in again.getvalue() and BankLine.objects.count() == 5_000
    with pytest.raises(CommandError, match="no bank account is called 'Nope'"):
        call_command("import_statement", str(path), account="Nope")
    cut = tmp_path / "cut.ofx"
    cut.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(CommandError, match="refused: the OFX file cannot be read"):
        call_command("import_statement", str(cut), account=bank_account.name, stdout=io.StringIO())


def test_the_cap_setting_refuses_larger_uploads_with_a_clear_message(
    client: Client, bank_account: BankAccount, users: Any, settings: Any
) -> None:
    settings.STATEMENT_UPLOAD_MAX_BYTES = 50_000
    content = write_statement_bytes("csv", 2_000)  # about 80 KB
    client.force_login(users["finance_clerk"])
    page = client.post(
        "/reconciliation/statements/",
        {"bank_account": bank_account.pk, "file": SimpleUploadedFile("big.csv", content), "action": "import"},
    ).content.decode()
    assert "The file is larger than 0.0 MB" not in page
    assert "larger than" in page and "manage.py import_statement" in page
    api = client.post(
        "/api/v1/bank-statements/",
        {"bank_account": str(bank_account.pk), "file": SimpleUploadedFile("big.csv", content)},
    )
    assert api.status_code == 400 and "STATEMENT_UPLOAD_MAX_BYTES" in api.json()["detail"]
    with pytest.raises(StatementRejected, match="larger than"):
        import_statement(bank_account, content)
    _nothing_saved()


def test_an_upload_on_disk_is_imported_from_the_disk(
    client: Client, bank_account: BankAccount, users: Any, settings: Any
) -> None:
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000  # larger uploads are written to a temporary file
    settings.STATEMENT_INLINE_IMPORT_BYTES = 10 * 1_048_576  # imported within the request, from the disk
    content = write_statement_bytes("camt053", 3_000)
    client.force_login(users["finance_clerk"])
    done = client.post(
        "/reconciliation/statements/",
        {"bank_account": bank_account.pk, "file": SimpleUploadedFile("nov.xml", content), "action": "import"},
    )
    statement = BankStatement.objects.get()
    assert done.status_code == 302 and statement.imported_count == 3_000
    api = client.post(
        "/api/v1/bank-statements/",
        {"bank_account": str(bank_account.pk), "file": SimpleUploadedFile("again.xml", content)},
    )
    assert api.status_code == 200 and api.json()["duplicates"] == 3_000 and api.json()["imported"] == 0
