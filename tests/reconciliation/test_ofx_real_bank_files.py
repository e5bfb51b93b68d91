"""OFX through ofxtools: the repairs real bank files need, a hostile file, an unreadable one.

Each repair ``reconciliation.importers.ofx`` makes before ofxtools' tree builder sees the text has a
fixture here: empty SGML leaves left unclosed, lower-case tag names; a decimal comma is read when
the amount is (not repaired in the text). A file declaring entities (external and nested) is read
with the entity references left as they are and nothing fetched; a mis-nested file is refused with
a clear message and nothing saved.
"""

from __future__ import annotations

import socket
from datetime import date
from decimal import Decimal

import pytest

from reconciliation.importers import StatementRejected, parse_ofx
from reconciliation.models import BankAccount, BankLine, BankStatement
from reconciliation.services.statements import import_statement
from tests.reconciliation.conftest import IBAN, bank_file

BANK_ROWS = [
    (date(2026, 11, 23), Decimal("139.44"), "NWB20261123001"),
    (date(2026, 11, 24), Decimal("-45.90"), "NWB20261124002"),
]
AMOUNT_ERROR = [(3, "transaction NWB20261124003: '12.345' has more decimals than GBP allows")]


def _rows(name: str) -> tuple[list[tuple[date, Decimal, str]], list[tuple[int, str]]]:
    parsed = parse_ofx(bank_file(name), currency="EUR")
    assert (parsed.account_id, parsed.currency) == (IBAN, "GBP")
    assert parsed.closing_balance == Decimal("10093.54")
    return (
        [(ln.date, ln.amount, ln.bank_reference) for ln in parsed.lines],
        [(e.row, e.message) for e in parsed.errors],
    )


def test_empty_sgml_leaves_left_unclosed_do_not_swallow_the_rest_of_the_file() -> None:
    assert _rows("statement-sgml-empty-leaves.ofx") == (BANK_ROWS, AMOUNT_ERROR)
    parsed = parse_ofx(bank_file("statement-sgml-empty-leaves.ofx"), currency="GBP")
    assert parsed.lines[0].description == "STRIPE PAYMENTS UK" and parsed.lines[1].reference == ""


def test_lower_case_tag_names_are_read() -> None:
    assert _rows("statement-sgml-lowercase.ofx") == (BANK_ROWS, AMOUNT_ERROR)


def test_a_decimal_comma_gives_the_exact_amount() -> None:
    rows, errors = _rows("statement-sgml-decimal-comma.ofx")
    assert rows == BANK_ROWS and errors == AMOUNT_ERROR
    assert all(isinstance(amount, Decimal) for _, amount, _ in rows)


def test_entities_are_never_expanded_nor_fetched() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.5)
        port = server.getsockname()[1]
        hostile = bank_file("statement-hostile-entities.ofx").replace(b"PORT", str(port).encode())
        assert b"<!ENTITY ext SYSTEM" in hostile
        parsed = parse_ofx(hostile, currency="GBP")
        with pytest.raises(TimeoutError):
            server.accept()  # nobody came for the external entity
    assert parsed.lines[0].counterparty == "&ext;&lol2;"  # left as written: nothing expanded
    assert [ln.amount for ln in parsed.lines] == [Decimal("139.44"), Decimal("-8.00")]


def test_a_mis_nested_file_is_refused_with_a_clear_message() -> None:
    with pytest.raises(
        StatementRejected,
        match=r"the OFX file cannot be read: </STMTRS> closes <LEDGERBAL>, which is still open",
    ):
        parse_ofx(bank_file("statement-sgml-misnested.ofx"), currency="GBP")


def test_a_file_cut_short_is_refused() -> None:
    content = bank_file("statement-sgml.ofx")
    cut = content[: content.index(b"<LEDGERBAL>")]
    with pytest.raises(StatementRejected, match=r"the file ends inside <OFX> \(is it cut short\?\)"):
        parse_ofx(cut, currency="GBP")


def test_an_unreadable_file_is_refused_by_the_import_and_nothing_is_saved(bank_account: BankAccount) -> None:
    with pytest.raises(StatementRejected, match="cannot be read"):
        import_statement(bank_account, bank_file("statement-sgml-misnested.ofx"), filename="bad.ofx")
    assert not BankStatement.objects.exists() and not BankLine.objects.exists()
