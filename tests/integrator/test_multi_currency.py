"""Multi-currency books (issue 11): worked examples, each equal to a hand calculation written here,
through the webhook endpoint and the services a user's actions call.

Rates used (the ECB's reference rates are euro-based; XOF is pegged at 655.957 per EUR):
EUR->GBP 0.8541 and EUR->USD 1.0563 every business day unless a test imports others.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrator.choices import EntryKind, PostingMode, TransactionStatus
from integrator.models import BookLine, JournalEntry, JournalLine, Transaction
from integrator.services import books
from integrator.services.closing import close_day
from integrator.services.rates import import_reference_rates, record_rate
from integrator.services.revaluation import revalue
from tests.conftest import add_fx_accounts, make_channel, reference_rates_xml, sale_event

D = Decimal
PENNY = D("0.01")


def rate_file(day: date, **rates: str) -> bytes:
    """An ECB file with one day's rates."""
    return reference_rates_xml(day, 1, **rates)


def functional_by_account(entry: JournalEntry) -> dict[str, Decimal]:
    """Functional debit minus credit per account code of an entry."""
    out: dict[str, Decimal] = {}
    for ln in entry.lines.select_related("account"):
        out[ln.account.code] = out.get(ln.account.code, D(0)) + ln.functional_debit - ln.functional_credit
    return out


def balanced_both_ways(entry: JournalEntry) -> bool:
    """Functional debits equal credits; and, for a one-currency entry, its own amounts too."""
    lines = list(entry.lines.all())
    functional = sum((ln.functional_debit - ln.functional_credit for ln in lines), D(0)) == 0
    currencies = {ln.currency for ln in lines}
    native = len(currencies) > 1 or sum((ln.debit - ln.credit for ln in lines), D(0)) == 0
    return functional and native


# --------------------------------------------------------------------------------------------
# A day of XOF tickets in GBP books
# --------------------------------------------------------------------------------------------


def ticket(number: str, total: int, tax: int) -> dict[str, Any]:
    """A Dakar till ticket, TVA 18 % included, paid in cash."""
    line = {"sku": "KENTE-STOLE", "name": "Kente stole", "category": "textiles", "quantity": 1, "unit_price": str(total),
            "taxes": [{"title": "TVA 18%", "rate": "0.18", "amount": str(tax)}]}  # fmt: skip
    return sale_event(number, currency="XOF", inclusive=True, lines=[line], total=str(total),
                      occurred_at="2026-11-20T11:00:00+00:00", tenders=[{"method": "cash", "amount": str(total)}])  # fmt: skip


def test_a_dakar_day_of_xof_tickets_in_gbp_books(ledger: Any, post_event: Any, reference_rates: Any) -> None:
    """XOF -> GBP = the peg (655.957 XOF per EUR) and that day's EUR->GBP reference rate (0.8541):
    1 XOF = 0.8541 / 655.957 = 0.001302067056 GBP. Each ticket's lines convert and round to the
    penny; a rounding penny goes to the ticket's revenue, never to its cash:

    ========  ======  =======  =====  ======  =======  =====
    ticket    cash    revenue  TVA    cash    revenue  TVA
              XOF     XOF      XOF    GBP     GBP      GBP
    ========  ======  =======  =====  ======  =======  =====
    DK-1      95,000  80,508   14,492 123.70  104.83   18.87
    DK-2      12,500  10,593    1,907  16.28   13.80    2.48   (13.79 + the rounding penny)
    DK-3      35,000  29,661    5,339  45.57   38.62    6.95
    day      142,500 120,762   21,738 185.55  157.25   28.30
    ========  ======  =======  =====  ======  =======  =====
    """
    channel = make_channel(ledger, slug="dakar", currency="XOF", mode=PostingMode.DAILY_SUMMARY)
    for number, total, tax in (("DK-1", 95000, 14492), ("DK-2", 12500, 1907), ("DK-3", 35000, 5339)):
        assert post_event("dakar", ticket(number, total, tax)).status_code == 202
    entries = JournalEntry.objects.filter(channel=channel, kind=EntryKind.TRANSACTION)
    assert {e.rate_source for e in entries} == {"reference"}
    assert {e.exchange_rate for e in entries} == {D("0.001302067056")}
    assert all("655.957" in e.rate_provider for e in entries)
    (summary,) = close_day(channel, date(2026, 11, 20))
    assert balanced_both_ways(summary)
    got = functional_by_account(summary)
    assert got == {"1110": D("185.55"), "4000": D("-157.25"), "2100": D("-28.30")}
    native = {ln.account.code: ln.debit - ln.credit for ln in summary.lines.select_related("account")}
    assert native == {"1110": D("142500"), "4000": D("-120762"), "2100": D("-21738")}


