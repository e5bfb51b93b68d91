"""A PayPal capture's fee and net, and a PayPal transfer to the bank, meet a bank statement line in
the reconciliation: the back-fill books the transfer as a payout whose items carry each capture's
gross, fee and net, and the daily check pairs it with the deposit on the imported statement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.sandbox.paypal import PayPalSandbox
from integrator.choices import TransactionStatus
from integrator.models import JournalEntry, LedgerAccount, MappingSet, Transaction
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from integrator.services.sync import sync_channel
from reconciliation.choices import ExceptionKind, ExceptionStatus
from reconciliation.models import Match, ReconciliationException
from reconciliation.services.runs import run_reconciliation
from reconciliation.services.statements import create_bank_account, import_statement
from tests.conftest import standard_rules
from tests.fixtures import paypal as fx

D = Decimal
TRANSFER_AT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[PayPalSandbox]:
    """The fixtures' month, then the lost chargeback (45.00 reversed, 14.00 fee) and a transfer of
    everything the GBP balance holds."""
    with PayPalSandbox() as server:
        fx.seed(server)
        reversal_at = datetime(2026, 11, 24, 9, 29, 58, tzinfo=UTC)
        server.book.refund("09E06853GF2543318", fx.LOST_CAPTURE_ID, reversal_at, "GBP", D("45.00"), D("0"),
                           code="T1106")  # fmt: skip
        server.book.fee(reversal_at, "GBP", D("14.00"), "T0106", fx.LOST_CAPTURE_ID)
        server.transfer_to_bank("GBP", TRANSFER_AT)
        yield server


def test_paypal_fees_and_transfer_match_the_bank_statement(
    ledger: Any, sandbox: PayPalSandbox, django_capture_on_commit_callbacks: Any
) -> None:
    channel = create_channel(
        platform="paypal", name="PayPal UK", slug="paypal-gb", currency="GBP", ledger_connection=ledger,
        base_url=sandbox.url, credentials=fx.credentials(sandbox), settings=fx.channel_settings(sandbox),
        timezone="Europe/London",
    )  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=standard_rules(ledger)))
    with django_capture_on_commit_callbacks(execute=True):
        sync_channel(channel, datetime(2026, 11, 9, tzinfo=UTC))

    payout = Transaction.objects.get(kind="payout")
    # By hand: 43.39 + 60.39 + 104.81 + 193.90 + 82.63 - 29.13 - 45.00 - 14.00 = 396.99
    assert (payout.total, payout.currency, payout.status) == (D("396.99"), "GBP", TransactionStatus.POSTED)
    items = {i["source_id"]: i for i in payout.document["items"]}
    order_capture = items[fx.CAPTURE_ID]
    assert (order_capture["amount"], order_capture["fee"], order_capture["net"]) == (
        "108.25",
        "3.44",
        "104.81",
    )
    assert (items[fx.LOST_CAPTURE_ID]["type"], items[fx.LOST_CAPTURE_ID]["net"]) == ("charge", "43.39")
    assert {i["type"] for i in payout.document["items"]} >= {"charge", "refund", "dispute_reversal", "fee"}
    fees = D("1.61") + D("2.11") + D("3.44") + D("6.10") + D("2.78") - D("0.87") + D("14.00")
    gross = D("45.00") + D("62.50") + D("108.25") + D("200.00") + D("85.41") - D("30.00") - D("45.00")
    assert gross - fees == D("396.99")
    entry = JournalEntry.objects.get(transaction=payout)
    net_debit: dict[str, Decimal] = {}
    euro_cleared = D(0)
    for ln in entry.lines.select_related("account"):
        net_debit[ln.account.code] = (
            net_debit.get(ln.account.code, D(0)) + ln.functional_debit - ln.functional_credit
        )
        if ln.currency == "EUR":
            euro_cleared += ln.credit - ln.debit
    # Dr bank the deposit, Dr fees, Cr PayPal clearing the gross it had been debited with (in GBP,
    # the books' currency); the EUR capture leaves clearing in euros, at the 85.41 it was booked at.
    assert net_debit == {"1000": D("396.99"), "6100": fees, "1100": -gross}
    assert euro_cleared == D("100.00")

    # The lost chargeback is one dispute, booked once: 45.00 to adjustments out of PayPal clearing.
    dispute = Transaction.objects.get(kind="dispute", external_id=fx.LOST_CAPTURE_ID)
    assert (dispute.total, dispute.document["status"]) == (D("45.00"), "lost")

    bank = create_bank_account(
        name="NatWest current", connection=ledger, ledger_account=LedgerAccount.objects.get(connection=ledger, code="1000"),
        currency="GBP",
    )  # fmt: skip
    import_statement(bank, (fx.FIXTURES_DIR / "bank_statement_gbp.csv").read_bytes(), filename="natwest.csv")
    run_reconciliation(start=date(2026, 11, 24), end=date(2026, 11, 27))
    match = Match.objects.get(payout=payout)
    assert (match.bank_line.amount, match.bank_line.date, match.day_difference) == (
        D("396.99"),
        date(2026, 11, 26),
        1,
    )
    open_kinds = set(
        ReconciliationException.objects.filter(status=ExceptionStatus.OPEN).values_list("kind", flat=True)
    )
    assert ExceptionKind.PAYOUT_NOT_DEPOSITED not in open_kinds
