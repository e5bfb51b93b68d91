"""Statement parsers (CSV, OFX SGML and XML, CAMT.053) and the import service (duplicates skipped)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from integrator import money
from integrator.models import AuditEvent
from reconciliation.importers import (
    CSVFormat,
    StatementRejected,
    detect_format,
    parse_camt053,
    parse_csv,
    parse_ofx,
    parse_signed_amount,
)
from reconciliation.models import BankAccount, BankLine, BankStatement
from reconciliation.services.statements import import_statement, preview_statement
from tests.reconciliation.conftest import IBAN, bank_file

EU_FORMAT = {
    "delimiter": ";",
    "date_column": "Buchungstag",
    "date_format": "%d.%m.%Y",
    "amount_column": "",
    "credit_column": "Gutschrift",
    "debit_column": "Lastschrift",
    "currency_column": "",
    "description_column": "Verwendungszweck",
    "reference_column": "Referenz",
    "counterparty_column": "Auftraggeber",
    "decimal_separator": ",",
    "thousands_separator": ".",
    "skip_lines": 1,
}


# -- parsers (no database) ------------------------------------------------------------------------


def test_signed_amounts_are_exact_decimals_in_every_bank_notation() -> None:
    assert parse_signed_amount("-12.50", "GBP") == Decimal("-12.50")
    assert parse_signed_amount("12.50-", "GBP") == Decimal("-12.50")
    assert parse_signed_amount("(1,234.56)", "GBP", thousands=",") == Decimal("-1234.56")
    assert parse_signed_amount("1.234,56", "EUR", decimal_separator=",", thousands=".") == Decimal("1234.56")
    assert parse_signed_amount("1500", "XOF") == Decimal("1500")
    for bad, cur in (("12.345", "GBP"), ("100.5", "XOF"), ("1e3", "GBP"), ("", "GBP"), ("12,50", "GBP")):
        with pytest.raises(money.InvalidAmount):
            parse_signed_amount(bad, cur)


def test_csv_default_layout_reads_signed_amounts_and_keeps_identical_lines() -> None:
    parsed = parse_csv(bank_file("statement.csv"), currency="GBP")
    assert parsed.errors == []
    assert [(ln.row, ln.date, ln.amount) for ln in parsed.lines] == [
        (2, date(2026, 11, 23), Decimal("139.44")),
        (3, date(2026, 11, 23), Decimal("-12.00")),
        (4, date(2026, 11, 24), Decimal("-0.50")),
        (5, date(2026, 11, 24), Decimal("-0.50")),
        (6, date(2026, 11, 24), Decimal("250.00")),
    ]
    first = parsed.lines[0]
    assert (first.description, first.reference, first.counterparty) == (
        "STRIPE PAYOUT",
        "po-1",
        "Stripe Payments UK",
    )
    assert parsed.covered_period() == (date(2026, 11, 23), date(2026, 11, 24))


def test_csv_configured_layout_with_preamble_split_columns_and_decimal_comma() -> None:
    parsed = parse_csv(bank_file("statement-eu.csv"), currency="EUR", fmt=CSVFormat.from_dict(EU_FORMAT))
    assert parsed.errors == []
    assert [(ln.date, ln.amount, ln.currency) for ln in parsed.lines] == [
        (date(2026, 11, 23), Decimal("139.44"), "EUR"),
        (date(2026, 11, 24), Decimal("-1250.00"), "EUR"),
        (date(2026, 11, 25), Decimal("2004.10"), "EUR"),
    ]
    assert parsed.lines[1].counterparty == "Lagerhaus GmbH" and parsed.lines[1].reference == "R-11"


def test_csv_row_errors_say_which_row_and_why() -> None:
    parsed = parse_csv(bank_file("statement-errors.csv"), currency="GBP")
    assert [ln.row for ln in parsed.lines] == [2, 7]
    assert [(e.row, e.message) for e in parsed.errors] == [
        (3, "date '2026-11-31' does not match the format %Y-%m-%d"),
        (4, "'10.005' has more decimals than GBP allows"),
        (5, "'abc' is not an amount"),
        (6, "unknown currency 'XYZ'"),
    ]


def test_csv_layout_problems_reject_the_whole_file() -> None:
    with pytest.raises(StatementRejected, match=r"column .Buchungstag. is missing .*found: date, amount"):
        parse_csv(
            bank_file("statement.csv"),
            currency="GBP",
            fmt=CSVFormat.from_dict({"date_column": "Buchungstag"}),
        )
    with pytest.raises(StatementRejected, match="unknown CSV format setting"):
        CSVFormat.from_dict({"date_colum": "x"})


def test_ofx_sgml_with_unclosed_leaves() -> None:
    parsed = parse_ofx(bank_file("statement-sgml.ofx"), currency="EUR")
    assert (parsed.account_id, parsed.currency) == (IBAN, "GBP")
    assert (parsed.period_start, parsed.period_end) == (date(2026, 11, 21), date(2026, 11, 25))
    assert parsed.closing_balance == Decimal("10093.54")
    deposit, postage = parsed.lines
    assert (deposit.date, deposit.amount, deposit.bank_reference) == (
        date(2026, 11, 23),
        Decimal("139.44"),
        "NWB20261123001",
    )
    assert deposit.description == "STRIPE PAYMENTS UK / STRIPE PAYOUT po-1"
    assert (postage.amount, postage.reference, postage.counterparty) == (
        Decimal("-45.90"),
        "000117",
        "ROYAL MAIL & PARCELFORCE",
    )
    assert [(e.row, e.message) for e in parsed.errors] == [
        (3, "transaction NWB20261124003: '12.345' has more decimals than GBP allows")
    ]


def test_ofx_xml_version_two() -> None:
    parsed = parse_ofx(bank_file("statement-xml.ofx"), currency="GBP")
    assert parsed.errors == []
    assert [(ln.amount, ln.bank_reference, ln.counterparty) for ln in parsed.lines] == [
        (Decimal("139.44"), "NWB20261123001", "Stripe Payments UK"),
        (Decimal("-8.00"), "NWB20261124009", "Account fee"),
    ]
    assert parsed.lines[1].reference == "FEE-NOV" and parsed.closing_balance == Decimal("10131.44")


def test_camt053_entries_balances_and_pending_skipped() -> None:
    parsed = parse_camt053(bank_file("camt053-deposit.xml"))
    assert (parsed.account_id, parsed.currency) == (IBAN, "GBP")
    assert (parsed.opening_balance, parsed.closing_balance) == (Decimal("10000.00"), Decimal("10093.54"))
    assert parsed.opening_balance + sum(ln.amount for ln in parsed.lines) == parsed.closing_balance
    postage, deposit = parsed.lines
    assert (postage.amount, postage.counterparty, postage.bank_reference) == (
        Decimal("-45.90"),
        "Royal Mail Group",
        "NWB-22-0007",
    )
    assert (deposit.date, deposit.amount, deposit.reference) == (
        date(2026, 11, 23),
        Decimal("139.44"),
        "po-1",
    )
    assert (deposit.counterparty, deposit.description) == ("Stripe Payments UK Ltd", "STRIPE PAYOUT po-1")
    assert [(e.row, e.skipped) for e in parsed.errors] == [(3, True)]


def test_camt053_later_versions_read_the_same() -> None:
    parsed = parse_camt053(bank_file("camt053-no-deposit.xml"))
    assert parsed.errors == []
    assert [(ln.date, ln.amount, ln.counterparty) for ln in parsed.lines] == [
        (date(2026, 11, 22), Decimal("-45.90"), "Royal Mail Group"),
        (date(2026, 11, 23), Decimal("50.00"), "Kumasi Crafts Ltd"),
    ]
    assert parsed.opening_balance == Decimal("10000.00")


def test_camt053_refuses_entities_and_other_documents() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document>&a;</Document>'
    with pytest.raises(StatementRejected, match="DOCTYPE or ENTITY"):
        parse_camt053(bomb)
    with pytest.raises(StatementRejected, match=r"not a CAMT\.053 document"):
        parse_camt053(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"/>')
    with pytest.raises(StatementRejected, match="not well-formed"):
        parse_camt053(b"<Document><unclosed></Document>")
    broken = bank_file("camt053-deposit.xml").replace(
        b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>XXXX</CdtDbtInd>"
    )
    assert "neither CRDT nor DBIT" in parse_camt053(broken).errors[0].message


def test_formats_are_detected_from_the_content() -> None:
    assert detect_format(bank_file("statement-sgml.ofx")) == "ofx"
    assert detect_format(bank_file("statement-xml.ofx")) == "ofx"
    assert detect_format(bank_file("camt053-deposit.xml")) == "camt053"
    assert detect_format(bank_file("statement.csv"), "statement.csv") == "csv"


# -- import service -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "imported", "errors"),
    [
        ("statement.csv", 5, 0),
        ("statement-sgml.ofx", 2, 1),
        ("statement-xml.ofx", 2, 0),
        ("camt053-deposit.xml", 2, 0),
    ],
)
def test_each_format_imports_and_the_same_file_again_imports_nothing(
    bank_account: BankAccount, name: str, imported: int, errors: int
) -> None:
    first = import_statement(bank_account, bank_file(name), filename=name)
    statement = first.statement
    assert statement is not None and statement.imported_count == imported and statement.error_count == errors
    assert BankLine.objects.filter(statement=statement).count() == imported
    assert AuditEvent.objects.filter(action="bank_statement.imported", object_id=str(statement.pk)).exists()
    again = import_statement(bank_account, bank_file(name), filename=f"copy of {name}")
    assert again.statement is None and again.duplicate_of == statement and again.imported == 0
    assert BankStatement.objects.count() == 1 and BankLine.objects.count() == imported


def test_overlapping_statements_import_only_the_new_lines(bank_account: BankAccount) -> None:
    import_statement(bank_account, bank_file("statement.csv"), filename="nov-a.csv")
    preview = preview_statement(bank_account, bank_file("statement-overlap.csv"), filename="nov-b.csv")
    assert [ln.row for ln in preview.new_lines] == [5] and len(preview.duplicate_lines) == 3
    assert BankStatement.objects.count() == 1  # a preview stores nothing
    result = import_statement(bank_account, bank_file("statement-overlap.csv"), filename="nov-b.csv")
    assert result.statement is not None
    assert (result.statement.imported_count, result.statement.duplicate_count) == (1, 3)
    # the two identical bank charges of 24 Nov were both kept, once
    assert BankLine.objects.filter(amount=Decimal("-0.50")).count() == 2
    assert BankLine.objects.count() == 6


def test_bank_ids_dedupe_across_formats(bank_account: BankAccount) -> None:
    import_statement(bank_account, bank_file("camt053-no-deposit.xml"), filename="b.xml")
    result = import_statement(bank_account, bank_file("camt053-deposit.xml"), filename="a.xml")
    assert result.statement is not None
    assert (result.statement.imported_count, result.statement.duplicate_count) == (
        1,
        1,
    )  # postage NWB-22-0007 known


def test_wrong_account_or_currency_is_refused(bank_account: BankAccount) -> None:
    bank_account.account_number = "GB00OTHER0000000000"
    bank_account.save()
    with pytest.raises(StatementRejected, match="not of NatWest current"):
        import_statement(bank_account, bank_file("camt053-deposit.xml"))
    bank_account.account_number = ""
    bank_account.save()
    result = import_statement(bank_account, bank_file("statement-errors.csv"), filename="errors.csv")
    assert result.statement is not None and result.statement.imported_count == 1
    assert {e["row"]: e["message"] for e in result.statement.errors}[
        7
    ] == "currency EUR differs from the account's GBP"
