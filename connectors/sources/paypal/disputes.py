"""PayPal customer disputes (Customer Disputes v1) -> Dispute documents.

A dispute is keyed by the **capture** it disputes (``disputed_transactions[].seller_transaction_id``),
not by its own id: PayPal reports the same money movement twice, once as the dispute's outcome
(``CUSTOMER.DISPUTE.RESOLVED``) and once as a reversal of the capture (``PAYMENT.CAPTURE.REVERSED``),
and both must end in one document. The newer of the two (by update time) is the one in force.

What the merchant lost is read from ``money_movements`` (what PayPal moved, per party):

* debits of the seller with reason ``DISPUTE_SETTLEMENT``, less credits with the same reason
  (a decision reversed on appeal gives the money back), are the amount withdrawn;
* ``DISPUTE_FEE``, ``CHARGEBACK_FEE`` and ``DISPUTE_SETTLEMENT_FEE`` movements are fees; they are
  kept in the metadata only, because the fee is booked from the PayPal transfer that deducts it
  (Transaction Search lists it as a T01 fee), as for every other PayPal fee.

Status: an open dispute (any stage) is ``needs_response``: PayPal holds the disputed amount from
the balance while it is open. A resolved dispute is ``lost`` when money was withdrawn (by the
movements, or by the outcome when PayPal gives no movements), otherwise ``won`` (nothing to book,
and any earlier booking is reversed).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import Dispute

from .context import Context
from .values import as_list, as_mapping, currency_of, money_value, parse_time, sub, text

__all__ = ["LOST_OUTCOMES", "WON_OUTCOMES", "dispute_from_object", "needs_details"]

LOST_OUTCOMES = frozenset({"RESOLVED_BUYER_FAVOUR", "ACCEPTED"})
WON_OUTCOMES = frozenset({"RESOLVED_SELLER_FAVOUR", "CANCELED_BY_BUYER", "DENIED", "RESOLVED_WITH_PAYOUT"})
_FEE_REASONS = frozenset({"DISPUTE_FEE", "CHARGEBACK_FEE", "DISPUTE_SETTLEMENT_FEE"})


def needs_details(dispute: Mapping[str, Any]) -> bool:
    """True for a summary (a list entry or a slim webhook) that lacks what the document needs."""
    return not dispute.get("disputed_transactions") or (
        dispute.get("status") == "RESOLVED" and "dispute_outcome" not in dispute
    )


def _movements(dispute: Mapping[str, Any], currency: str, what: str) -> tuple[Decimal, Decimal, bool]:
    """(settled away from the seller, fees charged, whether any seller movement was listed)."""
    settled = money.zero(currency)
    fees = money.zero(currency)
    seen = False
    for raw in as_list(dispute.get("money_movements"), f"{what} money_movements"):
        movement = as_mapping(raw, f"{what} money movement")
        if movement.get("affected_party") != "SELLER":
            continue
        seen = True
        sign = Decimal(1) if movement.get("type") == "DEBIT" else Decimal(-1)
        amount = abs(money_value(movement.get("amount"), f"{what} money movement amount", currency))
        if movement.get("reason") in _FEE_REASONS:
            fees += sign * amount
        else:
            settled += sign * amount
    return settled, fees, seen


def dispute_from_object(dispute_obj: Any, ctx: Context) -> Dispute | None:
    """The dispute as a Dispute of the capture it concerns (see the module doc)."""
    dispute = as_mapping(dispute_obj, "dispute")
    dispute_id = text(dispute.get("dispute_id"))
    if not dispute_id:
        raise MalformedPayload("paypal: dispute has no dispute_id")
    what = f"dispute {dispute_id}"
    transactions = [
        as_mapping(t, "disputed transaction") for t in as_list(dispute.get("disputed_transactions"), what)
    ]
    capture_id = next(
        (text(t.get("seller_transaction_id")) for t in transactions if t.get("seller_transaction_id")), ""
    )
    if not capture_id:
        raise MalformedPayload(f"paypal: {what} names no seller transaction")
    currency = currency_of(dispute.get("dispute_amount"), f"{what} dispute_amount")
    disputed = abs(money_value(dispute.get("dispute_amount"), f"{what} dispute_amount", currency))
    settled, fees, moved = _movements(dispute, currency, what)
    outcome = sub(dispute, "dispute_outcome")
    outcome_code = text(outcome.get("outcome_code"))
    paypal_status = text(dispute.get("status"))
    meta = {
        "dispute_id": dispute_id,
        "paypal_status": paypal_status,
        "stage": text(dispute.get("dispute_life_cycle_stage")),
        "source": "dispute",
    }
    if outcome_code:
        meta["outcome"] = outcome_code
    if fees:
        meta["dispute_fee"] = str(fees)
    amount = disputed
    if paypal_status == "RESOLVED":
        if moved:
            status = "lost" if settled > 0 else "won"
            amount = settled if settled > 0 else disputed
        elif outcome_code in LOST_OUTCOMES:
            status = "lost"
            refunded = outcome.get("amount_refunded")
            if isinstance(refunded, Mapping):
                amount = abs(money_value(refunded, f"{what} amount_refunded", currency)) or disputed
        elif outcome_code in WON_OUTCOMES or not outcome_code:
            status = "won"
        else:
            raise MalformedPayload(f"paypal: {what}: unknown outcome {outcome_code!r}")
    else:
        status = "needs_response"
    created = parse_time(dispute.get("create_time"), f"{what} create_time")
    updated_raw = dispute.get("update_time")
    return Dispute(
        external_id=capture_id,
        occurred_at=created,
        currency=currency,
        amount=amount,
        fee=money.zero(currency),
        status=status,
        payment_external_id=capture_id,
        reason=text(dispute.get("reason")).lower(),
        source_updated_at=parse_time(updated_raw, f"{what} update_time") if updated_raw else ctx.event_time,
        metadata=meta,
    )
