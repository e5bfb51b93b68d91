"""Computing tax, in plain Python.

A :class:`Rule` is the tax of one product tax class in one jurisdiction over a period; its
:class:`Component` levies are charged on the value, or - for a ``compound`` component - on the
value plus the (rounded) non-compound levies before it. Ghana until 2025 is the example: NHIL
2.5 %, GETFund 2.5 % and COVID-19 1 % on the value, then VAT 15 % on the value plus those levies
(an effective 21.9 %); from 1 January 2026 (VAT Act 2025, Act 1151) VAT 15 %, NHIL 2.5 % and
GETFund 2.5 % are all charged on the same value (20 %).

Inclusive prices are split by the rule's effective rate ``r``: the tax is the price times
``r / (1 + r)`` rounded (the VAT fraction), the value is the rest, every levy is computed on that
value and the last levy takes the rounding difference so that the levies add up to the tax.

Delivery follows the goods it carries: a delivery charge on a mixed order (standard and
zero-rated goods) is split over the goods' tax classes in proportion to their values (largest
remainder) and each part is taxed as those goods are.

Rounding is per document and tax class (``rounding="document"``, what an invoice shows: each levy
on the class's total value) or per line (``"line"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from integrator import money

__all__ = ["Component", "Item", "ItemTax", "Rule", "TaxResult", "compute", "levy", "rule_for"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class Component:
    """One levy: ``rate`` a fraction; ``compound`` charges it on value plus earlier levies."""

    name: str
    rate: Decimal
    compound: bool = False


@dataclass(frozen=True)
class Rule:
    """The tax of ``tax_class`` goods in ``jurisdiction`` from ``valid_from`` to ``valid_to``."""

    code: str
    name: str
    jurisdiction: str
    tax_class: str
    valid_from: date
    components: tuple[Component, ...]
    valid_to: date | None = None
    exempt: bool = False

    def applies(self, jurisdiction: str, tax_class: str, on: date) -> bool:
        """True for this jurisdiction and class on ``on``."""
        return (
            self.jurisdiction == jurisdiction.upper()
            and self.tax_class == tax_class
            and self.valid_from <= on
            and (self.valid_to is None or on <= self.valid_to)
        )

    @property
    def effective_rate(self) -> Decimal:
        """Total tax per unit of value (compound levies include the levies under them)."""
        simple = ZERO
        total = ZERO
        for c in self.components:
            if c.compound:
                total += c.rate * (1 + simple)
            else:
                simple += c.rate
                total += c.rate
        return total

    def levies(self, value: Decimal, currency: str) -> list[tuple[str, Decimal]]:
        """Each component's amount on an exclusive ``value``, rounded to the currency."""
        out: list[tuple[str, Decimal]] = []
        simple = ZERO
        for c in self.components:
            base = value + simple if c.compound else value
            amount = money.quantize(base * c.rate, currency)
            if not c.compound:
                simple += amount
            out.append((c.name, amount))
        return out

    def split_inclusive(self, gross: Decimal, currency: str) -> tuple[Decimal, list[tuple[str, Decimal]]]:
        """The value and levies inside a tax-inclusive ``gross``; they add up to it exactly."""
        if not self.components:
            return gross, []
        # The tax fraction first (UK VAT: one sixth of the price at 20 %), then the value.
        rate = self.effective_rate
        tax = money.quantize(gross * rate / (1 + rate), currency)
        value = gross - tax
        levies = self.levies(value, currency)
        difference = tax - sum((a for _, a in levies), ZERO)
        if difference:
            name, amount = levies[-1]
            levies[-1] = (name, amount + difference)
        return value, levies


def levy(base: Decimal, rate: Decimal, *, inclusive: bool) -> Decimal:
    """The exact (unrounded) tax at ``rate`` on ``base``, or inside it when ``inclusive`` - the
    single-rate case sources use when they name a rate but send no amount."""
    return base * rate / (1 + rate) if inclusive else base * rate


def rule_for(rules: list[Rule], jurisdiction: str, tax_class: str, on: date) -> Rule:
    """The rule in force; raises LookupError naming what is missing."""
    for rule in rules:
        if rule.applies(jurisdiction, tax_class, on):
            return rule
    raise LookupError(f"no {tax_class} tax rule for {jurisdiction} on {on}")