# --------------------------------------------------------------------------------------------
# A EUR charge settled in a GBP payout at Stripe's rate: realised FX
# --------------------------------------------------------------------------------------------


def test_a_eur_card_sale_settled_in_a_gbp_payout_books_the_realised_difference(
    ledger: Any, post_event: Any, reference_rates: Any
) -> None:
    """A euro shop's €100.00 card sale (VAT 20 % included) on 20 November is booked at that
    day's reference rate, 0.8541: clearing €100.00 = £85.41, revenue €83.33 = £71.17, VAT €16.67 =
    £14.24. Stripe pays it out in pounds on 27 November at its own rate, 0.8534: £85.34 less a
    £1.64 fee, £83.70 to the bank. Clearing is relieved at what it was booked at (€100.00 =
    £85.41), so 85.41 - 85.34 = £0.07 is a realised exchange loss, and clearing is zero in both."""
    add_fx_accounts(ledger)
    make_channel(ledger, slug="eu-shop", currency="EUR")
    line = {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "100.00",
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "16.67"}]}  # fmt: skip
    sale = sale_event("EU-1", currency="EUR", inclusive=True, lines=[line], total="100.00",
                      tenders=[{"method": "card", "gateway": "stripe", "amount": "100.00", "reference": "ch_eu_1"}])  # fmt: skip
    assert post_event("eu-shop", sale).status_code == 202
    entry = JournalEntry.objects.get(transaction__external_id="EU-1")
    assert functional_by_account(entry) == {"1100": D("85.41"), "4000": D("-71.17"), "2100": D("-14.24")}
    payout = {"id": "evt-po-eu-1", "type": "payout.paid", "created_at": "2026-11-27T06:00:00+00:00", "data": {
        "id": "po_eu_1", "occurred_at": "2026-11-27T06:00:00+00:00", "currency": "GBP", "amount": "83.70",
        "exchange_rates": [{"base": "EUR", "quote": "GBP", "rate": "0.8534"}],
        "items": [{"type": "charge", "amount": "85.34", "fee": "1.64", "net": "83.70", "source_id": "ch_eu_1"}]}}  # fmt: skip
    assert post_event("eu-shop", payout).status_code == 202
    settled = JournalEntry.objects.get(transaction__external_id="po_eu_1")
    assert balanced_both_ways(settled)
    assert functional_by_account(settled) == {
        "1000": D("83.70"),
        "6100": D("1.64"),
        "1100": D("-85.41"),
        "7100": D("0.07"),
    }
    clearing = JournalLine.objects.filter(account__code="1100")
    assert sum((ln.debit - ln.credit for ln in clearing if ln.currency == "EUR"), D(0)) == 0
    assert sum((ln.functional_debit - ln.functional_credit for ln in clearing), D(0)) == 0


# --------------------------------------------------------------------------------------------
# An NGN Shopify order in a shop whose currency is GBP
# --------------------------------------------------------------------------------------------


