"""Register closures (the till's Z report) to cash counts, and the payments summary.

X-Series documents closing a register in two steps: ``GET /api/2.0/registers/{id}/payments_summary``
gives what the register took per payment type since it was opened (``total``, a decimal string),
then ``PUT /api/2.0/registers/{id}/actions/close`` records what the cashier counted per payment type
(``payments[].total``). A ``register_closure.create`` webhook announces the closure. The vendor
publishes no schema for the closure object it delivers, so we read the closure as the union of
those two documented shapes (see docs/platforms/lightspeed_x.md, "Register closures"):

    {"id", "register_id", "outlet_id", "register_open_time", "register_close_time",
     "register_closure_sequence_number",
     "payments": [{"payment_type_id", "payment_type_name", "total": expected, "counted": counted}],
     "cash_float": opening float (optional), "cash_movements_total": cash put in (+) or
     taken out (-) during the session (optional)}

and refuse (quarantine, with the reason) a closure that does not have the cash figures, rather
than guess them. The cash payment type's line becomes a :class:`CashCount`: expected = float +
cash taken + movements, counted = counted cash, float change = the movements (so over/short is
booked against the drawer, and money moved between the drawer and the safe goes to the float
account).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from connectors.sources.lightspeed_x.payment_types import method_for
from connectors.sources.lightspeed_x.values import as_dict, as_list, number, parse_time, text
from integrator import money
from integrator.canonical import CashCount

__all__ = ["cash_count_from_closure", "closure_identity", "payments_summary_totals"]

ZERO = Decimal(0)


def closure_identity(closure: Mapping[str, Any]) -> str:
    """The closure's id (one closure is created once: the id alone is the dedupe key)."""
    closure_id = text(closure.get("id") or closure.get("register_closure_id")).strip()
    if not closure_id:
        raise MalformedPayload("lightspeed_x: the register closure has no id")
    return closure_id


def cash_count_from_closure(
    raw: Mapping[str, Any],
    *,
    currency: str,
    location: str = "",
    register: str = "",
    payment_methods: Mapping[str, Any] | None = None,
) -> list[CashCount]:
    """The drawer count of a closure ([] when the register took no cash and nobody counted any)."""
    closure = as_dict(raw, "register closure")
    closure_id = closure_identity(closure)
    cash = [
        as_dict(p, "closure payment")
        for p in as_list(closure.get("payments"), "closure payments")
        if method_for(as_dict(p, "closure payment"), payment_methods) == "cash"
    ]
    float_ = money.quantize(number(closure.get("cash_float", 0), "cash_float"), currency)
    movements = money.quantize(
        number(closure.get("cash_movements_total", 0), "cash_movements_total"), currency
    )
    if not cash:
        if float_ or movements:
            raise MalformedPayload(f"lightspeed_x: register closure {closure_id} moves cash but counts none")
        return []
    taken = counted = ZERO
    for line in cash:
        if line.get("counted") in (None, ""):
            raise MalformedPayload(
                f"lightspeed_x: register closure {closure_id} has no counted amount for "
                f"{line.get('payment_type_name') or 'cash'}"
            )
        taken += money.quantize(number(line.get("total", 0), "closure expected total"), currency)
        counted += money.quantize(number(line.get("counted"), "closure counted"), currency)
    when = closure.get("register_close_time") or closure.get("created_at")
    return [
        CashCount(
            external_id=f"register_closure:{closure_id}",
            occurred_at=parse_time(when, "register_close_time"),
            currency=currency,
            expected=float_ + taken + movements,
            counted=counted,
            float_change=movements,
            method="cash",
            location=location,
            register=register,
            number=text(closure.get("register_closure_sequence_number")),
            metadata={
                "register_id": text(closure.get("register_id")),
                "register_open_time": text(closure.get("register_open_time")),
            },
        )
    ]


def payments_summary_totals(
    summary: Mapping[str, Any], currency: str, payment_methods: Mapping[str, Any] | None = None
) -> dict[str, Decimal]:
    """``GET /registers/{id}/payments_summary`` as {method: total}, zero lines left out: the
    register's own figures for the session, which a day's summary must match."""
    data = as_dict(summary.get("data", summary), "payments summary")
    totals: dict[str, Decimal] = {}
    for p in as_list(data.get("payments"), "payments summary payments"):
        p = as_dict(p, "payments summary line")
        method = method_for(p, payment_methods)
        amount = money.quantize(number(p.get("total", 0), "payments summary total"), currency)
        totals[method] = totals.get(method, ZERO) + amount
    return {m: v for m, v in totals.items() if v}
