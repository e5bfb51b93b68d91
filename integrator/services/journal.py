"""Journal: canonical documents become balanced double entry through the mapping version in force.

See docs/accounting-model.md for the worked examples. In short, for a sale:

    Dr clearing (per tender: card, cash ...)     what the customer paid
    Dr gift card liability                        gift cards redeemed
    Dr discounts (contra-revenue)                 discounts, tax-exclusive      [discount_mode=contra]
       Cr revenue (per SKU / category)            line net of tax (+ discount in contra mode)
       Cr tax liability (per tax rate)            tax charged
       Cr shipping income                         shipping net of tax
       Cr tips                                    tips
       Cr gift card liability                     gift cards sold
    Dr/Cr rounding                                any per-line vs per-document rounding difference

A refund is the mirror image (returns account instead of revenue when mapped). A payout moves the
clearing balance to the bank, with fees as an expense, so the bank line equals the real deposit.
Every line records the mapping rule that chose its account.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from integrator import money
from integrator.canonical import (
    CanonicalDocument,
    CashCount,
    Dispute,
    Invoice,
    LineItem,
    Payment,
    Payout,
    Refund,
    Sale,
    ShippingLine,
    TaxLine,
)
from integrator.choices import EntryKind, RuleKind
from integrator.models import JournalEntry, JournalLine, MappingRule, Transaction
from integrator.services.mappings import RuleBook
from integrator.services.transactions import VOID_STATUSES, expected_total

__all__ = [
    "DraftLine",
    "NeedsMapping",
    "Unbalanced",
    "create_entry",
    "draft_lines",
    "draft_specs",
    "reversal_specs",
]

ZERO = Decimal(0)


class NeedsMapping(Exception):
    """Some value has no mapping rule; ``missing`` lists them in words."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("; ".join(missing))
        self.missing = missing


class Unbalanced(Exception):
    """Debits and credits differ (a bug or a document that slipped past validation)."""


@dataclass
class DraftLine:
    """A journal line before it is saved: a signed amount (positive = debit) on a rule's account."""

    role: str
    rule: MappingRule
    amount: Decimal
    description: str = ""
    tax_rate: Decimal | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax_code_id: Any = None  # on revenue and shipping lines: the tax code that applies to them


