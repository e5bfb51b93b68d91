"""Cash and mobile-money takings stay in the reconciliation until a bank or wallet statement shows
them: a till's day (cash with a short drawer count, M-Pesa) goes through the real pipeline, the
statements are imported as files, and the daily run opens and then clears the exceptions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from integrator.canonical import CashCount, LineItem, Refund, Sale, TaxLine, Tender
from integrator.choices import RuleKind, TransactionStatus
from integrator.models import LedgerAccount, MappingSet, Transaction
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import advance_transaction
from integrator.services.posting import run_outbox
from integrator.services.transactions import upsert_transaction
from reconciliation.choices import ExceptionKind, ExceptionStatus
from reconciliation.models import BankAccount, ClearingMatch, ReconciliationException
from reconciliation.services.runs import run_reconciliation
from reconciliation.services.statements import create_bank_account, import_statement
from tests.conftest import make_channel, standard_rules

DAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _till(ledger: Any) -> Any:
    channel = make_channel(ledger, slug="dakar-till", mapped=False)
    for code, name, kind in [
        ("6300", "Cash over/short", "expense"),
        ("1050", "Safe", "asset"),
        ("1120", "M-Pesa clearing", "asset"),
    ]:
        LedgerAccount.objects.create(connection=ledger, code=code, name=name, type=kind)
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=ledger)}
    rules = [
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "mpesa", "account": a["1120"]},
        *standard_rules(ledger),
        {"kind": RuleKind.CASH_OVER_SHORT, "match_field": "default", "match_value": "", "account": a["6300"]},
        {"kind": RuleKind.CASH_FLOAT, "match_field": "default", "match_value": "", "account": a["1050"]},
    ]  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=rules))
    return channel


def _book(channel: Any, doc: Any) -> Transaction:
    with transaction.atomic():
        txn = upsert_transaction(channel, doc, None).transaction
    advance_transaction(txn.pk)
    run_outbox()  # the worker's outbox pass: the entry reaches the built-in ledger
    txn.refresh_from_db()
    return txn


def _ticket(ref: str, amount: str, tenders: list[tuple[str, str]]) -> Sale:
    value = Decimal(amount)
    line = LineItem(line_id="1", sku="KENTE-12", name="Kente", quantity=Decimal(1), unit_price=value,
                    category="textiles", tax_lines=(TaxLine("VAT 20%", Decimal("0.20"), (value / 6).quantize(Decimal("0.01"))),))  # fmt: skip
    return Sale(external_id=ref, occurred_at=AT, currency="GBP", total=value, lines=(line,), prices_include_tax=True,
                tenders=tuple(Tender(m, Decimal(a)) for m, a in tenders), location="Market", register="R1")  # fmt: skip


def _statement(account: BankAccount, name: str, rows: list[tuple[str, str, str]]) -> None:
    body = "date,amount,currency,description,reference,counterparty\n" + "".join(
        f"{d},{amt},GBP,{what},,\n" for d, amt, what in rows
    )
    import_statement(account, body.encode(), filename=name)


def _open(kind: str) -> list[ReconciliationException]:
    return list(
        ReconciliationException.objects.filter(kind=kind, status=ExceptionStatus.OPEN).order_by("key")
    )


def test_cash_and_mpesa_takings_stay_open_until_statements_show_them(ledger: Any) -> None:
    channel = _till(ledger)
    _book(channel, _ticket("T-1", "120.00", [("cash", "80.00"), ("mpesa", "40.00")]))
    _book(channel, _ticket("T-2", "30.00", [("cash", "30.00")]))
    _book(channel, _ticket("T-3", "18.00", [("mpesa", "18.00")]))
    refund = Refund(external_id="R-1", sale_external_id="T-2", occurred_at=AT, currency="GBP", total=Decimal("6.00"),
                    adjustment=Decimal("6.00"), tenders=(Tender("cash", Decimal("6.00")),), register="R1")  # fmt: skip
    assert _book(channel, refund).status == TransactionStatus.POSTED
    count = CashCount(external_id="Z-20", occurred_at=AT, currency="GBP", expected=Decimal("104.00"),
                      counted=Decimal("101.50"), register="R1", location="Market", number="Z-20")  # fmt: skip
    assert _book(channel, count).status == TransactionStatus.POSTED
    bank = create_bank_account(name="Barclays", connection=ledger, currency="GBP",
                               ledger_account=LedgerAccount.objects.get(connection=ledger, code="1000"))  # fmt: skip
    wallet = create_bank_account(name="M-Pesa till wallet", connection=ledger, currency="GBP",
                                 ledger_account=LedgerAccount.objects.get(connection=ledger, code="1120"))  # fmt: skip

    run_reconciliation(DAY)
    # Cash: 80.00 + 30.00 - 6.00 refunded = 104.00 taken, the drawer counted 2.50 short: 101.50 to bank.
    # M-Pesa: 40.00 + 18.00 = 58.00 to come on the wallet statement.
    cash, mpesa = _open(ExceptionKind.CLEARING_UNMATCHED)
    assert (cash.amount, mpesa.amount) == (Decimal("101.50"), Decimal("58.00"))
    assert (
        "Cash takings of Channel dakar-till on 2026-11-20: 101.50 GBP (the drawer counts were short by 2.50 GBP)"
        in cash.explanation
    )
    assert "M-Pesa takings" in mpesa.explanation and "bank or wallet statement" in mpesa.explanation
    (short,) = _open(ExceptionKind.CASH_OVER_SHORT)
    assert (short.amount, short.transaction.external_id) == (Decimal("-2.50"), "Z-20")
    assert "register R1" in short.explanation and "short by 2.50 GBP" in short.explanation

    # The bank shows the cash two days later (and an unrelated deposit of another amount).
    _statement(
        bank,
        "barclays.csv",
        [("2026-11-22", "101.50", "CASH DEPOSIT MARKET"), ("2026-11-22", "55.00", "TRANSFER")],
    )
    run = run_reconciliation(DAY)
    assert [e.amount for e in _open(ExceptionKind.CLEARING_UNMATCHED)] == [
        Decimal("58.00")
    ]  # M-Pesa still open
    assert _open(ExceptionKind.CASH_OVER_SHORT) == []
    cleared = ReconciliationException.objects.get(pk=short.pk)
    assert cleared.status == ExceptionStatus.RESOLVED and cleared.auto_resolved
    assert ClearingMatch.objects.get(method="cash").bank_line.amount == Decimal("101.50")
    assert run.matches_made == 1
    # The cash deposit is no "deposit without payout"; a deposit of another amount still is.
    run_reconciliation(date(2026, 11, 22))
    assert [e.amount for e in _open(ExceptionKind.DEPOSIT_WITHOUT_PAYOUT)] == [Decimal("55.00")]

    # The wallet statement (another account, CSV) shows the M-Pesa sweep the next day.
    _statement(wallet, "mpesa.csv", [("2026-11-21", "58.00", "Till sweep")])
    run_reconciliation(DAY)
    assert _open(ExceptionKind.CLEARING_UNMATCHED) == []
    assert set(ClearingMatch.objects.values_list("method", "amount")) == {
        ("cash", Decimal("101.50")),
        ("mpesa", Decimal("58.00")),
    }
    again = run_reconciliation(DAY)  # idempotent: nothing new, nothing matched twice
    assert again.matches_made == 0 and ClearingMatch.objects.count() == 2


def test_a_deposit_outside_the_window_or_of_another_amount_does_not_clear_the_takings(ledger: Any) -> None:
    channel = _till(ledger)
    _book(channel, _ticket("T-9", "50.00", [("cash", "50.00")]))
    bank = create_bank_account(name="Barclays", connection=ledger, currency="GBP",
                               ledger_account=LedgerAccount.objects.get(connection=ledger, code="1000"))  # fmt: skip
    _statement(bank, "late.csv", [("2026-11-27", "50.00", "CASH"), ("2026-11-21", "49.99", "CASH")])
    run_reconciliation(DAY)
    (open_cash,) = _open(ExceptionKind.CLEARING_UNMATCHED)
    assert open_cash.amount == Decimal("50.00") and not ClearingMatch.objects.exists()
    # A later day's run still looks back at it: the takings stay open while unmatched.
    run_reconciliation(date(2026, 11, 29))
    assert ReconciliationException.objects.get(pk=open_cash.pk).status == ExceptionStatus.OPEN


def test_card_takings_are_left_to_the_payout_check(ledger: Any) -> None:
    channel = _till(ledger)
    _book(channel, _ticket("T-5", "25.00", [("card", "25.00")]))
    run_reconciliation(DAY)
    assert _open(ExceptionKind.CLEARING_UNMATCHED) == []
