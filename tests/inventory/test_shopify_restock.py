"""Shopify says per refund line whether the goods went back to stock (``restock_type``)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from connectors.sources.shopify.refunds import OrderContext, parse_refund
from integrator.services.inventory.sales import restocked
from integrator.services.transactions import content_hash


def _rli(line_id: int, sku: str, restock_type: str) -> dict[str, Any]:
    line = {"id": line_id, "sku": sku, "name": sku, "price": "10.00", "tax_lines": []}
    return {"line_item_id": line_id, "quantity": 1, "restock_type": restock_type, "line_item": line,
            "subtotal": "10.00", "total_tax": "0.00"}  # fmt: skip


def _refund(*rlis: dict[str, Any]) -> dict[str, Any]:
    return {"id": 9, "order_id": 1, "created_at": "2026-11-20T10:00:00Z", "refund_line_items": list(rlis),
            "transactions": [{"kind": "refund", "status": "success", "amount": f"{10 * len(rlis)}.00",
                              "gateway": "shopify_payments", "id": 77}]}  # fmt: skip


CTX = OrderContext(order_id="1", currency="GBP", taxes_included=True)


def test_a_mixed_refund_restocks_only_the_returned_line() -> None:
    refund = parse_refund(_refund(_rli(1, "SHEA-KG", "return"), _rli(2, "KENTE-12", "no_restock")), CTX)
    assert refund is not None
    assert [restocked(refund, ln) for ln in refund.lines] == [True, False]
    assert refund.total == D("20.00")


def test_a_uniform_refund_keeps_its_lines_and_hash_unchanged() -> None:
    refund = parse_refund(_refund(_rli(1, "SHEA-KG", "return")), CTX)
    assert refund is not None and refund.restock is True
    assert refund.lines[0].restock is None and restocked(refund, refund.lines[0])
    # The per-line field stays empty, so the stored content hash of such a refund does not change
    import dataclasses

    from integrator.canonical import document_to_dict

    data = document_to_dict(refund)
    assert data["lines"][0]["restock"] is None
    old_shape = dataclasses.replace(
        refund, lines=tuple(dataclasses.replace(ln, restock=False) for ln in refund.lines)
    )
    assert content_hash(refund) != content_hash(old_shape)  # a stated value would change it