class _Builder:
    """Collects draft lines for one document; ``sign`` is +1 for sales, -1 for refunds."""

    def __init__(self, book: RuleBook, currency: str) -> None:
        self.book = book
        self.currency = currency
        self.lines: list[DraftLine] = []

    def add(
        self, role: str, rule: MappingRule | None, amount: Decimal, description: str = "", **kw: object
    ) -> None:
        if rule is None or amount == 0:
            return
        self.lines.append(DraftLine(role, rule, money.quantize(amount, self.currency), description, **kw))  # type: ignore[arg-type]

    def balance(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)

    # -- pieces shared by sales, refunds and invoices -------------------------------------------

    def line_tax(self, tax_lines: tuple[TaxLine, ...]) -> tuple[Any, Decimal | None]:
        """The tax code and combined rate a taxed line carries (ledgers tax each sales line)."""
        if not tax_lines:
            return None, None
        rule = self.book.find(RuleKind.TAX, tax=tax_lines[0].title)
        return (rule.tax_code_id if rule else None), sum((t.rate for t in tax_lines), ZERO)

    def product_line(self, ln: LineItem, sign: int, *, inclusive: bool, returns: bool = False) -> None:
        cur = self.currency
        gross = ln.gross(cur)
        tax = ln.tax()
        what = f"SKU {ln.sku}" if ln.sku else f"Product {ln.name!r}"
        if ln.kind == "gift_card":
            rule = self.book.require(RuleKind.GIFT_CARD, "Gift cards")
            self.add("gift_card", rule, -sign * (gross - ln.discount), f"Gift card {ln.name}")
            return
        net_after = gross - ln.discount - (tax if inclusive else ZERO)
        rule = None
        if returns:
            rule = self.book.find(RuleKind.RETURNS, sku=ln.sku, category=ln.category)
        rule = rule or self.book.require(RuleKind.REVENUE, what, sku=ln.sku, category=ln.category)
        discount_excl = ZERO
        tax_code_id, rate = self.line_tax(ln.tax_lines)
        if self.book.discount_mode == "contra" and ln.discount:
            rates = sum((t.rate for t in ln.tax_lines), ZERO)
            discount_excl = (
                money.quantize(ln.discount / (1 + rates), cur) if inclusive and rates else ln.discount
            )
            disc_rule = self.book.require(RuleKind.DISCOUNT, "Discounts", sku=ln.sku, category=ln.category)
            # The discount reduces the taxable amount of its line: it carries the line's tax code,
            # so a ledger that taxes by code taxes the price net of discount, as the source did.
            self.add(
                "discount",
                disc_rule,
                sign * discount_excl,
                f"Discount on {ln.name}",
                tax_code_id=tax_code_id,
                tax_rate=rate,
            )
        self.add(
            "returns" if returns and rule is not None and rule.kind == RuleKind.RETURNS else "revenue",
            rule,
            -sign * (net_after + discount_excl),
            ln.name,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            tax_code_id=tax_code_id,
            tax_rate=rate,
        )
        self.taxes(ln.tax_lines, sign)

    def taxes(self, tax_lines: tuple, sign: int) -> None:
        for t in tax_lines:
            rule = self.book.require(RuleKind.TAX, f"Tax {t.title!r}", tax=t.title)
            self.add("tax", rule, -sign * t.amount, t.title, tax_rate=t.rate)

    def shipping_line(self, s: ShippingLine, sign: int, *, inclusive: bool) -> None:
        net = s.amount - s.discount - (s.tax() if inclusive else ZERO)
        rule = self.book.require(RuleKind.SHIPPING, "Shipping")
        tax_code_id, rate = self.line_tax(s.tax_lines)
        self.add("shipping", rule, -sign * net, s.title or "Shipping", tax_code_id=tax_code_id, tax_rate=rate)
        self.taxes(s.tax_lines, sign)

    def tenders(self, doc: Sale | Refund, sign: int) -> None:
        paid = ZERO
        for t in doc.tenders:
            paid += t.amount
            if t.kind == "gift_card":
                rule = self.book.require(RuleKind.GIFT_CARD, "Gift cards")
                self.add("gift_card", rule, sign * t.amount, "Gift card redeemed")
                continue
            # Processing fees are booked from the payout that deducts them (the bank's truth),
            # never here as well: the clearing account carries the gross.
            rule = self.book.require(
                RuleKind.CLEARING, f"Payment method {t.method!r}", method=t.method or t.gateway
            )
            self.add("clearing", rule, sign * t.amount, t.method)
        rest = doc.total - paid
        if rest:
            kind = RuleKind.CLEARING if not doc.tenders else RuleKind.RECEIVABLE
            what = "Payments" if not doc.tenders else "Unpaid balance"
            rule = self.book.require(kind, what)
            self.add("clearing" if kind == RuleKind.CLEARING else "receivable", rule, sign * rest, what)

    def rounding(self, target_total: Decimal, computed_total: Decimal, sign: int) -> None:
        """Put the per-line vs per-document rounding difference on the rounding account."""
        diff = target_total - computed_total
        if diff:
            rule = self.book.require(RuleKind.ROUNDING, "Rounding")
            self.add("rounding", rule, -sign * diff, "Rounding difference")