def test_an_ngn_shopify_order_in_a_gbp_shop_is_booked_in_pounds_at_shopifys_rate(ledger: Any) -> None:
    """The customer paid ₦123,500.00; Shopify's shop money says £60.00 (a rate of 60 / 123,500 =
    0.000485829960 GBP per NGN, which the document states). The books, in pounds, take Shopify's
    figures: revenue £50.00, VAT £10.00, clearing £60.00 — and keep the naira as presentment."""
    from connectors.sources.shopify.orders import parse_order
    from integrator.services.pipeline import advance_transaction
    from integrator.services.transactions import upsert_transaction

    def money_set(shop: str, presentment: str) -> dict[str, Any]:
        return {"shop_money": {"amount": shop, "currency_code": "GBP"},
                "presentment_money": {"amount": presentment, "currency_code": "NGN"}}  # fmt: skip

    order = {
        "id": 820982911946154508, "name": "#1042", "currency": "GBP", "presentment_currency": "NGN",
        "financial_status": "paid", "taxes_included": True, "processed_at": "2026-11-20T10:00:00+00:00",
        "total_price": "60.00", "total_price_set": money_set("60.00", "123500.00"),
        "total_tax": "10.00", "total_tax_set": money_set("10.00", "20583.33"),
        "total_discounts": "0.00", "total_discounts_set": money_set("0.00", "0.00"),
        "line_items": [{"id": 1, "sku": "KENTE-12", "title": "Kente", "quantity": 1, "price": "60.00",
                        "price_set": money_set("60.00", "123500.00"), "total_discount": "0.00",
                        "discount_allocations": [],
                        "tax_lines": [{"title": "VAT", "rate": 0.2, "price": "10.00", "price_set": money_set("10.00", "20583.33")}]}],
        "shipping_lines": [], "discount_applications": [], "refunds": [],
        "transactions": [{"kind": "sale", "status": "success", "gateway": "shopify_payments", "amount": "123500.00",
                          "currency": "NGN"}],
    }  # fmt: skip
    (sale,) = parse_order(order)
    assert (sale.currency, sale.total, sale.presentment_currency, sale.presentment_total) == (
        "GBP",
        D("60.00"),
        "NGN",
        D("123500.00"),
    )
    (stated,) = sale.exchange_rates
    assert (stated.base, stated.quote, stated.rate) == ("NGN", "GBP", D("0.000485829960"))
    assert (D("123500.00") * stated.rate).quantize(PENNY) == D("60.00")
    channel = make_channel(ledger, slug="shop-gb", currency="GBP")
    from django.db import transaction

    with transaction.atomic():
        txn = upsert_transaction(channel, sale, None).transaction
    txn = advance_transaction(txn.pk)
    entry = JournalEntry.objects.get(transaction=txn)
    assert (entry.currency, entry.rate_source, entry.exchange_rate) == ("GBP", "identity", D(1))
    got = functional_by_account(entry)
    assert got["1100"] == D("60.00") and got["2100"] == D("-10.00") and sum(got.values()) == 0


# --------------------------------------------------------------------------------------------
# Month-end revaluation of an open USD receivable, and its reversal
# --------------------------------------------------------------------------------------------


def test_month_end_revaluation_of_an_open_usd_receivable_and_its_reversal(
    ledger: Any, post_event: Any
) -> None:
    """A $1,200.00 invoice (zero-rated export) of 10 November, unpaid at 30 November.

    10 Nov: 1 USD = 0.8541 / 1.0563 = 0.808577108776 GBP: receivable £970.29.
    30 Nov: 1 USD = 0.8541 / 1.0400 = 0.821250000000 GBP: worth £985.50.
    Revaluation on 30 Nov: Dr receivable £15.21, Cr unrealised FX £15.21; reversed on 1 Dec.
    """
    import_reference_rates(rate_file(date(2026, 11, 10), GBP="0.8541", USD="1.0563"))
    import_reference_rates(rate_file(date(2026, 11, 30), GBP="0.8541", USD="1.0400"))
    add_fx_accounts(ledger)
    channel = make_channel(ledger, slug="export", currency="USD")
    line = {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 10, "unit_price": "120.00",
            "taxes": [{"title": "VAT 0%", "rate": "0", "amount": "0.00"}]}  # fmt: skip
    invoice = {"id": "evt-inv-us", "type": "invoice.issued", "created_at": "2026-11-10T10:00:00+00:00", "data": {
        "id": "INV-US-1", "number": "INV-US-1", "occurred_at": "2026-11-10T10:00:00+00:00", "currency": "USD",
        "total": "1200.00", "lines": [line], "customer": {"id": "C-NYC", "name": "Harlem Textiles Inc"},
        "due_date": "2026-12-10"}}  # fmt: skip
    assert post_event("export", invoice).status_code == 202
    booked = JournalEntry.objects.get(transaction__external_id="INV-US-1")
    assert booked.exchange_rate == D("0.808577108776")
    assert functional_by_account(booked)["1200"] == D("970.29")
    made = revalue(channel, date(2026, 11, 30))
    assert made.entry is not None and made.reversal is not None
    assert functional_by_account(made.entry) == {"1200": D("15.21"), "7110": D("-15.21")}
    assert (made.reversal.date, made.reversal.reverses) == (date(2026, 12, 1), made.entry)
    assert functional_by_account(made.reversal) == {"1200": D("-15.21"), "7110": D("15.21")}
    assert revalue(channel, date(2026, 11, 30)).entry is None  # idempotent
    # The built-in ledger's trial balance at 30 Nov shows the receivable at its month-end value.
    from integrator.services.posting import run_outbox

    run_outbox()
    tb = {r.code: r for r in books.trial_balance(ledger, as_of=date(2026, 11, 30))}
    assert tb["1200"].balance == D("985.50") and tb["1200"].foreign_balances == {"USD": D("1200.00")}
    assert {r.code: r.balance for r in books.trial_balance(ledger, as_of=date(2026, 12, 1))}["1200"] == D(
        "970.29"
    )


