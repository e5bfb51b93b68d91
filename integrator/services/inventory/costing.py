"""Costing of one product's stock, in plain Python: moving weighted average (the default) or FIFO.

A :class:`CostPool` holds what is on hand as receipt lots (``Lot``: quantity and value in the
functional currency). Both methods keep the lots, because the physical flow is first in, first out
whatever the valuation: a cost that arrives late revalues the part of *its* receipt still on hand.

* **Moving average**: an issue costs ``value * quantity / on-hand quantity``; the lots' values
  are kept in proportion so that their sum is the pool's value.
* **FIFO**: an issue takes the oldest lots' own values.

Rules shared by both methods:

* The issue that empties stock takes the whole remaining value, so rounding never leaves a few
  pennies of value on zero stock (and both methods agree on totals once everything is sold).
* Overselling is allowed (a till sells what the books have not received yet): the shortfall is
  costed at the last known unit cost and kept as a *short* bucket; the next receipt prices those
  units at its own cost and returns the difference as a COGS correction.
* A late cost (freight invoiced after receipt) is split: the share of its receipt still on hand is
  added to stock value, the share already sold is expensed.

Amounts are rounded to the functional currency's minor unit at every step (``places``), so what a
movement records is exactly what the journal posts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["AVERAGE", "FIFO", "CostPool", "Issue", "Lot", "Receipt"]

AVERAGE = "average"
FIFO = "fifo"
ZERO = Decimal(0)


def _q(value: Decimal, places: int) -> Decimal:
    """Round half up to ``places`` decimals (the functional currency's minor unit)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@dataclass
class Lot:
    """What is left of one receipt: ``ref`` names it (a shipment line, a return, an adjustment),
    ``received`` is the quantity first received (the base for splitting a late cost)."""

    ref: str
    quantity: Decimal
    value: Decimal
    received: Decimal


@dataclass(frozen=True)
class Issue:
    """The cost of stock going out: ``cost`` leaves stock value (COGS for a sale)."""

    quantity: Decimal
    cost: Decimal


@dataclass(frozen=True)
class Receipt:
    """Stock coming in: ``value`` joins stock; ``correction`` is extra COGS (or less, when
    negative) for units sold before they were received."""

    quantity: Decimal
    value: Decimal
    correction: Decimal


@dataclass(frozen=True)
class LateCost:
    """A late cost split into the share still on hand (``capitalised``) and the share sold
    (``expensed``)."""

    capitalised: Decimal
    expensed: Decimal


@dataclass
class CostPool:
    """One product's costed stock. ``short_quantity`` units were sold without stock, provisionally
    costed at ``short_value``; ``last_unit_cost`` prices such sales."""

    method: str = AVERAGE
    places: int = 2
    lots: list[Lot] = field(default_factory=list)
    short_quantity: Decimal = ZERO
    short_value: Decimal = ZERO
    last_unit_cost: Decimal = ZERO

    # -- reading ----------------------------------------------------------------------------------

    @property
    def on_hand(self) -> Decimal:
        """Units in the lots (never negative)."""
        return sum((lot.quantity for lot in self.lots), ZERO)

    @property
    def quantity(self) -> Decimal:
        """Book quantity: on hand less units oversold."""
        return self.on_hand - self.short_quantity

    @property
    def value(self) -> Decimal:
        """Book value: the lots' values less the provisional cost of units oversold."""
        return sum((lot.value for lot in self.lots), ZERO) - self.short_value

    def unit_cost(self) -> Decimal:
        """The current unit cost (average of what is on hand, else the last known)."""
        on_hand = self.on_hand
        if on_hand > 0:
            return sum((lot.value for lot in self.lots), ZERO) / on_hand
        return self.last_unit_cost

    # -- moving stock -----------------------------------------------------------------------------

    def receive(self, quantity: Decimal, value: Decimal, ref: str) -> Receipt:
        """Receive ``quantity`` units worth ``value``. Units oversold before are priced at this
        receipt's cost first; the difference from their provisional cost is the correction."""
        if quantity <= 0:
            raise ValueError("a receipt needs a positive quantity")
        value = _q(value, self.places)
        correction = ZERO
        remaining_qty, remaining_value = quantity, value
        if self.short_quantity > 0:
            covered = min(quantity, self.short_quantity)
            actual = value if covered == quantity else _q(value * covered / quantity, self.places)
            provisional = (
                self.short_value
                if covered == self.short_quantity
                else _q(self.short_value * covered / self.short_quantity, self.places)
            )
            correction = actual - provisional
            self.short_quantity -= covered
            self.short_value -= provisional
            remaining_qty -= covered
            remaining_value -= actual
        if remaining_qty > 0:
            self.lots.append(Lot(ref, remaining_qty, remaining_value, quantity))
        self.last_unit_cost = value / quantity
        return Receipt(quantity, value, correction)

    def issue(self, quantity: Decimal) -> Issue:
        """Take ``quantity`` units out (a sale, a write-off); returns their cost."""
        if quantity <= 0:
            raise ValueError("an issue needs a positive quantity")
        on_hand = self.on_hand
        from_stock = min(quantity, on_hand)
        cost = ZERO
        if from_stock > 0:
            if self.method == FIFO:
                cost = self._take_fifo(from_stock)
            else:
                cost = self._take_average(from_stock, on_hand)
        short = quantity - from_stock
        if short > 0:
            provisional = _q(short * self.last_unit_cost, self.places)
            self.short_quantity += short
            self.short_value += provisional
            cost += provisional
        return Issue(quantity, cost)

    def _take_average(self, quantity: Decimal, on_hand: Decimal) -> Decimal:
        """Issue at the average cost; the lots shed quantity oldest first and value pro rata."""
        total = sum((lot.value for lot in self.lots), ZERO)
        self.last_unit_cost = total / on_hand
        if quantity == on_hand:
            self.lots.clear()
            return total
        cost = _q(total * quantity / on_hand, self.places)
        left = total - cost
        need = quantity
        kept: list[Lot] = []
        for lot in self.lots:
            take = min(need, lot.quantity)
            need -= take
            if lot.quantity - take > 0:
                kept.append(Lot(lot.ref, lot.quantity - take, lot.value, lot.received))
        # Spread what is left over the lots still on hand, by quantity (largest remainder last).
        kept_qty = sum((lot.quantity for lot in kept), ZERO)
        spread = ZERO
        for lot in kept[:-1]:
            lot.value = _q(left * lot.quantity / kept_qty, self.places)
            spread += lot.value
        if kept:
            kept[-1].value = left - spread
        self.lots = kept
        return cost

    def _take_fifo(self, quantity: Decimal) -> Decimal:
        """Issue the oldest lots at their own values."""
        cost = ZERO
        need = quantity
        while need > 0:
            lot = self.lots[0]
            self.last_unit_cost = lot.value / lot.quantity
            if need >= lot.quantity:
                cost += lot.value
                need -= lot.quantity
                self.lots.pop(0)
                continue
            part = _q(lot.value * need / lot.quantity, self.places)
            lot.value -= part
            lot.quantity -= need
            cost += part
            need = ZERO
        return cost

    def add_late_cost(self, ref: str, amount: Decimal) -> LateCost:
        """A cost of receipt ``ref`` arriving after it: the share of that receipt still on hand
        joins stock value, the rest is expensed (COGS)."""
        amount = _q(amount, self.places)
        lot = next((lot for lot in self.lots if lot.ref == ref), None)
        if lot is None or lot.received <= 0:
            return LateCost(ZERO, amount)
        capitalised = (
            amount if lot.quantity == lot.received else _q(amount * lot.quantity / lot.received, self.places)
        )
        lot.value += capitalised
        return LateCost(capitalised, amount - capitalised)

    # -- persistence ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The pool as JSON-safe data (Decimals as strings)."""
        return {
            "method": self.method,
            "places": self.places,
            "lots": [[lot.ref, str(lot.quantity), str(lot.value), str(lot.received)] for lot in self.lots],
            "short_quantity": str(self.short_quantity),
            "short_value": str(self.short_value),
            "last_unit_cost": str(self.last_unit_cost),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, *, method: str = AVERAGE, places: int = 2) -> CostPool:
        """A pool from :meth:`to_json` data (an empty pool for None)."""
        if not data:
            return cls(method=method, places=places)
        return cls(
            method=data.get("method", method),
            places=int(data.get("places", places)),
            lots=[Lot(r, Decimal(q), Decimal(v), Decimal(n)) for r, q, v, n in data.get("lots", [])],
            short_quantity=Decimal(data.get("short_quantity", "0")),
            short_value=Decimal(data.get("short_value", "0")),
            last_unit_cost=Decimal(data.get("last_unit_cost", "0")),
        )
