"""Import shipments and their landed cost.

A shipment is a supplier's invoice (lines in the supplier's currency) and the costs of getting the
goods here - freight, insurance, customs duty, clearing and port fees - each in its own currency
and at its own rate (an agreed rate on the cost beats the rate table). Import VAT is recoverable:
it is booked to its own account and never joins the cost of stock.

Receiving converts the invoice at its rate, allocates every cost to the lines by value, quantity,
weight or volume (largest remainder, so not a penny is lost), values the stock at the landed
cost and posts::

    Dr inventory        landed value of the lines
    Dr import VAT       recoverable VAT paid at the border
       Cr payables      the supplier's invoice and costs billed to us
       Cr clearing      costs paid through the clearing agent

Every line is in the functional currency (at the rate each amount was converted at; the foreign
amount is named in the line's description), so the entry balances in one currency like a sale's.

A cost entered after receipt is a late cost: the share of each line's receipt still on hand
revalues stock, the share already sold is expensed as COGS, and it posts the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from integrator import money
from integrator.models import CostAllocation, InventoryBook, Shipment, ShipmentCost, ShipmentLine, Supplier
from integrator.services import audit
from integrator.services.inventory import stock
from integrator.services.inventory.books import Leg, post_stock_entry
from integrator.services.rates import resolve_rate

__all__ = [
    "LineCost",
    "add_cost",
    "allocation_weights",
    "create_shipment",
    "landed_costs",
    "receive_shipment",
]

ZERO = Decimal(0)
Basis = ShipmentCost.Basis
Kind = ShipmentCost.Kind


@dataclass
class LineCost:
    """What a line costs landed (functional currency): its share of the invoice and of each cost."""

    line: ShipmentLine
    goods: Decimal
    costs: dict[Any, Decimal]

    @property
    def landed(self) -> Decimal:
        """Goods plus every allocated cost."""
        return self.goods + sum(self.costs.values(), ZERO)

    @property
    def unit_cost(self) -> Decimal:
        """Landed value per unit, to six places."""
        return (self.landed / self.line.quantity).quantize(Decimal("0.000001"))


def _rate(currency: str, agreed: Decimal | None, day: date, shipment: Shipment) -> Decimal:
    """Functional units per unit of ``currency``: the agreed rate, else the rate table's."""
    connection = shipment.book.connection
    if agreed:
        return agreed
    return resolve_rate(currency, connection.functional_currency, day, connection=connection).rate


def allocation_weights(lines: list[ShipmentLine], basis: str, goods: list[Decimal]) -> list[Decimal]:
    """Each line's weight for a cost allocated on ``basis`` (value: its invoice value)."""
    if basis == Basis.VALUE:
        return goods
    if basis == Basis.QUANTITY:
        return [ln.quantity for ln in lines]
    if basis == Basis.WEIGHT:
        weights = [
            ln.quantity * (ln.unit_weight if ln.unit_weight is not None else ln.product.unit_weight)
            for ln in lines
        ]
    else:
        weights = [
            ln.quantity * (ln.unit_volume if ln.unit_volume is not None else ln.product.unit_volume)
            for ln in lines
        ]
    if not any(weights):
        raise ValueError(
            f"no line has a {basis}: enter it on the lines or the products, or allocate by value"
        )
    return weights


def create_shipment(
    book: InventoryBook, *, reference: str, supplier: Supplier, invoice_date: date, lines: list[dict[str, Any]],
    currency: str = "", invoice_rate: Decimal | None = None, invoice_number: str = "", location: str = "",
    costs: list[dict[str, Any]] = (), actor: Any = None,  # type: ignore[assignment]
) -> Shipment:  # fmt: skip
    """A draft shipment: ``lines`` are dicts of ``product``, ``quantity``, ``unit_price`` (and
    optionally ``unit_weight``, ``unit_volume``); ``costs`` dicts as :func:`add_cost` takes."""
    if not lines:
        raise ValueError("a shipment needs at least one line")
    with transaction.atomic():
        shipment = Shipment.objects.create(
            book=book, reference=reference, supplier=supplier, currency=currency or supplier.currency,
            invoice_date=invoice_date, invoice_rate=invoice_rate, invoice_number=invoice_number,
            location=location or book.default_location, created_by=actor if getattr(actor, "pk", None) else None,
        )  # fmt: skip
        for i, ln in enumerate(lines):
            if Decimal(ln["quantity"]) <= 0:
                raise ValueError(f"line {i + 1}: the quantity must be positive")
            ShipmentLine.objects.create(
                shipment=shipment, position=i, product=ln["product"], quantity=Decimal(ln["quantity"]),
                unit_price=Decimal(ln["unit_price"]), unit_weight=ln.get("unit_weight"),
                unit_volume=ln.get("unit_volume"),
            )  # fmt: skip
        audit.record("shipment.created", obj=shipment, actor=actor,
                     after={"reference": reference, "supplier": supplier.name, "lines": len(lines)})  # fmt: skip
    for cost in costs:
        add_cost(shipment, actor=actor, **cost)
    return shipment