def draft_lines(doc: CanonicalDocument, book: RuleBook) -> list[DraftLine]:
    """The journal lines of a document under a rule book; raises NeedsMapping or Unbalanced."""
    b = _Builder(book, doc.currency)
    if isinstance(doc, Sale) and str(doc.status).lower() in VOID_STATUSES:
        # A voided ticket books nothing; an earlier revision that booked it is reversed by the caller.
        return []
    if isinstance(doc, Sale | Invoice):
        for ln in doc.lines:
            b.product_line(ln, +1, inclusive=doc.prices_include_tax)
        for s in doc.shipping:
            b.shipping_line(s, +1, inclusive=doc.prices_include_tax)
        if isinstance(doc, Sale):
            b.add("tip", book.require(RuleKind.TIP, "Tips") if doc.tips else None, -doc.tips, "Tips")
            b.tenders(doc, +1)
        else:
            b.add(
                "receivable", book.require(RuleKind.RECEIVABLE, "Accounts receivable"), doc.total, doc.number
            )
        b.rounding(doc.total, expected_total(doc), +1)
    elif isinstance(doc, Refund):
        for ln in doc.lines:
            b.product_line(ln, -1, inclusive=doc.prices_include_tax, returns=True)
        for s in doc.shipping:
            b.shipping_line(s, -1, inclusive=doc.prices_include_tax)
        if doc.adjustment:
            rule = book.find(RuleKind.RETURNS) or book.require(RuleKind.ADJUSTMENT, "Refund adjustments")
            b.add("returns", rule, doc.adjustment, "Refund adjustment")
        b.tenders(doc, -1)
        b.rounding(doc.total, expected_total(doc), -1)
    elif isinstance(doc, Payment):
        if doc.sale_external_id:
            # The tender of a sale (a Square payment, a Shopify transaction): the sale already
            # debits clearing with it, so booking the payment too would count the money twice.
            return []
        clearing = book.require(
            RuleKind.CLEARING, f"Payment method {doc.method!r}", method=doc.method or doc.gateway
        )
        b.add("clearing", clearing, doc.amount, doc.method or doc.gateway)
        b.add(
            "receivable",
            book.require(RuleKind.RECEIVABLE, "Payments received"),
            -doc.amount,
            "Payment received",
        )
        # As for sales, the fee is booked from the payout that deducts it.
    elif isinstance(doc, Payout):
        if doc.status != "paid":
            return []
        clearing = book.require(RuleKind.CLEARING, "Payout clearing", method=doc.metadata.get("gateway", ""))
        adjust = None
        fees = ZERO
        for item in doc.items:
            if item.booked_by:
                # The movement was booked by its own document (a Dispute books the chargeback and
                # its fee against clearing): the payout only takes it out of clearing, at its net.
                b.add("clearing", clearing, -item.net, item.description or item.type)
                continue
            fees += item.fee
            if item.type in ("adjustment", "dispute", "reserve", "reserved_funds", "chargeback"):
                adjust = adjust or book.require(RuleKind.ADJUSTMENT, "Payout adjustments")
                b.add("adjustment", adjust, -item.amount, item.description or item.type)
            else:
                b.add("clearing", clearing, -item.amount, item.description or item.type)
        if not doc.items:
            b.add("clearing", clearing, -doc.amount, "Payout")
        b.add("fee", book.require(RuleKind.FEE, "Payout fees") if fees else None, fees, "Fees")
        b.add(
            "bank", book.require(RuleKind.BANK, "Payout deposits"), doc.amount, f"Deposit {doc.external_id}"
        )
    elif isinstance(doc, Dispute):
        if doc.status == "won":
            return []
        clearing = book.require(RuleKind.CLEARING, "Dispute clearing")
        b.add(
            "adjustment", book.require(RuleKind.ADJUSTMENT, "Disputes"), doc.amount, f"Dispute {doc.reason}"
        )
        b.add("fee", book.require(RuleKind.FEE, "Dispute fees") if doc.fee else None, doc.fee, "Dispute fee")
        b.add("clearing", clearing, -(doc.amount + doc.fee), "Dispute")
    elif isinstance(doc, CashCount):
        _cash_count(b, doc)
    if book.missing:
        raise NeedsMapping(list(book.missing))
    if b.balance() != 0:
        raise Unbalanced(f"debits and credits differ by {b.balance()} {doc.currency}")
    return b.lines


