"""Shared pieces of the Odoo connector tests: a seeded sandbox, a target on it, documents.

The sandbox holds the demo's chart (:data:`integrator.services.demo.ACCOUNTS`): 1000 bank, 1100
card clearing, 1200 receivable, 2100 UK VAT, 4000 textiles, 4300 returns, 6100 fees; taxes
UK-VAT20 (id 1), UK-ZERO (id 2), SN-TVA18 (id 3); XOF active at 780 per pound.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.base import LedgerConfig, MemoryRefStore, PostingDocument, PostingLine
from connectors.ledgers.odoo import OdooTarget
from connectors.ledgers.odoo.facts import forget_facts
from connectors.sandbox.odoo import OdooSandbox
from integrator.services import demo

DAY = date(2026, 11, 20)
RATE = Decimal("0.20")
CENT = Decimal("0.01")
VAT = "1"  # Odoo's id of UK-VAT20 in the seeded sandbox


@contextmanager
def odoo_sandbox(version: int = 17, **kw: Any) -> Iterator[OdooSandbox]:
    """A running sandbox with the demo chart."""
    with OdooSandbox(version=version, **kw) as odoo:
        odoo.seed_chart([(c, n, str(t)) for c, n, t in demo.ACCOUNTS], list(demo.TAX_CODES),
                        currencies={"XOF": Decimal(780)})  # fmt: skip
        yield odoo


def target_for(odoo: OdooSandbox, protocol: str = "auto", **settings: Any) -> OdooTarget:
    """A target on the sandbox, with fresh facts and its own customer store."""
    config = LedgerConfig(connection_id=f"odoo-test-{odoo.port}", platform="odoo", functional_currency="GBP",
                          base_url=odoo.url, credentials=odoo.credentials(),
                          settings={**odoo.ledger_settings(protocol), **settings}, refs=MemoryRefStore())  # fmt: skip
    target = OdooTarget(config)
    forget_facts(target._facts_key)
    return target


def line(code: str, role: str, debit: str = "0", credit: str = "0", **kw: Any) -> PostingLine:
    """A posting line in the demo chart's codes."""
    return PostingLine(account_code=code, role=role, debit=Decimal(debit), credit=Decimal(credit), **kw)


def sale_doc(reference: str, prices: tuple[tuple[str, int], ...] = (("10.00", 3),), *, day: date = DAY,
             per_document_tax: bool = False, currency: str = "GBP", clearing: str = "1100",
             receivable: bool = False) -> PostingDocument:  # fmt: skip
    """A sale with 20 % VAT (per line, or on the total), paid into clearing or left on account."""
    revenue, taxes = [], []
    for unit, qty in prices:
        net = Decimal(unit) * qty
        taxes.append(net * RATE)
        revenue.append(line("4000", "revenue", credit=str(net), quantity=Decimal(qty), unit_price=Decimal(unit),
                            tax_code="UK-VAT20", tax_code_ref=VAT, tax_rate=RATE, description=f"{qty} x {unit}"))  # fmt: skip
    if per_document_tax:
        tax = sum(taxes, Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    else:
        tax = sum((t.quantize(CENT, ROUND_HALF_UP) for t in taxes), Decimal(0))
    total = sum((ln.credit for ln in revenue), Decimal(0)) + tax
    money = (
        line("1200", "receivable", debit=str(total))
        if receivable
        else line(clearing, "clearing", debit=str(total))
    )
    lines = (money, *revenue, line("2100", "tax", credit=str(tax), tax_code="UK-VAT20", tax_code_ref=VAT))
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="invoice" if receivable else "sale",
                           date=day, currency=currency, lines=lines, number=reference, functional_currency="GBP",
                           exchange_rate=None if currency == "GBP" else Decimal(1) / 780)  # fmt: skip


def refund_doc(
    reference: str, amount: str = "10.00", *, related: str = "", money: bool = True
) -> PostingDocument:
    """A refund of ``amount`` net plus VAT: paid back from clearing, or credited to an invoice."""
    net = Decimal(amount)
    tax = (net * RATE).quantize(CENT)
    other = (
        line("1100", "clearing", credit=str(net + tax))
        if money
        else line("1200", "receivable", credit=str(net + tax))
    )
    lines = (line("4300", "returns", debit=str(net), tax_code="UK-VAT20", tax_code_ref=VAT, tax_rate=RATE),
             line("2100", "tax", debit=str(tax), tax_code="UK-VAT20", tax_code_ref=VAT), other)  # fmt: skip
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="refund", date=DAY,
                           currency="GBP", lines=lines, number=reference, functional_currency="GBP",
                           related_remote_id=related)  # fmt: skip


def payment_doc(reference: str, amount: str, invoice_id: str) -> PostingDocument:
    """A customer's payment of an invoice into the bank."""
    lines = (line("1000", "bank", debit=amount), line("1200", "receivable", credit=amount))
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payment", date=DAY,
                           currency="GBP", lines=lines, number=reference, functional_currency="GBP",
                           related_remote_id=invoice_id)  # fmt: skip


def payout_doc(reference: str, gross: str = "100.00", fee: str = "2.10") -> PostingDocument:
    """A payout: clearing to the bank, the processor's fee taken."""
    net = Decimal(gross) - Decimal(fee)
    lines = (
        line("1000", "bank", debit=str(net)),
        line("6100", "fee", debit=fee),
        line("1100", "clearing", credit=gross),
    )
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payout", date=DAY,
                           currency="GBP", lines=lines, number=reference, functional_currency="GBP")  # fmt: skip
