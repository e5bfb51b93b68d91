"""normalize -> validate -> journal -> post, through the webhook endpoint, with worked examples."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from integrator.choices import EntryKind, PostingMode, PostingState, TransactionStatus
from integrator.models import BookEntry, JournalEntry, JournalLine, MappingSet, Posting, Transaction
from integrator.services.closing import close_day
from integrator.services.mappings import activate_version, create_version
from integrator.services.posting import run_outbox
from tests.conftest import make_channel, sale_event, standard_rules


def lines_of(entry: JournalEntry) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(ln.account.code, ln.role, ln.debit, ln.credit) for ln in entry.lines.select_related("account")]


def balanced(entry: JournalEntry) -> bool:
    rows = list(entry.lines.all())
    return sum(r.debit for r in rows) == sum(r.credit for r in rows) and all(
        (r.debit > 0) != (r.credit > 0) for r in rows
    )


def test_inclusive_sale_with_discount_shipping_and_two_rates(channel: Any, post_event: Any) -> None:
    """Worked example 1 (docs/accounting-model.md): VAT-inclusive prices, a 10 % code, zero-rated food."""
    lines = [
        {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 2, "unit_price": "60.00", "discount": "12.00",
         "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "18.00"}]},
        {"sku": "COFFEE", "name": "Coffee", "category": "food", "quantity": 1, "unit_price": "14.00", "discount": "1.40",
         "taxes": [{"title": "VAT 0%", "rate": "0", "amount": "0.00"}]},
    ]  # fmt: skip
    shipping = [
        {
            "title": "Tracked",
            "amount": "4.95",
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "0.83"}],
        }
    ]
    event = sale_event("S-10", inclusive=True, lines=lines, shipping=shipping, total="125.55",
                       discounts=[{"code": "AKWAABA10", "amount": "13.40"}])  # fmt: skip
    assert post_event("till", event).status_code == 202
    entry = JournalEntry.objects.get()
    assert balanced(entry)
    got = lines_of(entry)
    # 108.00 incl. 18.00 VAT -> 90.00 net; discount 12.00 incl. VAT -> 10.00 ex VAT to contra-revenue.
    assert ("4000", "revenue", Decimal("0"), Decimal("100.00")) in got
    assert ("4200", "discount", Decimal("10.00"), Decimal("0")) in got
    assert ("4010", "revenue", Decimal("0"), Decimal("14.00")) in got  # default revenue rule for food
    assert ("4200", "discount", Decimal("1.40"), Decimal("0")) in got
    assert ("4100", "shipping", Decimal("0"), Decimal("4.12")) in got
    assert ("1100", "clearing", Decimal("125.55"), Decimal("0")) in got
    tax = sum(c for code, role, d, c in got if role == "tax")
    assert tax == Decimal("18.83")
    assert Transaction.objects.get().status == TransactionStatus.POSTED


def test_rounding_difference_goes_to_the_rounding_account(channel: Any, post_event: Any) -> None:
    """Three lines each rounded on their own differ by a penny from the till's document total."""
    line = {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "0.33",
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "0.07"}]}  # fmt: skip
    event = sale_event(
        "S-11", lines=[line, line, line], total="1.19"
    )  # 0.99 + 0.21 = 1.20 per line; till says 1.19
    assert post_event("till", event).status_code == 202
    entry = JournalEntry.objects.get()
    assert ("6900", "rounding", Decimal("0.01"), Decimal("0")) in lines_of(entry)
    assert balanced(entry)


def test_totals_that_do_not_add_up_are_invalid_with_a_reason(channel: Any, post_event: Any) -> None:
    post_event("till", sale_event("S-12", total="150.00"))
    txn = Transaction.objects.get()
    assert txn.status == TransactionStatus.INVALID
    assert "totals do not add up" in txn.status_reasons[0] and "144.00" in txn.status_reasons[0]
    assert JournalEntry.objects.count() == 0


def test_zero_decimal_currency_sale_is_exact(ledger: Any, post_event: Any, reference_rates: Any) -> None:
    make_channel(ledger, slug="dakar", currency="XOF")
    line = {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 3, "unit_price": "12500",
            "taxes": [{"title": "VAT 20%", "rate": "0.18", "amount": "5720"}]}  # fmt: skip
    post_event("dakar", sale_event("D-1", currency="XOF", inclusive=True, lines=[line], total="37500"))
    entry = JournalEntry.objects.get()
    assert entry.currency == "XOF" and balanced(entry)
    for ln in entry.lines.all():
        assert ln.debit == ln.debit.to_integral_value() and ln.credit == ln.credit.to_integral_value()
    assert ("4000", "revenue", Decimal("0"), Decimal("31780")) in lines_of(entry)


