"""The data of a fake X-Series store, and a till that rings up sales the way X-Series records them.

The store holds a retailer, outlets, registers, taxes, payment types, sales and register closures,
all in the API 2.0 shapes of ``lightspeed-x-series/api-2.0.openapi.json``. Every change takes the
next value of one account-wide ``version`` counter, as X-Series does, which is what the version
cursor pages on.

:meth:`XSeriesStore.ring_up` is the till: given what a cashier sees (tax-inclusive or exclusive
prices as the outlet displays them, quantities, line and ticket discounts, payments) it writes the
sale as X-Series stores it: unit prices ex tax and after discount with five decimals, unit tax,
line totals, the ticket discount as a line of the retailer's discount product, the sale's
``total_price`` (ex tax) and ``total_tax``. A return is a new sale with negative quantities and
``return_for``. The payments must add up to what is due, or the till refuses the sale.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["Item", "XSeriesStore", "stamp"]

ZERO = Decimal(0)
FIVE = Decimal("0.00001")
#: Statuses whose payments count in a register's payments summary.
COUNTED_STATUSES = frozenset(
    {"CLOSED", "ONACCOUNT", "ONACCOUNT_CLOSED", "LAYBY_CLOSED", "AWAITING_DISPATCH", "AWAITING_PICKUP",
     "DISPATCHED_CLOSED", "PICKED_UP_CLOSED", "SERVICE_CLOSED"}
)  # fmt: skip


def stamp(moment: datetime) -> str:
    """An API 2.0 timestamp (UTC, seconds, ``+00:00``)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _five(value: Decimal) -> Decimal:
    return value.quantize(FIVE, rounding=ROUND_HALF_UP)


def _exp(currency: str) -> Decimal:
    return Decimal(1) if currency in ("XOF", "XAF", "JPY", "UGX", "RWF") else Decimal("0.01")


@dataclass(frozen=True)
class Item:
    """One line as the cashier rings it: the displayed unit price and per-unit discount (tax
    inclusive or exclusive as the outlet displays prices), a quantity (negative for a return)."""

    name: str
    sku: str
    unit_price: Decimal
    quantity: Decimal = Decimal(1)
    discount: Decimal = ZERO
    tax: str = "vat"  # a key of XSeriesStore.tax_rates
    category: str = ""