def _functional_cost(cost: ShipmentCost, shipment: Shipment) -> Decimal:
    functional = shipment.book.connection.functional_currency
    rate = _rate(cost.currency, cost.rate, cost.invoice_date or shipment.invoice_date, shipment)
    return money.quantize(cost.amount * rate, functional)


def landed_costs(shipment: Shipment, costs: list[ShipmentCost] | None = None) -> list[LineCost]:
    """The landed cost of each line (nothing saved): invoice converted at the shipment's rate and
    split by line value, then each non-VAT cost converted at its own rate and allocated."""
    functional = shipment.book.connection.functional_currency
    lines = list(shipment.lines.select_related("product"))
    if not lines:
        raise ValueError("a shipment needs at least one line")
    values = [money.quantize(ln.quantity * ln.unit_price, shipment.currency) for ln in lines]
    rate = _rate(shipment.currency, shipment.invoice_rate, shipment.invoice_date, shipment)
    total = money.quantize(sum(values, ZERO) * rate, functional)
    goods = money.allocate(total, values, functional)
    result = [LineCost(ln, g, {}) for ln, g in zip(lines, goods, strict=True)]
    for cost in costs if costs is not None else list(shipment.costs.filter(late=False)):
        if cost.kind == Kind.IMPORT_VAT:
            continue
        amount = _functional_cost(cost, shipment)
        shares = money.allocate(amount, allocation_weights(lines, cost.basis, goods), functional)
        for lc, share in zip(result, shares, strict=True):
            lc.costs[cost.pk] = share
    return result


def _credit_legs(shipment: Shipment, costs: list[ShipmentCost]) -> list[Leg]:
    """The credit side: payables or clearing per cost, at its functional amount."""
    book = shipment.book
    legs: list[Leg] = []
    for cost in costs:
        account = book.clearing_account_id if cost.paid_through == ShipmentCost.PaidThrough.CLEARING else None
        account = account or book.payables_account_id
        functional = cost.functional_amount or ZERO
        legs.append((account, -functional, "", -functional,
                     "payables" if account == book.payables_account_id else "clearing",
                     f"{cost.get_kind_display()} {shipment.reference} ({cost.amount} {cost.currency})"))  # fmt: skip
    return legs


def _vat_leg(shipment: Shipment, cost: ShipmentCost) -> Leg:
    book = shipment.book
    account = book.import_vat_account_id
    if account is None:
        raise ValueError("the inventory book has no import VAT account")
    return (account, cost.functional_amount or ZERO, "", cost.functional_amount or ZERO, "import_vat",
            f"Import VAT {shipment.reference}")  # fmt: skip


def receive_shipment(shipment: Shipment, *, on: date | None = None, actor: Any = None) -> Shipment:
    """Receive a draft shipment into stock at its landed cost and post it (idempotent: a received
    shipment is returned as it is)."""
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update().select_related("book__connection").get(pk=shipment.pk)
        if shipment.status == Shipment.Status.RECEIVED:
            return shipment
        book = shipment.book
        functional = book.connection.functional_currency
        on = on or shipment.invoice_date
        costs = list(shipment.costs.filter(late=False))
        for cost in costs:
            cost.functional_amount = _functional_cost(cost, shipment)
            cost.save(update_fields=["functional_amount"])
        result = landed_costs(shipment, costs)
        legs: list[Leg] = []
        invoice_total = ZERO
        for lc in result:
            line = lc.line
            line.goods_value = lc.goods
            line.landed_value = lc.landed
            line.landed_unit_cost = lc.unit_cost
            line.save(update_fields=["goods_value", "landed_value", "landed_unit_cost"])
            for cost_id, share in lc.costs.items():
                CostAllocation.objects.create(cost_id=cost_id, line=line, amount=share, capitalised=share)
            stock.receive_stock(book, line.product, shipment.location, line.quantity, lc.landed,
                                key=f"ship/{line.pk}", lot=f"ship/{line.pk}", on=on,
                                shipment_line=line, note=f"Shipment {shipment.reference}")  # fmt: skip
            legs.append((book.inventory_account_id, lc.landed, "", lc.landed, "inventory",
                         f"Stock received {shipment.reference}"))  # fmt: skip
            invoice_total += money.quantize(line.quantity * line.unit_price, shipment.currency)
        goods_functional = sum((lc.goods for lc in result), ZERO)
        legs.append((book.payables_account_id, -goods_functional, "", -goods_functional, "payables",
                     f"Supplier invoice {shipment.invoice_number or shipment.reference} "
                     f"({invoice_total} {shipment.currency})"))  # fmt: skip
        legs += [_vat_leg(shipment, c) for c in costs if c.kind == Kind.IMPORT_VAT]
        legs += _credit_legs(shipment, costs)
        entry = post_stock_entry(book, reference=f"inventory/shipment/{shipment.reference}", on=on,
                                 memo=f"Shipment {shipment.reference} from {shipment.supplier} received",
                                 legs=legs)  # fmt: skip
        shipment.status = Shipment.Status.RECEIVED
        shipment.received_on = on
        shipment.entry = entry
        shipment.save(update_fields=["status", "received_on", "entry", "updated_at"])
        audit.record("shipment.received", obj=shipment, actor=actor,
                     after={"reference": shipment.reference, "lines": len(result), "currency": functional,
                            "landed": str(sum((lc.landed for lc in result), ZERO))})  # fmt: skip
    return shipment