def test_partial_refund_links_to_its_sale_and_mirrors_the_journal(channel: Any, post_event: Any) -> None:
    post_event("till", sale_event("S-20"))
    refund = {"id": "evt-R-1", "type": "refund.completed", "created_at": "2026-11-21T10:00:00+00:00", "data": {
        "id": "R-1", "sale_id": "S-20", "occurred_at": "2026-11-21T10:00:00+00:00", "currency": "GBP", "total": "60.00",
        "lines": [{"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "50.00",
                   "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "10.00"}]}],
        "tenders": [{"method": "card", "amount": "60.00"}]}}  # fmt: skip
    assert post_event("till", refund).status_code == 202
    txn = Transaction.objects.get(kind="refund")
    assert txn.sale.external_id == "S-20" and txn.status == TransactionStatus.POSTED
    got = lines_of(JournalEntry.objects.get(transaction=txn))
    assert ("4300", "returns", Decimal("50.00"), Decimal("0")) in got
    assert ("2100", "tax", Decimal("10.00"), Decimal("0")) in got
    assert ("1100", "clearing", Decimal("0"), Decimal("60.00")) in got


def test_refund_arriving_before_its_sale_waits_then_posts(channel: Any, post_event: Any) -> None:
    refund = {"id": "evt-R-2", "type": "refund.completed", "created_at": "2026-11-21T10:00:00+00:00", "data": {
        "id": "R-2", "sale_id": "S-21", "occurred_at": "2026-11-21T10:00:00+00:00", "currency": "GBP", "total": "144.00",
        "lines": [{"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "120.00",
                   "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "24.00"}]}]}}  # fmt: skip
    post_event("till", refund)
    held = Transaction.objects.get(kind="refund")
    assert held.status == TransactionStatus.INVALID
    assert held.status_reasons == ["refund of an unknown sale S-21"]
    post_event("till", sale_event("S-21"))
    held.refresh_from_db()
    assert held.status == TransactionStatus.POSTED and held.sale is not None
    assert BookEntry.objects.count() == 2


def test_changed_document_is_reversed_and_reposted_never_edited(channel: Any, post_event: Any) -> None:
    post_event("till", sale_event("S-30", updated_at="2026-11-20T10:00:00+00:00"))
    first = JournalEntry.objects.get()
    line = {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "100.00",
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "20.00"}]}  # fmt: skip
    post_event(
        "till", sale_event("S-30", lines=[line], total="120.00", updated_at="2026-11-20T11:00:00+00:00")
    )
    txn = Transaction.objects.get()
    assert txn.revision == 2
    reversal = JournalEntry.objects.get(kind=EntryKind.REVERSAL)
    assert reversal.reverses_id == first.pk
    newest = JournalEntry.objects.get(kind=EntryKind.TRANSACTION, transaction_revision=2)
    # Net effect on revenue equals the new document: -120 + 120 - 100 = -100.
    revenue = sum(ln.credit - ln.debit for ln in JournalLine.objects.filter(account__code="4000"))
    assert revenue == Decimal("100.00")
    assert newest.reference.endswith("/r2")
    assert BookEntry.objects.count() == 3  # original, reversal, new: the first document is never edited
    # An older version delivered late changes nothing.
    post_event("till", sale_event("S-30", total="144.00", updated_at="2026-11-20T09:00:00+00:00"))
    assert Transaction.objects.get().revision == 2 and BookEntry.objects.count() == 3


def test_unmapped_product_is_held_then_flows_once_a_version_is_approved(
    ledger: Any, post_event: Any, django_capture_on_commit_callbacks: Any
) -> None:
    channel = make_channel(ledger, with_default_revenue=False)
    line = {"sku": "ADINKRA", "name": "Stamps", "category": "crafts", "quantity": 1, "unit_price": "10.00",
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}]}  # fmt: skip
    post_event("till", sale_event("S-40", lines=[line], total="12.00"))
    txn = Transaction.objects.get()
    assert txn.status == TransactionStatus.NEEDS_MAPPING
    assert txn.status_reasons == ["SKU ADINKRA has no revenue account"]
    assert Posting.objects.count() == 0
    rules = standard_rules(ledger)
    version = create_version(
        MappingSet.objects.get(channel=channel), effective_from=date(2020, 1, 1), rules=rules
    )
    with django_capture_on_commit_callbacks(execute=True):
        activate_version(version)  # held transactions are retried automatically after commit
    txn.refresh_from_db()
    assert txn.status == TransactionStatus.POSTED
    assert JournalEntry.objects.get().mapping_version_id == version.pk


def test_effective_dating_picks_the_version_in_force_on_the_business_day(
    ledger: Any, post_event: Any
) -> None:
    channel = make_channel(ledger)
    ms = MappingSet.objects.get(channel=channel)
    rules = [r if not (r["kind"] == "revenue" and r["match_value"] == "textiles") else {**r, "account": ledger.accounts.get(code="4010")}
             for r in standard_rules(ledger)]  # fmt: skip
    later = create_version(ms, effective_from=date(2026, 11, 21), rules=rules)
    activate_version(later)
    post_event("till", sale_event("S-50", occurred_at="2026-11-20T10:00:00+00:00"))
    post_event("till", sale_event("S-51", occurred_at="2026-11-21T10:00:00+00:00"))
    e50 = JournalEntry.objects.get(transaction__external_id="S-50")
    e51 = JournalEntry.objects.get(transaction__external_id="S-51")
    assert e50.mapping_version.number == 1 and e51.mapping_version.number == 2
    assert ("4000", "revenue", Decimal("0"), Decimal("120.00")) in lines_of(e50)
    assert ("4010", "revenue", Decimal("0"), Decimal("120.00")) in lines_of(e51)


def test_daily_summary_posts_one_document_per_channel_day_and_currency(ledger: Any, post_event: Any) -> None:
    channel = make_channel(ledger, slug="popup", mode=PostingMode.DAILY_SUMMARY)
    for i in range(5):
        post_event("popup", sale_event(f"P-{i}", occurred_at=f"2026-11-20T1{i}:00:00+00:00"))
    assert Posting.objects.count() == 0
    assert set(Transaction.objects.values_list("status", flat=True)) == {TransactionStatus.SUMMARISED}
    made = close_day(channel, date(2026, 11, 20))
    assert len(made) == 1
    summary = made[0]
    assert ("4000", "revenue", Decimal("0"), Decimal("600.00")) in lines_of(summary)
    assert close_day(channel, date(2026, 11, 20)) == []  # idempotent
    run_outbox()
    assert BookEntry.objects.count() == 1
    assert set(Transaction.objects.values_list("status", flat=True)) == {TransactionStatus.POSTED}


def test_payout_moves_clearing_to_bank_with_fees(channel: Any, post_event: Any) -> None:
    payout = {"id": "evt-po-1", "type": "payout.paid", "created_at": "2026-11-22T06:00:00+00:00", "data": {
        "id": "po-1", "occurred_at": "2026-11-22T06:00:00+00:00", "currency": "GBP", "amount": "139.44",
        "items": [{"type": "charge", "amount": "144.00", "fee": "2.36", "net": "141.64"},
                  {"type": "refund", "amount": "-2.00", "fee": "0", "net": "-2.00"},
                  {"type": "adjustment", "amount": "-0.20", "fee": "0", "net": "-0.20"}]}}  # fmt: skip
    post_event("till", payout)
    got = lines_of(JournalEntry.objects.get())
    assert ("1000", "bank", Decimal("139.44"), Decimal("0")) in got
    assert ("6100", "fee", Decimal("2.36"), Decimal("0")) in got
    assert ("1100", "clearing", Decimal("0"), Decimal("144.00")) in got
    assert ("1100", "clearing", Decimal("2.00"), Decimal("0")) in got
    assert ("6200", "adjustment", Decimal("0.20"), Decimal("0")) in got


def test_posting_into_a_closed_period_is_held_and_never_sent(
    channel: Any, ledger: Any, post_event: Any
) -> None:
    ledger.lock_date = date(2026, 11, 20)
    ledger.save()
    post_event("till", sale_event("S-60", occurred_at="2026-11-20T10:00:00+00:00"))
    posting = Posting.objects.get()
    assert posting.state == PostingState.HELD and posting.attempts == 0
    assert "closed up to 2026-11-20" in posting.last_error
    assert BookEntry.objects.count() == 0


def test_closed_period_policy_move_posts_on_the_first_open_day(
    channel: Any, ledger: Any, post_event: Any
) -> None:
    ledger.lock_date = date(2026, 11, 20)
    ledger.lock_policy = "move"
    ledger.save()
    post_event("till", sale_event("S-61", occurred_at="2026-11-20T10:00:00+00:00"))
    posting = Posting.objects.get()
    assert posting.state == PostingState.POSTED and posting.posting_date == date(2026, 11, 21)
    assert "closed up to 2026-11-20" in posting.note
    assert BookEntry.objects.get().date == date(2026, 11, 21)
