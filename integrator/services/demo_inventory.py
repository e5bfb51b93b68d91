"""The demo store's stock: a shipment from Ghana received before the week's sales, so the demo
shows landed costs, COGS and margins.

The supplier in Tamale invoices in US dollars (at an agreed 0.79 GBP); the freight forwarder bills
freight in pounds (by weight), the insurer in dollars (by value), the clearing agent pays duty
and import VAT in pounds (VAT is recoverable: never in stock cost). Idempotent: a second run finds
the shipment and changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

from django.db import transaction

from integrator.choices import AccountType
from integrator.models import InventoryBook, LedgerAccount, Product, Shipment, Supplier
from integrator.services.inventory.landed import create_shipment, receive_shipment

__all__ = ["STOCK_ACCOUNTS", "setup_inventory"]

STOCK_ACCOUNTS = [
    ("1300", "Inventory", AccountType.ASSET),
    ("1310", "Import VAT recoverable", AccountType.ASSET),
    ("2000", "Accounts payable", AccountType.LIABILITY),
    ("2010", "Clearing agent (customs)", AccountType.LIABILITY),
    ("5000", "Cost of goods sold", AccountType.EXPENSE),
    ("5100", "Stock adjustments", AccountType.EXPENSE),
]
# sku: (unit weight kg, reorder point, USD unit price, quantity)
GHANA = {
    "SHEA-250": (D("0.25"), D(40), D("2.10"), D(400)),
    "KENTE-12": (D("2.50"), D(4), D("95.00"), D(12)),
    "KENTE-STOLE": (D("0.20"), D(10), D("8.00"), D(60)),
}


def setup_inventory(store: Any, today: date, *, receive: bool = True) -> Shipment | None:
    """Give the demo's built-in books an inventory book, track the Ghanaian products, and receive
    their shipment a fortnight before ``today`` (left a draft without ``receive``: a person
    receives it on the screen). Does nothing for an external ledger."""
    connection = store.connection
    if connection.platform != "builtin":
        return None
    with transaction.atomic():
        acct = {}
        for code, name, kind in STOCK_ACCOUNTS:
            acct[code], _ = LedgerAccount.objects.get_or_create(
                connection=connection, code=code, defaults={"name": name, "type": kind}
            )
        book, _ = InventoryBook.objects.get_or_create(connection=connection, defaults={
            "channel": store.channels["web-shop"], "inventory_account": acct["1300"], "cogs_account": acct["5000"],
            "adjustments_account": acct["5100"], "import_vat_account": acct["1310"],
            "payables_account": acct["2000"], "clearing_account": acct["2010"],
        })  # fmt: skip
        supplier, _ = Supplier.objects.get_or_create(
            name="Tamale Shea & Bonwire Weavers Cooperative",
            defaults={"country": "GH", "currency": "USD", "lead_time_days": 42},
        )
        products = {}
        for sku, (weight, point, _, _) in GHANA.items():
            Product.objects.filter(sku=sku).update(track_stock=True, unit_weight=weight, reorder_point=point,
                                                   supplier=supplier)  # fmt: skip
            products[sku] = Product.objects.get(sku=sku)
        existing = Shipment.objects.filter(book=book, reference="GH-DEMO-01").first()
        if existing is not None:
            return existing
        invoice_day = today - timedelta(days=14)
        shipment = create_shipment(
            book, reference="GH-DEMO-01", supplier=supplier, invoice_date=invoice_day, currency="USD",
            invoice_rate=D("0.79"), invoice_number="TSB-2026-118",
            lines=[{"product": products[sku], "quantity": qty, "unit_price": price}
                   for sku, (_, _, price, qty) in GHANA.items()],
            costs=[
                {"kind": "freight", "amount": D("310.00"), "currency": "GBP", "basis": "weight",
                 "description": "Air freight Accra - London"},
                {"kind": "insurance", "amount": D("40.00"), "currency": "USD", "rate": D("0.79")},
                {"kind": "duty", "amount": D("96.50"), "currency": "GBP", "paid_through": "clearing"},
                {"kind": "clearing", "amount": D("45.00"), "currency": "GBP", "basis": "quantity",
                 "paid_through": "clearing"},
                {"kind": "import_vat", "amount": D("350.00"), "currency": "GBP", "paid_through": "clearing"},
            ],
        )  # fmt: skip
        return receive_shipment(shipment, on=invoice_day + timedelta(days=2)) if receive else shipment
