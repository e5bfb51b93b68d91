"""The issue's worked example, end to end: an import from Ghana received at landed cost, sales and a
return through the webhook spine, a late freight invoice; every figure against a hand calculation.

Hand calculation (functional currency GBP)
-----------------------------------------
Supplier invoice in USD at the agreed rate 0.79:
    200 kg shea butter x USD 6.00  = USD 1,200.00
     50 kente cloths  x USD 40.00 = USD 2,000.00      total USD 3,200.00 = GBP 2,528.00
    split by value: shea 1,200/3,200 x 2,528 = 948.00, kente 1,580.00
Costs:
    freight   GBP 450.00 by weight (shea 200 kg, kente 50 x 2 kg = 100 kg): shea 300.00, kente 150.00
    insurance USD 64.00 at the agreed 0.80 = GBP 51.20 by value (shea 0.375): shea 19.20, kente 32.00
    duty      GBP 252.80 by value: shea 94.80, kente 158.00 (paid through the clearing agent)
    import VAT GBP 656.40: recoverable, not a cost (clearing agent)
Landed: shea 948.00 + 300.00 + 19.20 + 94.80 = 1,362.00 -> 6.81 a kg (moving average)
        kente 1,580.00 + 150.00 + 32.00 + 158.00 = 1,920.00 -> 38.40 a cloth (FIFO)
Receipt entry: Dr inventory 3,282.00, Dr import VAT 656.40 = Cr payables 2,528.00 + 450.00 + 51.20,
               Cr clearing 252.80 + 656.40 (3,938.40 each side)
Sale 1: 50 kg shea at 12.00 and 10 kente at 90.00 -> COGS 50 x 6.81 = 340.50 and 10 x 38.40 = 384.00
Refund: 2 kente back to stock (restocked)          -> COGS -76.80 (the cost the sale took them out at)
Sale 2: 30 kg shea at 12.00                        -> COGS 30 x 6.81 = 204.30
Stock then: shea 120 kg worth 817.20, kente 42 worth 40 x 38.40 + 76.80 = 1,612.80
Late freight GBP 90.00 by weight: shea 60.00, kente 30.00
    shea: 120 of the 200 kg received still on hand -> 36.00 to stock, 24.00 to COGS (7.11 a kg now)
    kente: 40 of the 50 received still on hand     -> 24.00 to stock, 6.00 to COGS
Totals: COGS 340.50 + 384.00 - 76.80 + 204.30 + 24.00 + 6.00 = 882.00
        revenue 600.00 + 900.00 - 180.00 (returns) + 360.00 = 1,680.00; margin 798.00 (47.50 %)
        stock 120 kg worth 853.20 + 42 cloths worth 1,636.80 = 2,490.00 = the inventory account
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

from django.db.models import Sum

from integrator.models import CostPool, InventoryBook, JournalLine, Product, ShipmentCost, StockLevel
from integrator.services.inventory.landed import add_cost, create_shipment, receive_shipment
from integrator.services.inventory.valuation import stock_valuation
from integrator.services.posting import run_outbox
from integrator.services.profit import profit_report
from tests.conftest import sale_event


def _balance(book: InventoryBook, code: str) -> D:
    """Functional debit less credit of an account in our journal."""
    sums = JournalLine.objects.filter(entry__connection=book.connection, account__code=code).aggregate(
        dr=Sum("functional_debit"), cr=Sum("functional_credit")
    )
    return (sums["dr"] or D(0)) - (sums["cr"] or D(0))


def _line(sku: str, name: str, category: str, qty: int, price: str, tax: str, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "name": name, "category": category, "quantity": qty, "unit_price": price,
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": tax}], **extra}  # fmt: skip


def test_ghana_import_sales_return_and_late_freight_equal_the_hand_calculation(
    inventory: InventoryBook, supplier: Any, shea: Product, kente: Product, post_event: Any
) -> None:
    # Given a shipment from Ghana: USD invoice, GBP freight by weight, USD insurance, duty and VAT.
    shipment = create_shipment(
        inventory, reference="GH-2026-07", supplier=supplier, invoice_date=date(2026, 11, 10),
        invoice_rate=D("0.79"), invoice_number="TSC-0451",
        lines=[{"product": shea, "quantity": "200", "unit_price": "6.00"},
               {"product": kente, "quantity": "50", "unit_price": "40.00"}],
        costs=[
            {"kind": ShipmentCost.Kind.FREIGHT, "amount": D("450.00"), "currency": "GBP", "basis": "weight"},
            {"kind": ShipmentCost.Kind.INSURANCE, "amount": D("64.00"), "currency": "USD", "rate": D("0.80")},
            {"kind": ShipmentCost.Kind.DUTY, "amount": D("252.80"), "currency": "GBP", "paid_through": "clearing"},
            {"kind": ShipmentCost.Kind.IMPORT_VAT, "amount": D("656.40"), "currency": "GBP",
             "paid_through": "clearing"},
        ],
    )  # fmt: skip
    # When it is received
    receive_shipment(shipment, on=date(2026, 11, 12))
    lines = {ln.product.sku: ln for ln in shipment.lines.select_related("product")}
    # Then the landed costs are the hand calculation's
    assert (lines["SHEA-KG"].goods_value, lines["KENTE-12"].goods_value) == (D("948.00"), D("1580.00"))
    assert (lines["SHEA-KG"].landed_value, lines["SHEA-KG"].landed_unit_cost) == (D("1362.00"), D("6.81"))
    assert (lines["KENTE-12"].landed_value, lines["KENTE-12"].landed_unit_cost) == (D("1920.00"), D("38.40"))
    assert _balance(inventory, "1300") == D("3282.00")
    assert _balance(inventory, "1310") == D("656.40")
    assert _balance(inventory, "2000") == D("-3029.20")  # 2,528.00 + 450.00 + 51.20
    assert _balance(inventory, "2010") == D("-909.20")  # 252.80 + 656.40

    # When the shop sells, refunds two cloths back to stock, and sells again
    post_event("till", sale_event("S-1", total="1800.00", lines=[
        _line("SHEA-KG", "Shea", "beauty", 50, "12.00", "120.00"),
        _line("KENTE-12", "Kente", "textiles", 10, "90.00", "180.00")]))  # fmt: skip
    refund = {"id": "evt-R-1", "type": "refund.completed", "created_at": "2026-11-21T10:00:00+00:00",
              "data": {"id": "R-1", "sale_id": "S-1", "occurred_at": "2026-11-21T10:00:00+00:00", "currency": "GBP",
                       "total": "216.00", "lines": [_line("KENTE-12", "Kente", "textiles", 2, "90.00", "36.00",
                                                          restock=True)],
                       "tenders": [{"method": "card", "amount": "216.00"}]}}  # fmt: skip
    assert post_event("till", refund).status_code == 202
    post_event("till", sale_event("S-2", total="432.00", occurred_at="2026-11-22T10:00:00+00:00",
                                  lines=[_line("SHEA-KG", "Shea", "beauty", 30, "12.00", "72.00")]))  # fmt: skip
    # Then COGS and stock follow the hand calculation
    assert _balance(inventory, "5000") == D("852.00")  # 340.50 + 384.00 - 76.80 + 204.30
    pools = {p.product.sku: p for p in CostPool.objects.select_related("product")}
    assert (pools["SHEA-KG"].quantity, pools["SHEA-KG"].value) == (D("120"), D("817.20"))
    assert (pools["KENTE-12"].quantity, pools["KENTE-12"].value) == (D("42"), D("1612.80"))

    # When the freight forwarder's late invoice arrives
    add_cost(shipment, kind=ShipmentCost.Kind.FREIGHT, amount=D("90.00"), currency="GBP", basis="weight",
             invoice_date=date(2026, 11, 25))  # fmt: skip
    late = {
        a.line.product.sku: a
        for a in shipment.costs.get(late=True).allocations.select_related("line__product")
    }
    assert (late["SHEA-KG"].capitalised, late["SHEA-KG"].expensed) == (D("36.00"), D("24.00"))
    assert (late["KENTE-12"].capitalised, late["KENTE-12"].expensed) == (D("24.00"), D("6.00"))

    # Then COGS, stock value and margin equal the hand calculation
    cogs = _balance(inventory, "5000")
    revenue = -(_balance(inventory, "4000") + _balance(inventory, "4010") + _balance(inventory, "4300"))
    assert cogs == D("882.00")
    assert revenue == D("1680.00")
    assert revenue - cogs == D("798.00")
    run_outbox()  # the receipt and the late cost were entered outside a request: send their postings
    valuation = stock_valuation(inventory, date(2026, 11, 30))
    values = {r.sku: (r.quantity, r.value, r.unit_cost) for r in valuation.rows}
    assert values["SHEA-KG"] == (D("120"), D("853.20"), D("7.11"))
    assert values["KENTE-12"] == (D("42"), D("1636.80"), D("38.9714"))
    assert valuation.total == D("2490.00") == valuation.journal_balance
    assert valuation.ledger_balance == D("2490.00")  # the built-in ledger's posted books agree
    assert valuation.reconciles
    # And the stock levels moved with every sale and return
    assert StockLevel.objects.get(product=shea).quantity == D("120")
    assert StockLevel.objects.get(product=kente).quantity == D("42")
    # And the profit report by product says the same, reconciled to the journal
    profit = profit_report(inventory.connection, date(2026, 11, 1), date(2026, 11, 30))
    rows = {r.key: r for r in profit.rows}
    shea_row, kente_row = rows["SHEA-KG"], rows["KENTE-12"]
    assert (shea_row.net_revenue, shea_row.cogs, shea_row.gross_margin) == (
        D("960.00"),
        D("568.80"),
        D("391.20"),
    )
    assert (kente_row.revenue, kente_row.refunds, kente_row.cogs) == (D("900.00"), D("180.00"), D("313.20"))
    assert kente_row.gross_margin == D("406.80")
    assert (profit.total().gross_margin, profit.total().margin_percent) == (D("798.00"), D("47.50"))
    assert profit.reconciles and profit.journal_cogs == D("882.00") and profit.journal_revenue == D("1680.00")
    # And on the day before the late invoice the valuation was the earlier figure
    assert stock_valuation(inventory, date(2026, 11, 22)).total == D("2430.00")