def _cash_count(b: _Builder, doc: CashCount) -> None:
    """A drawer count: over/short against the drawer's clearing account, and any float change
    between the drawer and the safe or bank."""
    book = b.book
    drawer = book.require(RuleKind.CLEARING, f"Payment method {doc.method!r}", method=doc.method)
    if doc.over_short:
        over_short = book.require(RuleKind.CASH_OVER_SHORT, "Cash over and short")
        b.add("clearing", drawer, doc.over_short, "Cash over" if doc.over_short > 0 else "Cash short")
        b.add("over_short", over_short, -doc.over_short, "Drawer count difference")
    if doc.float_change:
        source = book.require(RuleKind.CASH_FLOAT, "Cash float")
        b.add("clearing", drawer, doc.float_change, "Float change")
        b.add("float", source, -doc.float_change, "Float change")


def create_entry(
    *,
    line_specs: list[dict[str, Any]],
    reference: str,
    date: Any,
    currency: str,
    memo: str,
    channel_id: Any,
    connection_id: Any,
    kind: str = EntryKind.TRANSACTION,
    txn: Transaction | None = None,
    mapping_version_id: Any = None,
    reverses: JournalEntry | None = None,
    location: str = "",
    register: str = "",
    number: str = "",
) -> JournalEntry:
    """Persist a balanced entry from line specs (JournalLine field dicts with signed ``amount``).

    The caller holds the database transaction. Refuses an unbalanced entry here; on PostgreSQL the
    deferred constraint trigger refuses it again at commit whatever path wrote it.
    """
    total = sum((Decimal(str(spec["amount"])) for spec in line_specs), ZERO)
    if total != 0:
        raise Unbalanced(f"refusing to save {reference}: debits and credits differ by {total} {currency}")
    entry = JournalEntry.objects.create(
        kind=kind,
        transaction=txn,
        transaction_revision=txn.revision if txn else None,
        channel_id=channel_id,
        connection_id=connection_id,
        mapping_version_id=mapping_version_id,
        reference=reference[:120],
        number=number[:120],
        date=date,
        currency=currency,
        memo=memo[:255],
        reverses=reverses,
        location=location[:80],
        register=register[:80],
    )
    rows = []
    for i, spec in enumerate(line_specs):
        fields = dict(spec)
        amount = Decimal(str(fields.pop("amount")))
        rows.append(
            JournalLine(
                entry=entry,
                position=i,
                debit=amount if amount > 0 else ZERO,
                credit=-amount if amount < 0 else ZERO,
                currency=currency,
                **fields,
            )
        )
    JournalLine.objects.bulk_create(rows)
    return entry


def draft_specs(lines: list[DraftLine]) -> list[dict[str, object]]:
    """Line specs for :func:`create_entry` from draft lines (each keeps its winning rule)."""
    return [
        {
            "amount": ln.amount,
            "account_id": ln.rule.account_id,
            "role": ln.role,
            "description": ln.description[:255],
            "tax_code_id": ln.rule.tax_code_id if ln.role == "tax" else ln.tax_code_id,
            "tax_rate": ln.tax_rate,
            "item_ref": ln.rule.item_ref,
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "mapping_rule_id": ln.rule.pk,
        }
        for ln in lines
    ]


def reversal_specs(entry: JournalEntry) -> list[dict[str, object]]:
    """Line specs that exactly undo an entry (same accounts, sides swapped)."""
    return [
        {
            "amount": ln.credit - ln.debit,
            "account_id": ln.account_id,
            "role": ln.role,
            "description": f"Reversal: {ln.description}"[:255],
            "tax_code_id": ln.tax_code_id,
            "tax_rate": ln.tax_rate,
            "item_ref": ln.item_ref,
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "mapping_rule_id": ln.mapping_rule_id,
        }
        for ln in entry.lines.all()
    ]
