"""A sale's item table adds up to its total: items, shipping, discounts and tax are all shown.

Before, the table listed the product lines only, so a sale with shipping did not add up.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from typing import Any

from django.test import Client

from integrator.models import Transaction
from integrator.views.documents import document_breakdown
from tests.conftest import sale_event

VAT = {"title": "VAT 20%", "rate": "0.20"}


def _rows(html: str) -> list[tuple[str, str]]:
    """(label, amount) of each footer row of the item table."""
    foot = re.search(r'<table class="boxed breakdown".*?<tfoot>(.*?)</tfoot>', html, re.S)
    assert foot is not None
    cells = re.findall(r"<t[hd] colspan=\"5\">(.*?)</t[hd]><t[hd] class=\"num\">(.*?)</t[hd]>", foot.group(1))
    return [(unescape(label), unescape(amount)) for label, amount in cells]


def test_a_sale_with_shipping_and_a_discount_adds_up(channel: Any, post_event: Any, users: Any) -> None:
    # Two kente at 50.00 less a 10.00 discount = 90.00, VAT 18.00; shipping 5.00, VAT 1.00.
    # 90.00 + 5.00 + 18.00 + 1.00 = 114.00.
    lines = [{"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 2, "unit_price": "50.00",
              "discount": "10.00", "taxes": [VAT | {"amount": "18.00"}]}]  # fmt: skip
    shipping = [{"title": "Royal Mail 48", "amount": "5.00", "taxes": [VAT | {"amount": "1.00"}]}]
    post_event("till", sale_event("S-SHIP", lines=lines, shipping=shipping, total="114.00",
                                  discounts=[{"code": "AKWAABA10", "amount": "10.00"}]))  # fmt: skip
    txn = Transaction.objects.get(external_id="S-SHIP")
    client = Client()
    client.force_login(users["finance_clerk"])
    html = client.get(f"/transactions/{txn.pk}/").content.decode()
    body = re.search(r'<table class="boxed breakdown".*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None
    items = [[unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
             for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)]  # fmt: skip
    assert [row[1:] for row in items] == [["2", "50.00", "\u221210.00", "18.00", "90.00"],
                                          ["", "", "", "1.00", "5.00"]]  # fmt: skip
    assert items[1][0].startswith("Royal Mail 48")
    assert _rows(html) == [
        ("Subtotal after discounts", "95.00"),
        ("Discounts taken off above", "(-10.00)"),
        ("Tax", "19.00"),
        ("VAT 20%", "(19.00)"),
        ("Total GBP", "114.00"),
    ]
    breakdown = document_breakdown(txn)
    assert breakdown is not None and breakdown.adds_up
    assert sum((r.amount for r in breakdown.summary if r.counted), Decimal(0)) == Decimal("114.00")


def test_tax_included_in_prices_is_shown_but_not_added_again(
    channel: Any, post_event: Any, users: Any
) -> None:
    # Tax-inclusive: 60.00 for a kente strip includes VAT 10.00; shipping 6.00 includes VAT 1.00.
    lines = [{"sku": "KENTE-6", "name": "Kente strip", "category": "textiles", "quantity": 1,
              "unit_price": "60.00", "taxes": [VAT | {"amount": "10.00"}]}]  # fmt: skip
    shipping = [{"title": "Courier", "amount": "6.00", "taxes": [VAT | {"amount": "1.00"}]}]
    post_event("till", sale_event("S-INCL", lines=lines, shipping=shipping, total="66.00", inclusive=True))
    txn = Transaction.objects.get(external_id="S-INCL")
    client = Client()
    client.force_login(users["auditor"])
    html = client.get(f"/transactions/{txn.pk}/").content.decode()
    assert _rows(html) == [
        ("Subtotal after discounts", "66.00"),
        ("Tax included in the prices", "(11.00)"),
        ("VAT 20%", "(11.00)"),
        ("Total GBP", "66.00"),
    ]
    assert "Prices include tax" in html
    breakdown = document_breakdown(txn)
    assert breakdown is not None and breakdown.adds_up