def test_revalue_command_reports_what_it_made(ledger: Any, post_event: Any) -> None:
    import_reference_rates(rate_file(date(2026, 11, 10), GBP="0.8541", USD="1.0563"))
    import_reference_rates(rate_file(date(2026, 11, 30), GBP="0.8541", USD="1.0400"))
    add_fx_accounts(ledger)
    make_channel(ledger, slug="export", currency="USD")
    invoice = sale_event("US-1", currency="USD", total="144.00", occurred_at="2026-11-10T10:00:00+00:00",
                         tenders=[])  # fmt: skip
    post_event("export", invoice)
    out = io.StringIO()
    call_command("revalue", "--date", "2026-11-30", stdout=out)
    assert "export/revaluation/2026-11-30" in out.getvalue()


# --------------------------------------------------------------------------------------------
# No rate: held, then released
# --------------------------------------------------------------------------------------------


def test_a_missing_rate_holds_the_sale_with_its_reason_and_importing_the_rate_releases_it(
    ledger: Any, post_event: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_channel(ledger, slug="dakar", currency="XOF")
    post_event("dakar", ticket("DK-9", 12500, 1907))
    txn = Transaction.objects.get()
    assert txn.status == TransactionStatus.NEEDS_RATE
    assert (
        "no XOF/GBP rate" in txn.status_reasons[0] and "import the reference rates" in txn.status_reasons[0]
    )
    assert not JournalEntry.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        import_reference_rates(rate_file(date(2026, 11, 20), GBP="0.8541"))
    txn.refresh_from_db()
    assert txn.status == TransactionStatus.POSTED
    assert JournalEntry.objects.get().rate_source == "reference"


def test_a_manual_rate_is_audited_and_releases_held_sales(
    ledger: Any, post_event: Any, users: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from integrator.models import AuditEvent

    make_channel(ledger, slug="zar", currency="ZAR")
    post_event("zar", sale_event("ZA-1", currency="ZAR", total="144.00"))
    assert Transaction.objects.get().status == TransactionStatus.NEEDS_RATE
    with django_capture_on_commit_callbacks(execute=True):
        record_rate("ZAR", "GBP", date(2026, 11, 20), D("0.0431"), source="manual", actor=users["finance_manager"],
                    note="Bank's rate on the day")  # fmt: skip
    assert Transaction.objects.get().status == TransactionStatus.POSTED
    entry = JournalEntry.objects.get()
    assert (entry.rate_source, entry.exchange_rate) == ("manual", D("0.043100000000"))
    assert AuditEvent.objects.filter(action="rate.entered").exists()


def test_an_order_in_another_currency_than_its_channel_needs_the_sources_rate(
    ledger: Any, post_event: Any, reference_rates: Any
) -> None:
    """An HKD order on a USD channel: converted by the rate the shop states, else held."""
    make_channel(ledger, slug="us-shop", currency="USD")
    post_event("us-shop", sale_event("HK-1", currency="HKD", total="144.00"))
    held = Transaction.objects.get(external_id="HK-1")
    assert held.status == TransactionStatus.NEEDS_RATE
    assert "channel sells in USD" in held.status_reasons[0]
    stated = sale_event(
        "HK-2",
        currency="HKD",
        total="144.00",
        exchange_rates=[{"base": "HKD", "quote": "USD", "rate": "0.1284"}],
    )
    post_event("us-shop", stated)
    entry = JournalEntry.objects.get(transaction__external_id="HK-2")
    # HKD -> USD 0.1284 (the shop's) x USD -> GBP 0.8541 / 1.0563 (reference) = 0.103821281833
    assert entry.exchange_rate == (
        D("0.1284") * (D("0.8541") / D("1.0563")).quantize(D("0.000000000001"))
    ).quantize(D("0.000000000001"))
    assert entry.rate_source == "source"


# --------------------------------------------------------------------------------------------
# Property: any sequence balances in both currencies and settled clearing is zero in both
# --------------------------------------------------------------------------------------------

amounts = st.decimals(min_value=D("1.00"), max_value=D("900.00"), places=2)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sales=st.lists(
        st.tuples(amounts, st.sampled_from(["0.8490", "0.8541", "0.8602"]), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    payout_rate=st.sampled_from(["0.8455", "0.8534", "0.8700"]),
)
def test_any_sequence_of_foreign_sales_refunds_and_a_payout_balances_and_clears_in_both(
    ledger: Any, post_event: Any, sales: list[tuple[Decimal, str, bool]], payout_rate: str
) -> None:
    """EUR sales (each at its own stated rate), some refunded in full, then one GBP payout at
    another rate settling every item: every entry balances in EUR and in GBP, and the clearing
    account is zero in both currencies afterwards (the difference is realised FX)."""
    add_fx_accounts(ledger)
    from integrator.models import Channel

    slug = f"eu-{Channel.objects.count()}"  # a fresh channel per example: nothing shared between them
    channel = make_channel(ledger, slug=slug, currency="EUR")
    items = []
    for n, (amount, rate, refunded) in enumerate(sales):
        net = (amount / D("1.2")).quantize(PENNY)
        line = {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": str(amount),
                "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": str(amount - net)}]}  # fmt: skip
        sale = sale_event(f"P{n}", currency="EUR", inclusive=True, lines=[line], total=str(amount),
                          exchange_rates=[{"base": "EUR", "quote": "GBP", "rate": rate}],
                          tenders=[{"method": "card", "amount": str(amount), "reference": f"ch_{n}"}])  # fmt: skip
        post_event(slug, sale)
        items.append({"type": "charge", "amount": str((amount * D(payout_rate)).quantize(PENNY)), "fee": "0",
                      "net": str((amount * D(payout_rate)).quantize(PENNY)), "source_id": f"ch_{n}"})  # fmt: skip
        if refunded:
            refund = {"id": f"evt-R{n}", "type": "refund.completed", "created_at": "2026-11-21T10:00:00+00:00", "data": {
                "id": f"R{n}", "sale_id": f"P{n}", "occurred_at": "2026-11-21T10:00:00+00:00", "currency": "EUR",
                "prices_include_tax": True, "total": str(amount), "lines": [line],
                "exchange_rates": [{"base": "EUR", "quote": "GBP", "rate": rate}],
                "tenders": [{"method": "card", "amount": str(amount), "reference": f"re_{n}"}]}}  # fmt: skip
            post_event(slug, refund)
            value = (amount * D(payout_rate)).quantize(PENNY)
            items.append(
                {
                    "type": "refund",
                    "amount": str(-value),
                    "fee": "0",
                    "net": str(-value),
                    "source_id": f"R{n}",
                }
            )
    net_total = sum((D(i["net"]) for i in items), D(0))
    payout = {"id": "evt-po", "type": "payout.paid", "created_at": "2026-11-27T06:00:00+00:00", "data": {
        "id": "po-1", "occurred_at": "2026-11-27T06:00:00+00:00", "currency": "GBP", "amount": str(net_total),
        "exchange_rates": [{"base": "EUR", "quote": "GBP", "rate": payout_rate}], "items": items}}  # fmt: skip
    post_event(slug, payout)
    assert not Transaction.objects.filter(channel=channel).exclude(status=TransactionStatus.POSTED).exists()
    for entry in JournalEntry.objects.filter(channel=channel):
        assert balanced_both_ways(entry), entry.reference
    clearing = list(JournalLine.objects.filter(entry__channel=channel, account__code="1100"))
    assert sum((ln.debit - ln.credit for ln in clearing if ln.currency == "EUR"), D(0)) == 0
    assert sum((ln.functional_debit - ln.functional_credit for ln in clearing), D(0)) == 0
    books_lines = BookLine.objects.filter(entry__reference__startswith=f"{slug}/", account_code="1100")
    assert sum((b.functional_debit - b.functional_credit for b in books_lines), D(0)) == 0


pytestmark = pytest.mark.django_db
