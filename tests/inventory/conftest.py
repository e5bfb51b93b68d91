"""Fixtures of the inventory tests: the stock accounts, an inventory book, tracked products."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from integrator.choices import AccountType
from integrator.models import Channel, InventoryBook, LedgerAccount, LedgerConnection, Product, Supplier
from tests.conftest import make_channel

STOCK_ACCOUNTS = [
    ("1300", "Inventory", AccountType.ASSET),
    ("1310", "Import VAT recoverable", AccountType.ASSET),
    ("2000", "Accounts payable", AccountType.LIABILITY),
    ("2010", "Clearing agent", AccountType.LIABILITY),
    ("5000", "Cost of goods sold", AccountType.EXPENSE),
    ("5100", "Stock adjustments", AccountType.EXPENSE),
]


def make_inventory_book(conn: LedgerConnection, channel: Channel) -> InventoryBook:
    """Give a chart the stock accounts and an inventory book journaling under ``channel``."""
    acct = {}
    for code, name, kind in STOCK_ACCOUNTS:
        acct[code], _ = LedgerAccount.objects.get_or_create(
            connection=conn, code=code, defaults={"name": name, "type": kind}
        )
    return InventoryBook.objects.create(
        connection=conn, channel=channel, inventory_account=acct["1300"], import_vat_account=acct["1310"],
        payables_account=acct["2000"], clearing_account=acct["2010"], cogs_account=acct["5000"],
        adjustments_account=acct["5100"],
    )  # fmt: skip


@pytest.fixture
def supplier(db: Any) -> Supplier:
    """A Ghanaian supplier invoicing in US dollars, 6 weeks from order to shelf."""
    return Supplier.objects.create(
        name="Tamale Shea Cooperative", country="GH", currency="USD", lead_time_days=42
    )


@pytest.fixture
def inventory(ledger: LedgerConnection) -> InventoryBook:
    """A mapped per-transaction GBP channel and the inventory book of its ledger."""
    channel = make_channel(ledger)
    return make_inventory_book(ledger, channel)


@pytest.fixture
def shea(db: Any, supplier: Supplier) -> Product:
    """Raw shea butter sold by the kilogram, moving average, reorder at 40 kg."""
    return Product.objects.create(
        sku="SHEA-KG", name="Raw shea butter", category="beauty", unit="kg", track_stock=True,
        costing_method="average", unit_weight=Decimal(1), reorder_point=Decimal(40), supplier=supplier,
    )  # fmt: skip


@pytest.fixture
def kente(db: Any, supplier: Supplier) -> Product:
    """Kente cloth, FIFO, 2 kg a cloth."""
    return Product.objects.create(
        sku="KENTE-12", name="Kente cloth", category="textiles", unit="each", track_stock=True,
        costing_method="fifo", unit_weight=Decimal(2), reorder_point=Decimal(5), supplier=supplier,
    )  # fmt: skip
