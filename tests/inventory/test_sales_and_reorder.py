"""Sales and refunds on the spine move stock and book COGS once; the reorder trigger fires once
per breach."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest
from django.db.models import Sum

from integrator.choices import AlertKind, EntryKind, PostingMode
from integrator.models import (
    Alert,
    InventoryBook,
    JournalEntry,
    JournalLine,
    Product,
    PurchaseOrder,
    ReorderSuggestion,
    StockLevel,
    StockMovement,
)
from integrator.services.closing import close_day
from integrator.services.inventory.adjustments import adjust_stock
from integrator.services.inventory.valuation import stock_valuation
from integrator.services.posting import run_outbox
from tests.conftest import make_channel, sale_event
from tests.inventory.conftest import make_inventory_book


def _sale(
    sale_id: str, qty: int, *, day: str = "2026-11-20", updated_at: str | None = None, **extra: Any
) -> dict:
    net = D(qty) * D("12.00")
    tax = net * D("0.20")
    return sale_event(
        sale_id, total=f"{net + tax:.2f}", occurred_at=f"{day}T10:00:00+00:00", updated_at=updated_at,
        lines=[{"sku": "SHEA-KG", "name": "Shea", "category": "beauty", "quantity": qty, "unit_price": "12.00",
                "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": f"{tax:.2f}"}]}], **extra,
    )  # fmt: skip


def _stock(book: InventoryBook, product: Product, qty: str, value: str, key: str = "opening") -> None:
    """Opening stock, journaled against stock adjustments (so the valuation reconciles)."""
    adjust_stock(book, product, D(qty), unit_cost=D(value) / D(qty), key=key, on=date(2026, 11, 1))


def _cogs(book: InventoryBook) -> D:
    sums = JournalLine.objects.filter(account_id=book.cogs_account_id).aggregate(
        d=Sum("debit"), c=Sum("credit")
    )
    return (sums["d"] or D(0)) - (sums["c"] or D(0))


def test_a_revised_sale_reverses_its_older_movements_and_moves_once_more(
    inventory: InventoryBook, shea: Product, post_event: Any
) -> None:
    # Given 100 kg at 5.00 and a sale of 10 kg
    _stock(inventory, shea, "100", "500.00")
    post_event("till", _sale("S-1", 10))
    assert StockLevel.objects.get(product=shea).quantity == D(90)
    # When the shop revises it to 8 kg, and the same delivery arrives twice
    post_event("till", _sale("S-1", 8, updated_at="2026-11-20T11:00:00+00:00"))
    post_event("till", _sale("S-1", 8, updated_at="2026-11-20T11:00:00+00:00"))
    # Then the first 10 kg came back, 8 kg left once, and COGS is 8 x 5.00
    assert StockLevel.objects.get(product=shea).quantity == D(92)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.SALE).count() == 2
    assert StockMovement.objects.filter(kind=StockMovement.Kind.REVERSAL).count() == 1
    assert _cogs(inventory) == D("40.00")
    assert JournalEntry.objects.filter(reference__endswith="/cogs").count() == 2
    run_outbox()
    assert stock_valuation(inventory, date(2026, 11, 30)).reconciles


def test_a_voided_sale_puts_its_goods_back(inventory: InventoryBook, shea: Product, post_event: Any) -> None:
    _stock(inventory, shea, "100", "500.00")
    post_event("till", _sale("S-1", 10))
    post_event("till", _sale("S-1", 10, updated_at="2026-11-20T12:00:00+00:00", status="voided"))
    assert StockLevel.objects.get(product=shea).quantity == D(100)
    assert _cogs(inventory) == D("0.00")


def test_a_refund_restocks_only_what_the_source_says(
    inventory: InventoryBook, shea: Product, post_event: Any
) -> None:
    # Given a sale of 10 kg
    _stock(inventory, shea, "100", "500.00")
    post_event("till", _sale("S-1", 10))

    def refund(rid: str, qty: int, **flags: Any) -> dict:
        net = D(qty) * D("12.00")
        line = {"sku": "SHEA-KG", "name": "Shea", "category": "beauty", "quantity": qty, "unit_price": "12.00",
                "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": f"{net * D('0.20'):.2f}"}]}  # fmt: skip
        line.update(flags.pop("line", {}))
        data = {"id": rid, "sale_id": "S-1", "occurred_at": "2026-11-21T10:00:00+00:00", "currency": "GBP",
                "total": f"{net * D('1.2'):.2f}", "lines": [line],
                "tenders": [{"method": "card", "amount": f"{net * D('1.2'):.2f}"}], **flags}  # fmt: skip
        return {
            "id": f"evt-{rid}",
            "type": "refund.completed",
            "created_at": data["occurred_at"],
            "data": data,
        }

    # When one refund is not restocked (spoilt), one is restocked on the refund, one line says no
    post_event("till", refund("R-1", 1))
    post_event("till", refund("R-2", 2, restock=True))
    post_event("till", refund("R-3", 3, restock=True, line={"restock": False}))
    # Then only the 2 kg restocked came back, at the 5.00 the sale took them out at
    assert StockLevel.objects.get(product=shea).quantity == D(92)
    assert _cogs(inventory) == D("40.00")


def test_daily_summary_carries_the_cogs(ledger: Any, shea: Product, post_event: Any) -> None:
    # Given a till that posts one summary a day
    till = make_channel(ledger, slug="dakar", mode=PostingMode.DAILY_SUMMARY)
    book = make_inventory_book(ledger, till)
    _stock(book, shea, "50", "250.00")
    post_event("dakar", _sale("T-1", 4))
    post_event("dakar", _sale("T-2", 6))
    cogs_entries = JournalEntry.objects.filter(kind=EntryKind.MANUAL, transaction__isnull=False)
    assert cogs_entries.count() == 2 and not cogs_entries.filter(posting__isnull=False).exists()
    # When the day is closed
    close_day(till, date(2026, 11, 20))
    run_outbox()
    # Then the summary carries the COGS of both sales and the books reconcile
    summary = JournalEntry.objects.get(kind=EntryKind.SUMMARY, currency="GBP", lines__role="cogs")
    assert summary.lines.get(role="cogs").debit == D("50.00")
    assert set(cogs_entries.values_list("summary_id", flat=True)) == {summary.pk}
    assert stock_valuation(book, date(2026, 11, 20)).reconciles


def test_the_threshold_trigger_fires_once_per_breach(
    inventory: InventoryBook, shea: Product, post_event: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given 45 kg with a reorder point of 40 kg, 42-day lead time
    _stock(inventory, shea, "45", "225.00")
    # When two sales take it to 38 then 36 kg
    post_event("till", _sale("S-1", 7))
    post_event("till", _sale("S-2", 2))
    # Then one suggestion, made at 38 kg: 7 kg sold in 28 days over the 42 days' lead time, and back
    # to the reorder point: ceil(7 / 28 x 42 + 40 - 38) = ceil(12.5) = 13
    suggestion = ReorderSuggestion.objects.get()
    assert (suggestion.breach, suggestion.level_quantity, suggestion.quantity) == (1, D(38), D(13))
    assert suggestion.notified_at is not None and suggestion.purchase_order is not None
    assert PurchaseOrder.objects.get().lines.get().quantity == D(13)
    assert Alert.objects.filter(kind=AlertKind.INVENTORY, resolved_at__isnull=True).count() == 1
    # When stock is received above the point, then the breach closes and its alert with it
    with django_capture_on_commit_callbacks(execute=True):
        _stock(inventory, shea, "20", "100.00", key="restock-1")
    assert StockLevel.objects.get(product=shea).below is False
    assert Alert.objects.filter(kind=AlertKind.INVENTORY, resolved_at__isnull=True).count() == 0
    # When it falls below again, then a second breach makes a second suggestion
    post_event("till", _sale("S-3", 20))
    assert list(ReorderSuggestion.objects.order_by("breach").values_list("breach", flat=True)) == [1, 2]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_sales_breach_once(ledger: Any, shea: Product, live_server: Any) -> None:
    """20 webhook sales at once on PostgreSQL: exactly one suggestion, one draft PO, one alert."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.conftest import signed_headers

    channel = make_channel(ledger)
    book = make_inventory_book(ledger, channel)
    _stock(book, shea, "50", "250.00")  # reorder point 40: the 11th sale breaches it

    def deliver(n: int) -> int:
        body = json.dumps(_sale(f"C-{n:02d}", 1)).encode()
        headers = {k.replace("HTTP_", "").replace("_", "-"): v for k, v in signed_headers(body).items()}
        return requests.post(f"{live_server.url}/hooks/{channel.slug}/", data=body, timeout=60,
                             headers={"Content-Type": "application/json", **headers}).status_code  # fmt: skip

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(deliver, range(20)))
    assert statuses == [202] * 20
    assert StockLevel.objects.get(product=shea).quantity == D(30)
    assert ReorderSuggestion.objects.count() == 1
    assert PurchaseOrder.objects.count() == 1
    assert Alert.objects.filter(kind=AlertKind.INVENTORY).count() == 1
    assert ReorderSuggestion.objects.get().notified_at is not None