def add_cost(
    shipment: Shipment, *, kind: str, amount: Decimal, currency: str, basis: str = Basis.VALUE,
    rate: Decimal | None = None, paid_through: str = ShipmentCost.PaidThrough.PAYABLES,
    invoice_date: date | None = None, description: str = "", actor: Any = None,
) -> ShipmentCost:  # fmt: skip
    """Add a cost to a shipment. Before receipt it simply joins the landed cost; after receipt it
    is a late cost, allocated at once: the share still on hand revalues stock, the share sold is
    expensed, and the entry is posted."""
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update().select_related("book__connection").get(pk=shipment.pk)
        late = shipment.status == Shipment.Status.RECEIVED
        cost = ShipmentCost.objects.create(
            shipment=shipment, kind=kind, amount=money.quantize(amount, currency), currency=currency,
            basis=basis, rate=rate, paid_through=paid_through, invoice_date=invoice_date,
            description=description, late=late,
        )  # fmt: skip
        audit.record("shipment.cost_added", obj=shipment, actor=actor,
                     after={"kind": kind, "amount": str(amount), "currency": currency, "late": late})  # fmt: skip
        if late:
            _book_late_cost(shipment, cost, invoice_date or shipment.received_on or shipment.invoice_date)
    return cost


def _book_late_cost(shipment: Shipment, cost: ShipmentCost, on: date) -> None:
    """Allocate and post a cost that arrived after the goods."""
    book = shipment.book
    cost.functional_amount = _functional_cost(cost, shipment)
    legs: list[Leg] = []
    if cost.kind == Kind.IMPORT_VAT:
        legs.append(_vat_leg(shipment, cost))
    else:
        lines = list(shipment.lines.select_related("product"))
        goods = [ln.goods_value or ZERO for ln in lines]
        functional = book.connection.functional_currency
        shares = money.allocate(
            cost.functional_amount, allocation_weights(lines, cost.basis, goods), functional
        )
        for line, share in zip(lines, shares, strict=True):
            moved = stock.add_late_cost(book, line.product, shipment.location, share, lot=f"ship/{line.pk}",
                                        key=f"late/{cost.pk}/{line.pk}", on=on, shipment_line=line,
                                        note=f"Late {cost.get_kind_display().lower()} {shipment.reference}")  # fmt: skip
            m = moved.movement
            CostAllocation.objects.create(
                cost=cost, line=line, amount=share, capitalised=m.value, expensed=m.cogs
            )
            line.landed_value = (line.landed_value or ZERO) + share
            line.landed_unit_cost = (line.landed_value / line.quantity).quantize(Decimal("0.000001"))
            line.save(update_fields=["landed_value", "landed_unit_cost"])
            legs.append((book.inventory_account_id, m.value, "", m.value, "inventory",
                         f"Late cost to stock {shipment.reference}"))  # fmt: skip
            legs.append((book.cogs_account_id, m.cogs, "", m.cogs, "cogs",
                         f"Late cost of goods already sold {shipment.reference}"))  # fmt: skip
    cost.save(update_fields=["functional_amount"])
    legs += _credit_legs(shipment, [cost])
    n = shipment.costs.filter(late=True).count()
    cost.entry = post_stock_entry(book, reference=f"inventory/shipment/{shipment.reference}/cost/{n}", on=on,
                                  memo=f"Late {cost.get_kind_display().lower()} of shipment {shipment.reference}",
                                  legs=legs)  # fmt: skip
    cost.save(update_fields=["entry"])