class XSeriesStore:
    """Retailer data and sales; thread-safe (the sandbox serves requests from several threads)."""

    def __init__(
        self, *, currency: str = "XOF", tax_exclusive: bool = False, name: str = "Kente & Clay"
    ) -> None:
        self.lock = threading.RLock()
        self.currency = currency
        self._version = 10_000
        self.retailer: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "domain_prefix": "kente",
            "name": name,
            "currency": {"code": currency, "symbol": currency},
            "tax_exclusive": tax_exclusive,
            "discount_product_id": str(uuid.uuid4()),
            "no_tax_group_id": str(uuid.uuid4()),
            "version": "1",
        }
        self.outlets: dict[str, dict[str, Any]] = {}
        self.registers: dict[str, dict[str, Any]] = {}
        self.taxes: dict[str, dict[str, Any]] = {}
        self.tax_rates: dict[
            str, tuple[str, list[tuple[str, Decimal]]]
        ] = {}  # key -> (tax id, [(rate id, rate)])
        self.payment_types: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.sales: dict[str, dict[str, Any]] = {}
        self.closures: list[dict[str, Any]] = []

    # -- versions ----------------------------------------------------------------------------

    def next_version(self) -> int:
        """The next value of the account-wide version counter."""
        with self.lock:
            self._version += 1
            return self._version

    # -- set-up ------------------------------------------------------------------------------

    def add_outlet(
        self, name: str, *, time_zone: str = "Africa/Dakar", display_prices: str = "inclusive"
    ) -> str:
        """An outlet; returns its id."""
        outlet_id = str(uuid.uuid4())
        with self.lock:
            self.outlets[outlet_id] = {
                "id": outlet_id, "name": name, "time_zone": time_zone, "currency": self.currency,
                "currency_symbol": self.currency, "display_prices": display_prices, "deleted_at": None,
                "version": self.next_version(),
            }  # fmt: skip
        return outlet_id

    def add_register(self, name: str, outlet_id: str) -> str:
        """A register of an outlet (closed); returns its id."""
        register_id = str(uuid.uuid4())
        with self.lock:
            self.registers[register_id] = {
                "id": register_id, "name": name, "outlet_id": outlet_id, "is_open": False,
                "register_open_time": None, "register_close_time": None,
                "invoice_prefix": f"{name[:1].upper()}{len(self.registers) + 1}-",
                "invoice_suffix": "", "invoice_sequence": 0, "deleted_at": None, "version": self.next_version(),
                "_sequence": 0, "_float": "0",
            }  # fmt: skip
        return register_id

    def add_tax(self, key: str, name: str, rate: Decimal, *more: tuple[str, Decimal]) -> str:
        """A tax (``rate`` as a fraction), with further named rates for a compound tax (a state
        and a city sales tax on one line); returns the tax id lines carry."""
        tax_id = str(uuid.uuid4())
        rates = [(str(uuid.uuid4()), name, rate)] + [(str(uuid.uuid4()), n, r) for n, r in more]
        with self.lock:
            self.taxes[tax_id] = {
                "id": tax_id, "name": name if not more else f"{name} + " + " + ".join(n for n, _ in more),
                "display_name": name, "is_default": not self.taxes, "deleted_at": None,
                "version": self.next_version(),
                "rates": [{"id": rid, "name": n, "display_name": n, "rate": r} for rid, n, r in rates],
            }  # fmt: skip
            self.tax_rates[key] = (tax_id, [(rid, r) for rid, _, r in rates])
        return tax_id

    def rate_names(self) -> dict[str, tuple[str, Decimal]]:
        """rate id -> (name, rate) over every tax."""
        return {r["id"]: (r["name"], r["rate"]) for t in self.taxes.values() for r in t["rates"]}

    def add_payment_type(self, name: str, type_id: int = 1) -> str:
        """A retailer payment type; returns its id."""
        type_uuid = str(uuid.uuid4())
        with self.lock:
            self.payment_types[type_uuid] = {
                "id": type_uuid, "name": name, "type_id": type_id, "deleted_at": None,
                "version": self.next_version(),
            }  # fmt: skip
        return type_uuid

    def payment_type(self, name: str) -> str:
        """The id of the payment type called ``name``."""
        for type_id, pt in self.payment_types.items():
            if pt["name"] == name:
                return type_id
        raise KeyError(f"no payment type {name!r}")

    def outlet_inclusive(self, outlet_id: str) -> bool:
        """Whether the outlet shows (and the cashier enters) tax-inclusive prices."""
        return str(self.outlets[outlet_id].get("display_prices")) == "inclusive"

    # -- the till ----------------------------------------------------------------------------

    def ring_up(
        self,
        register_id: str,
        items: list[Item],
        payments: list[tuple[str, Decimal]],
        *,
        sale_date: datetime,
        ticket_discount: Decimal = ZERO,
        status: str = "CLOSED",
        return_for: str | None = None,
        note: str = "",
        customer_id: str | None = None,
        adjustments: list[dict[str, Any]] | None = None,
        custom_charges: list[tuple[str, Decimal, str]] | None = None,
    ) -> dict[str, Any]:
        """Record a sale as X-Series stores it and return a copy. ``payments`` are (payment type
        name, amount) pairs; a negative cash payment on a sale is change handed back."""
        with self.lock:
            register = self.registers[register_id]
            outlet_id = register["outlet_id"]
            inclusive = self.outlet_inclusive(outlet_id)
            lines = [self._line(item, register_id, inclusive, i) for i, item in enumerate(items)]
            if ticket_discount:
                lines.append(
                    self._ticket_discount(ticket_discount, items[0].tax, register_id, inclusive, len(lines))
                )
            total_price = sum((ln["price_total"] for ln in lines), ZERO)
            total_tax = sum((ln["tax_total"] for ln in lines), ZERO)
            extra = sum((Decimal(str(a["value"])) for a in adjustments or [] if a.get("type") == "TIP"), ZERO)
            charges = self._charges(custom_charges or [])
            if charges:
                extra += charges["total_incl"]
            due = (total_price + total_tax + extra).quantize(_exp(self.currency), rounding=ROUND_HALF_UP)
            paid = sum((amount for _, amount in payments), ZERO)
            if status in COUNTED_STATUSES - {"ONACCOUNT"} and paid != due:
                raise ValueError(f"the payments {paid} do not settle the {due} due")
            sale_id = str(uuid.uuid4())
            register["invoice_sequence"] += 1
            when = stamp(sale_date)
            taxes: dict[str, Decimal] = {}
            for ln in lines:
                for comp in ln["tax_components"]:
                    taxes[comp["rate_id"]] = taxes.get(comp["rate_id"], ZERO) + comp["total_tax"]
            rate_names = self.rate_names()
            sale = {
                "id": sale_id,
                "outlet_id": outlet_id,
                "register_id": register_id,
                "user_id": "b1ed6158-f019-11e3-a0f5-b8ca3a64f8f4",
                **({"customer_id": customer_id} if customer_id else {}),
                "invoice_number": f"{register['invoice_prefix']}{register['invoice_sequence']}",
                "receipt_number": f"{register['invoice_prefix']}{register['invoice_sequence']}",
                "source": "USER",
                "status": status,
                "note": note,
                "short_code": sale_id[:6],
                "return_for": return_for,
                "total_price": total_price,
                "total_tax": total_tax,
                "total_loyalty": ZERO,
                "created_at": when,
                "updated_at": when,
                "sale_date": when,
                "deleted_at": None,
                "version": self.next_version(),
                "line_items": lines,
                "payments": [
                    {
                        "id": str(uuid.uuid4()),
                        "register_id": register_id,
                        "outlet_id": outlet_id,
                        "retailer_payment_type_id": self.payment_type(name),
                        "payment_type_id": str(self.payment_types[self.payment_type(name)]["type_id"]),
                        "name": name,
                        "amount": amount,
                        "payment_date": when,
                    }
                    for name, amount in payments
                ],
                "adjustments": list(adjustments or []),
                **({"ecom_custom_charges": charges} if charges else {}),
                "taxes": [
                    {"id": rid, "name": rate_names[rid][0], "rate": rate_names[rid][1], "amount": amount}
                    for rid, amount in taxes.items()
                ],
            }
            self.sales[sale_id] = sale
            return copy.deepcopy(sale)

    def _line(self, item: Item, register_id: str, inclusive: bool, index: int) -> dict[str, Any]:
        tax_id, rates = self.tax_rates[item.tax]
        rate = sum((r for _, r in rates), ZERO)
        price_shown = item.unit_price - item.discount
        if inclusive:
            price = _five(price_shown / (1 + rate))
            discount = _five(item.discount / (1 + rate))
        else:
            price, discount = _five(price_shown), _five(item.discount)
        unit_taxes = [(rid, _five(price * r)) for rid, r in rates]
        unit_tax = sum((t for _, t in unit_taxes), ZERO)
        qty = item.quantity
        return {
            "id": str(uuid.uuid4()),
            "product_id": self._product(item),
            "tax_id": tax_id,
            "quantity": qty,
            "price": price,
            "price_total": _five(price * qty),
            "discount": discount,
            "discount_total": _five(discount * qty),
            "tax": unit_tax,
            "tax_total": _five(unit_tax * qty),
            "cost": ZERO,
            "cost_total": ZERO,
            "loyalty_value": ZERO,
            "price_set": False,
            "status": "CONFIRMED",
            "sequence": index,
            "is_return": qty < 0,
            "tax_components": [{"rate_id": rid, "total_tax": _five(t * qty)} for rid, t in unit_taxes],
            "note": None,
        }

    def _charges(self, charges: list[tuple[str, Decimal, str]]) -> dict[str, Any] | None:
        """eCom custom charges (shipping and the like): (name, amount ex tax, tax key)."""
        if not charges:
            return None
        out: list[dict[str, Any]] = []
        for name, amount, tax_key in charges:
            _, rates = self.tax_rates[tax_key]
            parts = [
                (rid, (amount * r).quantize(_exp(self.currency), rounding=ROUND_HALF_UP)) for rid, r in rates
            ]
            tax = sum((t for _, t in parts), ZERO)
            out.append({"name": name, "source_id": str(uuid.uuid5(uuid.NAMESPACE_OID, name)), "total": amount,
                        "total_tax": tax, "total_incl": amount + tax,
                        "tax_components": [{"rate_id": rid, "total_tax": t} for rid, t in parts]})  # fmt: skip
        return {
            "total": sum((c["total"] for c in out), ZERO),
            "total_tax": sum((c["total_tax"] for c in out), ZERO),
            "total_incl": sum((c["total_incl"] for c in out), ZERO),
            "charges": out,
        }

    def _product(self, item: Item) -> str:
        """The product a line sells (API 2.0 lines carry only its id), made on first sale."""
        product_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.retailer['id']}:{item.sku}"))
        if product_id not in self.products:
            type_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"type:{item.category}"))
            self.products[product_id] = {
                "id": product_id, "name": item.name, "sku": item.sku, "handle": item.sku.lower(), "active": True,
                "product_type_id": type_id, "type": {"id": type_id, "name": item.category},
                "price_including_tax": item.unit_price, "deleted_at": None, "version": self.next_version(),
            }  # fmt: skip
        return product_id

    def _ticket_discount(
        self, amount: Decimal, tax_key: str, register_id: str, inclusive: bool, index: int
    ) -> dict[str, Any]:
        """The retailer's discount product with a negative price: how X-Series books a sale-level
        discount (``amount`` as the cashier entered it: tax-inclusive in an inclusive outlet)."""
        tax_id, rates = self.tax_rates[tax_key]
        rate = sum((r for _, r in rates), ZERO)
        price = -_five(amount / (1 + rate)) if inclusive else -_five(amount)
        parts = [(rid, _five(price * r)) for rid, r in rates]
        tax = sum((t for _, t in parts), ZERO)
        return {
            "id": str(uuid.uuid4()), "product_id": self.retailer["discount_product_id"], "tax_id": tax_id, "quantity": Decimal(1), "price": price, "price_total": price,
            "discount": ZERO, "discount_total": ZERO, "tax": tax, "tax_total": tax, "cost": ZERO, "cost_total": ZERO,
            "loyalty_value": ZERO, "price_set": True, "status": "CONFIRMED", "sequence": index, "is_return": False,
            "tax_components": [{"rate_id": rid, "total_tax": t} for rid, t in parts], "note": None,
        }  # fmt: skip

    def void(self, sale_id: str, *, at: datetime) -> dict[str, Any]:
        """Void a sale: status VOIDED, a new version (its payments no longer count)."""
        with self.lock:
            sale = self.sales[sale_id]
            sale["status"] = "VOIDED"
            sale["updated_at"] = stamp(at)
            sale["version"] = self.next_version()
            return copy.deepcopy(sale)

    def touch(self, sale_id: str, *, at: datetime, note: str) -> dict[str, Any]:
        """Change a sale's note (a new version with the same money)."""
        with self.lock:
            sale = self.sales[sale_id]
            sale["note"] = note
            sale["updated_at"] = stamp(at)
            sale["version"] = self.next_version()
            return copy.deepcopy(sale)

    # -- registers ---------------------------------------------------------------------------

    def open_register(self, register_id: str, *, at: datetime, cash_float: Decimal = ZERO) -> None:
        """Open a register session (with a float in the drawer)."""
        with self.lock:
            register = self.registers[register_id]
            register.update(is_open=True, register_open_time=stamp(at), register_close_time=None,
                            version=self.next_version())  # fmt: skip
            register["_sequence"] += 1
            register["_closure_id"] = str(uuid.uuid4())
            register["_float"] = str(cash_float)

    def payments_summary(self, register_id: str) -> dict[str, Any]:
        """What the register took per payment type in its current (or last) session."""
        with self.lock:
            register = self.registers[register_id]
            opened = register.get("register_open_time")
            closed = register.get("register_close_time")
            totals = {type_id: ZERO for type_id in self.payment_types}
            for sale in self.sales.values():
                if sale["register_id"] != register_id or sale["status"] not in COUNTED_STATUSES:
                    continue
                if (opened and sale["sale_date"] < opened) or (closed and sale["sale_date"] > closed):
                    continue
                for p in sale["payments"]:
                    totals[p["retailer_payment_type_id"]] += p["amount"]
            places = _exp(self.currency)
            return {
                "register_open_time": opened,
                "register_closure_sequence_number": register["_sequence"],
                "register_closure_id": register.get("_closure_id"),
                "payments": [
                    {
                        "payment_type_id": type_id,
                        "payment_type_name": self.payment_types[type_id]["name"],
                        "total": format(total.quantize(places), "f"),
                    }
                    for type_id, total in totals.items()
                ],
            }

    def close_register(self, register_id: str, counted: Mapping[str, Any], *, at: datetime) -> dict[str, Any]:
        """Close the session with what was counted per payment type id; returns the closure."""
        with self.lock:
            register = self.registers[register_id]
            register.update(is_open=False, register_close_time=stamp(at), version=self.next_version())
            summary = self.payments_summary(register_id)
            closure = {
                "id": summary["register_closure_id"],
                "register_id": register_id,
                "outlet_id": register["outlet_id"],
                "register_open_time": summary["register_open_time"],
                "register_close_time": stamp(at),
                "register_closure_sequence_number": summary["register_closure_sequence_number"],
                "cash_float": register["_float"],
                "cash_movements_total": "0",
                "payments": [
                    {**line, "counted": str(counted.get(line["payment_type_id"], line["total"]))}
                    for line in summary["payments"]
                ],
            }
            self.closures.append(closure)
            return copy.deepcopy(closure)

    # -- fixtures ----------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """The account's set-up (not its sales) as plain data, for a fixture file."""
        with self.lock:
            return {
                "retailer": copy.deepcopy(self.retailer),
                "outlets": [self.public(o) for o in self.outlets.values()],
                "registers": [self.public(r) for r in self.registers.values()],
                "taxes": copy.deepcopy(list(self.taxes.values())),
                "payment_types": copy.deepcopy(list(self.payment_types.values())),
                "products": copy.deepcopy(list(self.products.values())),
            }

    def load(self, data: Mapping[str, Any]) -> None:
        """Replace the account's set-up with a fixture's (see :meth:`export`)."""
        with self.lock:
            self.retailer = copy.deepcopy(dict(data["retailer"]))
            self.currency = self.retailer["currency"]["code"]
            self.outlets = {o["id"]: {**o} for o in data.get("outlets", [])}
            self.registers = {
                r["id"]: {"_sequence": 0, "_float": "0", **r} for r in data.get("registers", [])
            }
            self.taxes = {t["id"]: copy.deepcopy(t) for t in data.get("taxes", [])}
            self.tax_rates = {
                t["id"]: (t["id"], [(r["id"], Decimal(str(r["rate"]))) for r in t["rates"]])
                for t in self.taxes.values()
            }
            self.payment_types = {p["id"]: {**p} for p in data.get("payment_types", [])}
            self.products = {p["id"]: copy.deepcopy(p) for p in data.get("products", [])}
            self._bump(data)

    def add_sale(self, sale: Mapping[str, Any]) -> None:
        """Store a sale as given (a fixture), keeping its version."""
        with self.lock:
            self.sales[sale["id"]] = copy.deepcopy(dict(sale))
            self._bump({"sales": [sale]})

    def _bump(self, data: Mapping[str, Any]) -> None:
        versions = [
            int(o["version"]) for group in data.values() if isinstance(group, list)
            for o in group if isinstance(o, Mapping) and str(o.get("version", "")).isdigit()
        ]  # fmt: skip
        self._version = max([self._version, *versions])

    # -- reading -----------------------------------------------------------------------------

    def sales_after(self, after: int, before: int | None, limit: int) -> list[dict[str, Any]]:
        """Sales with after < version (< before), in version order, at most ``limit``."""
        with self.lock:
            chosen = sorted(
                (
                    s
                    for s in self.sales.values()
                    if s["version"] > after and (before is None or s["version"] < before)
                ),
                key=lambda s: s["version"],
            )[:limit]
            return [copy.deepcopy(s) for s in chosen]

    @staticmethod
    def public(obj: Mapping[str, Any]) -> dict[str, Any]:
        """An object without the sandbox's private bookkeeping keys (a seeded malformed one, not
        an object at all, is served as it is)."""
        if not isinstance(obj, Mapping):
            return obj
        return {k: v for k, v in obj.items() if not str(k).startswith("_")}
