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
from integrator.services.bulk import insert_all
from integrator.services.mappings import RuleBook
from integrator.services.transactions import VOID_STATUSES, expected_total

__all__ = [
    "DraftLine",
    "NeedsMapping",
    "SettlementLot",
    "Unbalanced",
    "apply_rate",
    "build_entry",
    "create_entry",
    "draft_lines",
    "draft_specs",
    "reversal_specs",
]

ZERO = Decimal(0)
MONEY_LIKE_ROLES = frozenset({"clearing", "bank", "receivable"})


class NeedsMapping(Exception):
    """Some value has no mapping rule; ``missing`` lists them in words."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("; ".join(missing))
        self.missing = missing


class Unbalanced(Exception):
    """Debits and credits differ (a bug or a document that slipped past validation)."""


@dataclass
class DraftLine:
    """A journal line before it is saved: a signed amount (positive = debit) on a rule's account.

    ``currency`` is set on a line in another currency than its document (a payout settling a
    foreign clearing balance), ``functional`` when its functional amount is already known (the
    amount booked when that balance was made), ``account_id`` when the account is not the rule's
    (the clearing account the settled sale used)."""

    role: str
    rule: MappingRule | None
    amount: Decimal
    description: str = ""
    tax_rate: Decimal | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax_code_id: Any = None  # on revenue and shipping lines: the tax code that applies to them
    currency: str = ""
    functional: Decimal | None = None
    account_id: Any = None
    rate: Decimal | None = None


@dataclass(frozen=True)
class SettlementLot:
    """What a payout item settles: the clearing booked by its sale or payment, in that document's
    currency, with the functional amount it was booked at."""

    account_id: Any
    currency: str
    amount: Decimal
    functional: Decimal


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
            # never here as well: the clearing account carries the gross. A platform without
            # payouts books them here (a refund's negative fee is a fee given back).
            rule = self.book.require(
                RuleKind.CLEARING, f"Payment method {t.method!r}", method=t.method or t.gateway
            )
            self.add("clearing", rule, sign * t.amount, t.method)
            if self.book.fees_at_sale and t.fee:
                fee_rule = self.book.require(RuleKind.FEE, "Processing fees", method=t.method or t.gateway)
                self.add("fee", fee_rule, t.fee, f"Processing fee ({t.method or t.gateway})")
                self.add("clearing", rule, -t.fee, f"Processing fee ({t.method or t.gateway})")
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


def draft_lines(
    doc: CanonicalDocument,
    book: RuleBook,
    lots: dict[str, SettlementLot] | None = None,
    *,
    refunded: CanonicalDocument | None = None,
) -> list[DraftLine]:
    """The journal lines of a document under a rule book; raises NeedsMapping or Unbalanced.

    ``lots`` (for a payout) maps an item's source id to what that item settles: the clearing is
    then relieved at the amount and currency it was booked in (realised FX is added later by
    :func:`apply_rate`). ``refunded`` (for a refund) is the document it gives money back for: a
    refund of a payment undoes the payment, not a sale."""
    b = _Builder(book, doc.currency)
    if isinstance(doc, Sale | Invoice) and str(doc.status).lower() in VOID_STATUSES:
        # A voided ticket or cancelled invoice books nothing; an earlier revision that booked it is
        # reversed by the caller.
        return []
    if isinstance(doc, Refund) and isinstance(refunded, Payment):
        if refunded.sale_external_id:
            # The payment was a sale's tender and booked nothing: the sale's own refund books it.
            return []
        # A payment on account (a gateway charge with no order, an invoice payment) given back:
        # the money leaves clearing and the customer's balance is owed again.
        b.add(
            "receivable",
            book.require(RuleKind.RECEIVABLE, "Refunds of payments"),
            doc.total,
            "Payment refunded",
        )
        b.tenders(doc, -1)
        if book.missing:
            raise NeedsMapping(list(book.missing))
        return b.lines
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
            lot = (lots or {}).get(item.source_id) if item.source_id else None
            if lot is not None and clearing is not None:
                # Relieve the clearing the sale booked, in its currency and at its booked value;
                # the fee is still the payout's (in the payout's currency).
                gross = item.net if item.booked_by else item.amount
                if lot.currency == doc.currency and lot.amount and gross != lot.amount:
                    share, functional = gross, lot.functional * gross / lot.amount
                else:
                    share, functional = lot.amount, lot.functional
                b.lines.append(
                    DraftLine("clearing", clearing, -share, item.description or item.type, currency=lot.currency,
                              functional=-money_functional(functional), account_id=lot.account_id)
                )  # fmt: skip
                if not item.booked_by:
                    fees += item.fee
                continue
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
    if not any(ln.currency and ln.currency != doc.currency for ln in b.lines) and b.balance() != 0:
        raise Unbalanced(f"debits and credits differ by {b.balance()} {doc.currency}")
    return b.lines


def money_functional(value: Decimal) -> Decimal:
    """A functional amount kept exact until the entry is converted (rounded there)."""
    return value


def apply_rate(
    lines: list[DraftLine],
    rate: Decimal,
    currency: str,
    functional_currency: str,
    *,
    fx_rule: MappingRule | None = None,
) -> list[DraftLine]:
    """Give every line its functional amount at ``rate`` (lines that have one keep it, rounded) so
    that the entry balances in the functional currency as well.

    A difference no larger than the rounding of its lines goes to the largest line. A larger one
    can only come from lines settled at their booked value (a payout): it is the realised exchange
    gain or loss, booked in the functional currency to ``fx_rule``'s account.
    Raises :class:`NeedsMapping` when such a difference has no FX account to go to."""
    for line in lines:
        if line.functional is None:
            line.functional = money.quantize(line.amount * rate, functional_currency)
            line.rate = rate
        else:
            line.functional = money.quantize(line.functional, functional_currency)
            line.rate = abs(line.functional / line.amount) if line.amount else None
    difference = sum((ln.functional or ZERO for ln in lines), ZERO)
    if not difference:
        return lines
    settled = any(ln.currency and (ln.currency != currency or ln.account_id is not None) for ln in lines)
    tolerance = money.quantum(functional_currency) * len(lines)
    if not settled and abs(difference) <= tolerance:
        # The rounding remainder goes to the largest line that is not money: a clearing or
        # receivable balance keeps the exact value of its amount, since that is what a later
        # settlement relieves.
        candidates = [ln for ln in lines if not ln.currency and ln.role not in MONEY_LIKE_ROLES] or [
            ln for ln in lines if not ln.currency
        ]
        largest = max(candidates, key=lambda ln: abs(ln.amount))
        largest.functional = (largest.functional or ZERO) - difference
        return lines
    if fx_rule is None:
        raise NeedsMapping(
            ["Realised exchange differences have no realised exchange gains and losses account"]
        )
    lines.append(
        DraftLine("fx", fx_rule, -difference, "Realised exchange difference", currency=functional_currency,
                  functional=-difference, rate=Decimal(1))
    )  # fmt: skip
    return lines


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


def build_entry(
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
    functional_currency: str = "",
    exchange_rate: Decimal | None = None,
    rate_source: str = "",
    rate_provider: str = "",
    rate_date: Any = None,
) -> tuple[JournalEntry, list[JournalLine]]:
    """A balanced entry and its lines from line specs (JournalLine field dicts with a signed
    ``amount``, and optionally ``currency``, ``functional`` and ``rate`` for the functional
    amount), built but not saved: :func:`create_entry` saves one, a batch saves many with one
    statement per table (``integrator.services.journal_batch``).

    A line without a functional amount must be in the functional currency (it converts at 1).
    The entry must balance in the functional currency and, when all its lines share a currency, in
    that currency too (:class:`Unbalanced` otherwise). On PostgreSQL the deferred constraint
    trigger refuses an unbalanced entry again at commit whatever path wrote it.
    """
    if not functional_currency:
        from integrator.models import LedgerConnection

        functional_currency = LedgerConnection.objects.values_list("functional_currency", flat=True).get(
            pk=connection_id
        )
    rows_data = []
    for spec in line_specs:
        fields = dict(spec)
        amount = Decimal(str(fields.pop("amount")))
        line_currency = str(fields.pop("currency", "") or currency)
        functional = fields.pop("functional", None)
        rate = fields.pop("rate", None)
        if functional is None:
            if line_currency != functional_currency:
                raise Unbalanced(
                    f"refusing to save {reference}: a {line_currency} line has no functional amount"
                )
            functional, rate = amount, Decimal(1)
        rows_data.append((amount, line_currency, Decimal(str(functional)), rate, fields))
    currencies = {c for _, c, _, _, _ in rows_data}
    total = sum((a for a, _, _, _, _ in rows_data), ZERO)
    if len(currencies) <= 1 and total != 0:
        raise Unbalanced(f"refusing to save {reference}: debits and credits differ by {total} {currency}")
    functional_total = sum((f for _, _, f, _, _ in rows_data), ZERO)
    if functional_total != 0:
        raise Unbalanced(
            f"refusing to save {reference}: debits and credits differ by {functional_total} {functional_currency}"
        )
    entry = JournalEntry(
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
        functional_currency=functional_currency,
        exchange_rate=Decimal(1)
        if currency == functional_currency and exchange_rate is None
        else exchange_rate,
        rate_source=rate_source or ("identity" if currency == functional_currency else ""),
        rate_provider=rate_provider[:60],
        rate_date=rate_date,
    )
    rows = []
    for i, (amount, line_currency, functional, rate, fields) in enumerate(rows_data):
        debit_side = amount > 0 or (amount == 0 and functional > 0)
        rows.append(
            JournalLine(
                entry=entry,
                position=i,
                debit=amount if amount > 0 else ZERO,
                credit=-amount if amount < 0 else ZERO,
                currency=line_currency,
                functional_debit=functional if debit_side else ZERO,
                functional_credit=-functional if not debit_side else ZERO,
                rate=rate,
                **fields,
            )
        )
    return entry, rows


def create_entry(**kwargs: Any) -> JournalEntry:
    """Persist a balanced entry from line specs (see :func:`build_entry` for the arguments and
    the checks); the caller holds the database transaction."""
    entry, rows = build_entry(**kwargs)
    entry.save(force_insert=True)
    insert_all(rows)
    return entry


def draft_specs(lines: list[DraftLine]) -> list[dict[str, object]]:
    """Line specs for :func:`create_entry` from draft lines (each keeps its winning rule)."""
    specs: list[dict[str, object]] = []
    for ln in lines:
        spec: dict[str, object] = {
            "amount": ln.amount,
            "account_id": ln.account_id or (ln.rule.account_id if ln.rule else None),
            "role": ln.role,
            "description": ln.description[:255],
            "tax_code_id": (ln.rule.tax_code_id if ln.rule else None) if ln.role == "tax" else ln.tax_code_id,
            "tax_rate": ln.tax_rate,
            "item_ref": ln.rule.item_ref if ln.rule else "",
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "mapping_rule_id": ln.rule.pk if ln.rule else None,
        }
        if ln.currency:
            spec["currency"] = ln.currency
        if ln.functional is not None:
            spec["functional"] = ln.functional
            spec["rate"] = ln.rate
        specs.append(spec)
    return specs


def reversal_specs(entry: JournalEntry) -> list[dict[str, object]]:
    """Line specs that exactly undo an entry (same accounts, sides swapped), in both currencies."""
    return [
        {
            "amount": ln.credit - ln.debit,
            "currency": ln.currency,
            "functional": ln.functional_credit - ln.functional_debit,
            "rate": ln.rate,
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
