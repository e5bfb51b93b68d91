"""Order-to-invoice in Business Central: an invoice on terms becomes a sales order that waits as a
draft until the connection's scheduled time, then the waiting orders are shipped and invoiced
together in one ``$batch``; each order and its invoice are linked and each is made once."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from connectors.base import Deferred, PostingDocument
from connectors.ledgers.common import compare_views
from connectors.sandbox.business_central import BusinessCentralSandbox
from tests.connectors.test_business_central import line, target_for
from tests.ledgers.demo_week import demo_chart


def on_terms(reference: str, net: str = "100.00") -> PostingDocument:
    """A B2B invoice on terms: the receivable stays open."""
    vat = (Decimal(net) * Decimal("0.2")).quantize(Decimal("0.01"))
    lines = (line("1200", "receivable", debit=str(Decimal(net) + vat)), line("4000", "revenue", credit=net, tax_code="UK-VAT20"),
             line("2100", "tax", credit=str(vat), tax_code="UK-VAT20"))  # fmt: skip
    return PostingDocument(reference=reference, idempotency_key=f"k-{reference}", kind="invoice", date=date(2026, 10, 5),
                           currency="GBP", lines=lines, due_date=date(2026, 11, 4))  # fmt: skip


def test_orders_wait_for_the_schedule_then_ship_and_invoice_in_one_batch() -> None:
    with BusinessCentralSandbox() as bc:
        bc.seed_chart(*demo_chart())
        docs = [on_terms(f"W-{n}", f"{100 + n}.00") for n in range(3)]
        waiting = target_for(bc, order_to_invoice=True, order_post_after="24:00").post_batch(docs)
        assert all(isinstance(r, Deferred) for r in waiting), waiting
        assert [o["status"] for o in bc.company.documents["salesOrders"]] == ["Draft"] * 3
        assert bc.company.documents["salesInvoices"] == []
        target = target_for(bc, order_to_invoice=True, order_post_after="00:00")
        before = len(bc.requests)
        results = target.post_batch(docs)
        shipping = [r for r in bc.requests[before:] if b"shipAndInvoice" in r.body]
        again = target.post_batch(docs)
        orders = list(bc.company.documents["salesOrders"])
        invoices = list(bc.company.documents["salesInvoices"])
        views = [
            compare_views(target.expected_view(d), target.read_back(d, r))
            for d, r in zip(docs, results, strict=True)
        ]  # type: ignore[arg-type]
    assert all(not isinstance(r, Exception) for r in results), results
    assert (
        len(shipping) == 1 and json.loads(shipping[0].body)["requests"].__len__() == 3
    )  # one $batch ships all three
    assert len(orders) == 3 and len(invoices) == 3  # each made once, also after a second run
    assert [r.remote_id for r in again] == [r.remote_id for r in results]  # type: ignore[union-attr]
    assert {i["orderId"] for i in invoices} == {o["id"] for o in orders}  # each invoice linked to its order
    assert all(o["status"] == "Open" and o["fullyShipped"] for o in orders)
    assert views == [[], [], []]
