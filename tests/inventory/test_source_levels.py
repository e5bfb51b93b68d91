"""Stock levels read from Shopify (inventory levels and items, over HTTP to the sandbox)."""

from __future__ import annotations

import io
from decimal import Decimal as D
from typing import Any

from django.core.management import call_command

from connectors.sandbox.shopify import ShopifySandbox
from integrator.models import InventoryBook, Product, StockLevel
from integrator.services.channels import create_channel
from integrator.services.inventory.stock import pull_source_levels
from tests.fixtures.shopify import TOKEN, make_source


def test_the_shopify_source_reads_levels_by_sku_across_pages() -> None:
    with ShopifySandbox(access_token=TOKEN) as shop:
        for n in range(1, 8):
            shop.add_inventory(item_id=4000 + n, sku=f"SKU-{n}", location_id=77, available=n * 10)
        shop.add_inventory(item_id=4100, sku="", location_id=77, available=5)  # no SKU: left out
        shop.add_inventory(item_id=4001, sku="SKU-1", location_id=88, available=999)  # another location
        source = make_source("GBP", base_url=shop.url, page_size=3)
        levels = source.fetch_inventory_levels("77")
        pages = shop.requests_to("GET", r"inventory_levels\.json$")
    assert len(pages) == 3  # 7 levels, 3 a page, following Link rel="next"
    assert levels == {f"SKU-{n}": D(n * 10) for n in range(1, 8)}


def test_pull_records_the_source_levels_beside_ours(
    inventory: InventoryBook, shea: Product, ledger: Any
) -> None:
    with ShopifySandbox(access_token=TOKEN) as shop:
        shop.add_inventory(item_id=9001, sku="SHEA-KG", location_id=77, available=97)
        channel = create_channel(platform="shopify", name="Shop", slug="shop", currency="GBP",
                                 ledger_connection=ledger, webhook_secrets=["s"], base_url=shop.url,
                                 credentials={"access_token": TOKEN})  # fmt: skip
        assert pull_source_levels(channel, location_id="77", location="main") == 1
        out = io.StringIO()
        call_command("pull_stock_levels", "shop", "--location-id", "77", stdout=out)
        assert "1 stock level(s) of Shop recorded at main" in out.getvalue()
    level = StockLevel.objects.get(product=shea, location="main")
    assert (level.source_quantity, level.quantity) == (D(97), D(0))
