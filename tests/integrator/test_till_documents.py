"""Till documents in the core: cash drawer counts, voided tickets, daily summaries per register.

Driven through the services a source's parsed documents go through (upsert, advance, close_day)
and through the webhook endpoint for the content-type rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from integrator.canonical import CashCount, LineItem, Sale, TaxLine, Tender
from integrator.choices import EntryKind, PostingMode, RuleKind, TransactionStatus
from integrator.models import JournalEntry, LedgerAccount, MappingSet, Transaction
from integrator.services.closing import close_day
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import advance_transaction
from integrator.services.transactions import upsert_transaction
from tests.conftest import make_channel, sale_event, standard_rules

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _till(ledger: Any, mode: str = PostingMode.PER_TRANSACTION) -> Any:
    """A till channel whose mapping also covers cash over/short and the float."""
    channel = make_channel(ledger, slug="till2", mode=mode, mapped=False)
    LedgerAccount.objects.create(connection=ledger, code="6300", name="Cash over/short", type="expense")
    LedgerAccount.objects.create(connection=ledger, code="1050", name="Safe", type="asset")
    accounts = {a.code: a for a in LedgerAccount.objects.filter(connection=ledger)}
    rules = [
        *standard_rules(ledger),
        {"kind": RuleKind.CASH_OVER_SHORT, "match_field": "default", "match_value": "", "account": accounts["6300"]},
        {"kind": RuleKind.CASH_FLOAT, "match_field": "default", "match_value": "", "account": accounts["1050"]},
    ]  # fmt: skip
    version = create_version(
        MappingSet.objects.create(channel=channel, connection=ledger),
        effective_from=date(2020, 1, 1),
        rules=rules,
    )
    activate_version(version)
    return channel


def _book(channel: Any, doc: Any) -> Transaction:
    from django.db import transaction

    with transaction.atomic():
        txn = upsert_transaction(channel, doc, None).transaction
    return advance_transaction(txn.pk)


def _lines(entry: JournalEntry) -> set[tuple[str, Decimal, Decimal]]:
    return {(ln.account.code, ln.debit, ln.credit) for ln in entry.lines.select_related("account")}


def test_cash_short_and_float_change_book_to_their_accounts(ledger: Any) -> None:
    channel = _till(ledger)
    count = CashCount(external_id="Z-1", occurred_at=AT, currency="GBP", expected=Decimal("412.50"),
                      counted=Decimal("410.00"), float_change=Decimal("50.00"), register="R1")  # fmt: skip
    txn = _book(channel, count)
    assert txn.status == TransactionStatus.JOURNALED
    entry = JournalEntry.objects.get(transaction=txn)
    # Short 2.50: expense debited, the drawer (cash clearing 1110) credited; float 50 in from the safe.
    assert _lines(entry) == {
        ("1110", Decimal("0"), Decimal("2.50")),
        ("6300", Decimal("2.50"), Decimal("0")),
        ("1110", Decimal("50.00"), Decimal("0")),
        ("1050", Decimal("0"), Decimal("50.00")),
    }
    assert entry.register == "R1"


def test_cash_over_without_a_mapping_is_held(ledger: Any) -> None:
    channel = make_channel(ledger, slug="plain")
    count = CashCount(
        external_id="Z-2", occurred_at=AT, currency="GBP", expected=Decimal("10"), counted=Decimal("11")
    )
    txn = _book(channel, count)
    assert txn.status == TransactionStatus.NEEDS_MAPPING
    assert txn.status_reasons == ["Cash over and short has no cash over and short account"]


def _ticket(external_id: str, register: str, amount: str, status: str = "completed") -> Sale:
    value = Decimal(amount)
    tax = (value / 6).quantize(Decimal("0.01"))
    line = LineItem(line_id="1", sku="KENTE-12", name="Kente", quantity=Decimal(1), unit_price=value,
                    category="textiles", tax_lines=(TaxLine("VAT 20%", Decimal("0.20"), tax),))  # fmt: skip
    return Sale(external_id=external_id, occurred_at=AT, currency="GBP", total=value, lines=(line,),
                prices_include_tax=True, tenders=(Tender("cash", value),), status=status,
                location="Dakar", register=register)  # fmt: skip


def test_voided_ticket_books_nothing_and_undoes_an_earlier_revision(ledger: Any) -> None:
    channel = _till(ledger)
    txn = _book(channel, _ticket("T-1", "R1", "12.00"))
    assert JournalEntry.objects.filter(transaction=txn).count() == 1
    txn = _book(channel, _ticket("T-1", "R1", "12.00", status="voided"))
    assert txn.status == TransactionStatus.POSTED
    assert txn.status_reasons == ["nothing to post for this document"]
    entries = JournalEntry.objects.filter(transaction=txn)
    assert {e.kind for e in entries} == {EntryKind.TRANSACTION, EntryKind.REVERSAL}
    assert entries.get(kind=EntryKind.REVERSAL).reverses == entries.get(kind=EntryKind.TRANSACTION)


def test_daily_summary_is_made_per_register(ledger: Any) -> None:
    channel = _till(ledger, PostingMode.DAILY_SUMMARY)
    for n, (register, amount) in enumerate([("R1", "12.00"), ("R1", "6.00"), ("R2", "24.00")]):
        _book(channel, _ticket(f"T-{n}", register, amount))
    summaries = close_day(channel, date(2026, 11, 20))
    by_register = {s.register: s for s in summaries}
    assert set(by_register) == {"R1", "R2"}
    assert by_register["R1"].reference == "till2/summary/2026-11-20/GBP/Dakar/R1"
    cash = {r: sum(ln.debit for ln in s.lines.filter(role="clearing")) for r, s in by_register.items()}
    assert cash == {"R1": Decimal("18.00"), "R2": Decimal("24.00")}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_content_type_the_platform_never_sends_is_refused_415(
    channel: Any, post_event: Any, content_type: str
) -> None:
    import json

    from django.test import Client

    from tests.conftest import signed_headers

    body = json.dumps(sale_event("S-415")).encode()
    response = Client().generic(
        "POST", "/hooks/till/", body, content_type=content_type, **signed_headers(body)
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]
    assert not Transaction.objects.exists()


def test_json_with_a_charset_parameter_is_accepted(channel: Any, post_event: Any) -> None:
    import json

    from django.test import Client

    from tests.conftest import signed_headers

    body = json.dumps(sale_event("S-utf8")).encode()
    response = Client().post(
        "/hooks/till/", body, content_type="application/json; charset=utf-8", **signed_headers(body)
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("rule", "tax", "words"),
    [("line", "0.63", "rounded on each line"), ("document", "0.62", "rounded once per rate")],
)
def test_a_till_that_sends_no_tax_is_taxed_by_the_channel_rule_shown_on_the_page(
    channel: Any, post_event: Any, admin_client: Any, rule: str, tax: str, words: str
) -> None:
    """Issue 10, finding 8: three lines of 1.03 at 20 % with no tax amount. Rounded per line the
    tax is 3 x 0.21 = 0.63; per document 3.09 x 20 % = 0.618 -> 0.62. The rule in force is shown
    on the transaction page; a till that states its tax is taken as charged."""
    channel.settings = {**channel.settings, "tax_rounding": rule}
    channel.save(update_fields=["settings"])
    total = str(Decimal("3.09") + Decimal(tax))
    line = {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "1.03",
            "taxes": [{"title": "VAT 20%", "rate": "0.20"}]}  # fmt: skip
    assert post_event("till", sale_event("T-1", lines=[line] * 3, total=total)).status_code == 202
    txn = Transaction.objects.get()
    assert txn.status == TransactionStatus.POSTED and txn.tax_total == Decimal(tax)
    page = admin_client.get(f"/transactions/{txn.pk}/").content.decode()
    assert words in page

    stated = [{**line, "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "0.20"}]}] * 3
    assert post_event("till", sale_event("T-2", lines=stated, total="3.69")).status_code == 202
    as_charged = Transaction.objects.get(external_id="T-2")
    assert as_charged.tax_total == Decimal("0.60")
    assert (
        "As charged by the sales system"
        in admin_client.get(f"/transactions/{as_charged.pk}/").content.decode()
    )


def test_a_transaction_is_found_by_the_number_its_ledger_document_carries(
    channel: Any, post_event: Any, admin_client: Any
) -> None:
    """Searching the ledger's document number (or the number we sent) finds the transaction and
    its journal entry."""
    from integrator.models import Posting

    assert post_event("till", sale_event("S-FIND")).status_code == 202
    assert post_event("till", sale_event("S-OTHER")).status_code == 202
    posting = Posting.objects.get(entry__transaction__external_id="S-FIND")
    assert posting.remote_number
    found = admin_client.get("/api/v1/transactions/", {"q": posting.remote_number}).json()
    assert [t["external_id"] for t in found["results"]] == ["S-FIND"]
    entries = admin_client.get("/api/v1/journal-entries/", {"q": posting.remote_number}).json()
    assert len(entries["results"]) == 1
