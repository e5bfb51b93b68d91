"""Counts, write-offs and transfers: stock and the inventory account move together."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from django.db.models import Sum

from integrator.models import InventoryBook, JournalLine, Product, ReorderSuggestion, StockCount, StockLevel
from integrator.services.inventory.adjustments import adjust_stock, apply_count, transfer
from integrator.services.inventory.valuation import stock_valuation
from integrator.services.posting import run_outbox


def _adjustments(book: InventoryBook) -> D:
    sums = JournalLine.objects.filter(account_id=book.adjustments_account_id).aggregate(
        d=Sum("debit"), c=Sum("credit")
    )
    return (sums["d"] or D(0)) - (sums["c"] or D(0))


def test_count_write_off_and_transfer(inventory: InventoryBook, shea: Product) -> None:
    # Given 100 kg at 5.00 in the shop
    adjust_stock(inventory, shea, D(100), unit_cost=D("5.00"), key="opening", on=date(2026, 11, 1))
    # When 3 kg are written off as spoilt, twice by the same key
    for _ in range(2):
        adjust_stock(
            inventory, shea, D(-3), key="spoilt-1", on=date(2026, 11, 2), kind="write_off", reason="spoilt"
        )
    # And 20 kg go to the warehouse
    transfer(shea, "main", "warehouse", D(20), key="tr-1", on=date(2026, 11, 3))
    # And the shop counts 35 kg (expected 77): 42 kg short, at 5.00
    count = StockCount.objects.create(location="main", counted_on=date(2026, 11, 4))
    count.lines.create(product=shea, counted=D(35))
    apply_count(count, inventory)
    apply_count(count, inventory)  # applied once
    # Then the levels and the value follow, against the stock adjustments account
    levels = dict(StockLevel.objects.values_list("location", "quantity"))
    assert levels == {"main": D(35), "warehouse": D(20)}
    assert count.lines.get().expected == D(77)
    assert _adjustments(inventory) == D("-500.00") + D("15.00") + D("210.00")
    run_outbox()
    valuation = stock_valuation(inventory, date(2026, 11, 30))
    assert (valuation.total, valuation.reconciles) == (D("275.00"), True)  # 55 kg at 5.00
    # And the count took the shop below its reorder point of 40 kg: one suggestion
    assert ReorderSuggestion.objects.get().level.location == "main"


def test_a_source_level_that_differs_is_a_reconciliation_exception(
    inventory: InventoryBook, shea: Product
) -> None:
    from integrator.services.inventory.stock import record_source_levels
    from reconciliation.models import ReconciliationException
    from reconciliation.services.runs import run_reconciliation

    # Given 100 kg in our books and the shop's own count of 97 kg (and a SKU we do not track)
    adjust_stock(inventory, shea, D(100), unit_cost=D("5.00"), key="opening", on=date(2026, 11, 1))
    assert record_source_levels({"SHEA-KG": D(97), "UNKNOWN": D(4)}, location="main") == 1
    run_outbox()
    # When the day is reconciled, then the 3 kg difference is an exception and the value reconciles
    run_reconciliation(date(2026, 11, 1))
    exception = ReconciliationException.objects.get(key__startswith="stocklevel:")
    assert (exception.expected, exception.actual, exception.amount) == (D(100), D(97), D(3))
    assert "SHEA-KG at main: our stock is 100 kg, the sales system says 97" in exception.explanation
    assert not ReconciliationException.objects.filter(key__startswith="stock:").exists()