@dataclass(frozen=True)
class Item:
    """Something charged: ``amount`` is its price after discount (tax-inclusive when the document's
    prices are); ``delivery`` items follow the goods' tax classes."""

    ref: str
    amount: Decimal
    tax_class: str = "standard"
    delivery: bool = False


@dataclass
class ItemTax:
    """An item's (or a delivery part's) value and levies."""

    ref: str
    tax_class: str
    rule: str
    value: Decimal
    levies: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def tax(self) -> Decimal:
        """The item's tax."""
        return sum((a for _, a in self.levies), ZERO)


@dataclass
class TaxResult:
    """The tax of a document: per item, per levy, and totals."""

    currency: str
    items: list[ItemTax]

    @property
    def tax(self) -> Decimal:
        """All tax of the document."""
        return sum((i.tax for i in self.items), ZERO)

    @property
    def value(self) -> Decimal:
        """The document's value before tax."""
        return sum((i.value for i in self.items), ZERO)

    @property
    def total(self) -> Decimal:
        """Value plus tax: what the customer pays."""
        return self.value + self.tax

    def by_levy(self) -> dict[str, Decimal]:
        """Tax per levy name (NHIL, GETFund, VAT ...)."""
        out: dict[str, Decimal] = {}
        for item in self.items:
            for name, amount in item.levies:
                out[name] = out.get(name, ZERO) + amount
        return out

    def by_rule(self) -> dict[str, Decimal]:
        """Tax per rule code."""
        out: dict[str, Decimal] = {}
        for item in self.items:
            out[item.rule] = out.get(item.rule, ZERO) + item.tax
        return out


def _split_delivery(items: list[Item], currency: str) -> list[Item]:
    """Delivery charges split over the goods' tax classes by the goods' values."""
    goods = [i for i in items if not i.delivery]
    by_class: dict[str, Decimal] = {}
    for g in goods:
        by_class[g.tax_class] = by_class.get(g.tax_class, ZERO) + g.amount
    out = list(goods)
    for d in (i for i in items if i.delivery):
        if not by_class:
            out.append(Item(d.ref, d.amount, d.tax_class))
            continue
        classes = sorted(by_class)
        parts = money.allocate(d.amount, [by_class[c] for c in classes], currency)
        out += [Item(f"{d.ref}:{c}", p, c, delivery=True) for c, p in zip(classes, parts, strict=True) if p]
    return out


def compute(
    items: list[Item], *, jurisdiction: str, on: date, currency: str, inclusive: bool = False,
    rules: list[Rule] | None = None, rounding: str = "document",
) -> TaxResult:  # fmt: skip
    """The tax of a document's items (see the module docstring)."""
    from integrator.services.tax_engine.rules import rules_in_force

    rules = rules if rules is not None else rules_in_force()
    split = _split_delivery(items, currency)
    result: list[ItemTax] = []
    if rounding == "line":
        for item in split:
            rule = rule_for(rules, jurisdiction, item.tax_class, on)
            result.append(_item_tax(item.ref, item.tax_class, rule, item.amount, currency, inclusive))
        return TaxResult(currency, result)
    # Per document: each class's levies on its total value, spread back over its items.
    groups: dict[str, list[Item]] = {}
    for item in split:
        groups.setdefault(item.tax_class, []).append(item)
    for tax_class, members in groups.items():
        rule = rule_for(rules, jurisdiction, tax_class, on)
        whole = _item_tax("", tax_class, rule, sum((m.amount for m in members), ZERO), currency, inclusive)
        weights = [m.amount for m in members]
        values = money.allocate(whole.value, weights, currency)
        shares = [money.allocate(amount, weights, currency) for _, amount in whole.levies]
        for k, m in enumerate(members):
            levies = [(name, shares[j][k]) for j, (name, _) in enumerate(whole.levies)]
            result.append(ItemTax(m.ref, tax_class, rule.code, values[k], levies))
    return TaxResult(currency, result)


def _item_tax(
    ref: str, tax_class: str, rule: Rule, amount: Decimal, currency: str, inclusive: bool
) -> ItemTax:
    if rule.exempt or not rule.components:
        return ItemTax(ref, tax_class, rule.code, amount, [])
    if inclusive:
        value, levies = rule.split_inclusive(amount, currency)
    else:
        value, levies = amount, rule.levies(amount, currency)
    return ItemTax(ref, tax_class, rule.code, value, levies)
