"""Square ``Payment``, ``PaymentRefund`` and ``Payout`` -> canonical documents.

Sign conventions, read from Square's API reference and kept here in one place:

* ``processing_fee[].amount_money`` is signed: positive is money the seller pays Square, negative
  money Square gives back (a refund returns part of the fee). A payment's ``fee`` is the sum.
  A refund's tender ``fee`` is that signed sum too, so a returned fee is negative and the journal
  credits the fee expense back.
* A payout's ``amount_money`` is the bank movement: positive a deposit, negative a withdrawal.
* A payout entry's ``net`` is ``gross - fee`` (a charge: gross 100, fee 19, net 81; a refund:
  gross -50, fee -2, net -48). Should Square ever send the fee with the other sign, the net tells,
  and we turn it round, because :class:`~integrator.canonical.PayoutItem` wants ``net = amount -
  fee`` with the fee positive when charged.
* Fee-only entries (deposit fees, subscription fees, tax on fees ...) are moved into ``fee`` with a
  zero gross, so ``Payout.fees()`` is every fee of the payout and ``Payout.gross()`` only sales money.

A refund is linked to the sale by the **payment's** order: Square creates a separate return order
for every refund and puts *its* id in ``PaymentRefund.order_id``, so that id is not the sale.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from connectors.sources.square.amounts import as_dict, as_list, money_amount, money_currency, parse_time
from connectors.sources.square.orders import return_lines, tender_method
from integrator import money
from integrator.canonical import LineItem, Payment, Payout, PayoutItem, Refund, Tender

__all__ = ["payment_document", "payment_method", "payout_document", "refund_document"]

ZERO = Decimal(0)

PAYOUT_STATUS = {"SENT": "in_transit", "PAID": "paid", "FAILED": "failed"}

#: Square activity types that are a fee (or a fee given back) rather than sales money.
FEE_ACTIVITIES = frozenset(
    {
        "DEPOSIT_FEE",
        "DEPOSIT_FEE_REVERSED",
        "FEE",
        "GIFT_CARD_LOAD_FEE",
        "GIFT_CARD_LOAD_FEE_REFUND",
        "LOCAL_OFFERS_FEE",
        "PAID_SERVICE_FEE",
        "PAID_SERVICE_FEE_REFUND",
        "PROCESSING_FEE",
        "PROCESSING_FEE_REFUND",
        "SUBSCRIPTION_FEE",
        "SUBSCRIPTION_FEE_PAID_REFUND",
        "SUBSCRIPTION_FEE_REFUND",
        "TAX_ON_FEE",
        "THIRD_PARTY_FEE",
        "THIRD_PARTY_FEE_REFUND",
        "UNDO_PROCESSING_FEE_REFUND",
    }
)

#: Square activity types and the item type the journal knows them by.
_ITEM_TYPES = {
    "CHARGE": "charge",
    "REFUND": "refund",
    "DISPUTE": "dispute",
    "OPEN_DISPUTE": "dispute",
    "RESERVE_HOLD": "reserve",
    "RESERVE_RELEASE": "reserve",
    "ADJUSTMENT": "adjustment",
    "OTHER_ADJUSTMENT": "adjustment",
    "HOLD_ADJUSTMENT": "adjustment",
    "RELEASE_ADJUSTMENT": "adjustment",
}


def payment_method(payment: Mapping[str, Any]) -> str:
    """The method name of a Square payment (card brand, ``cash``, wallet brand ...)."""
    card_details = payment.get("card_details")
    card = card_details.get("card") if isinstance(card_details, Mapping) else None
    wallet = payment.get("wallet_details")
    brand = str(wallet.get("brand") or "") if isinstance(wallet, Mapping) else ""
    return tender_method(str(payment.get("source_type") or ""), card, brand)


def payment_document(payment: Mapping[str, Any]) -> Payment | None:
    """A COMPLETED payment as a :class:`Payment` (``None`` while approved, pending or failed)."""
    pid = _id(payment, "payment")
    if payment.get("status") != "COMPLETED":
        return None
    currency = money_currency(
        payment.get("total_money") or payment.get("amount_money"), f"payment {pid} money"
    )
    total = money_amount(payment.get("total_money"), currency, f"payment {pid} total_money")
    tip = money_amount(payment.get("tip_money"), currency, f"payment {pid} tip_money", required=False)
    meta = {
        "amount": str(money_amount(payment.get("amount_money"), currency, "amount_money", required=False)),
        "tip": str(tip),
        "source_type": str(payment.get("source_type") or ""),
        "location_id": str(payment.get("location_id") or ""),
    }
    for key in ("receipt_number", "reference_id"):
        if payment.get(key):
            meta[key] = str(payment[key])
    return Payment(
        external_id=pid,
        occurred_at=parse_time(payment.get("created_at"), f"payment {pid} created_at"),
        currency=currency,
        amount=total,
        method=payment_method(payment),
        gateway="square",
        fee=_fees(payment.get("processing_fee"), currency, f"payment {pid}"),
        sale_external_id=str(payment.get("order_id") or ""),
        status="succeeded",
        source_updated_at=_maybe_time(payment.get("updated_at")),
        metadata=meta,
    )


def refund_document(
    refund: Mapping[str, Any],
    payment: Mapping[str, Any] | None,
    return_order: Mapping[str, Any] | None,
) -> Refund | None:
    """A COMPLETED refund as a :class:`Refund` (``None`` while pending, rejected or failed).

    ``payment`` is the refunded payment (its ``order_id`` is the sale) and ``return_order`` the
    order Square created for the refund (its ``returns`` itemise what came back), when they could
    be fetched. Without a usable return order the refund is booked as an ``adjustment``.
    """
    rid = _id(refund, "refund")
    if refund.get("status") != "COMPLETED":
        return None
    currency = money_currency(refund.get("amount_money"), f"refund {rid} amount_money")
    total = money_amount(refund.get("amount_money"), currency, f"refund {rid} amount_money")
    refund_order_id = str(refund.get("order_id") or "")
    returned = return_lines(return_order, currency) if return_order else None
    sale_id = str((payment or {}).get("order_id") or "") or (returned.source_order_id if returned else "")
    lines: tuple[LineItem, ...] = ()
    inclusive = False
    adjustment = total
    if returned is not None and returned.total(currency) <= total:
        # Itemised: tax on returned lines is reversed properly; anything beyond the lines (a
        # refunded tip, a goodwill amount) stays an adjustment.
        lines, inclusive = returned.lines, returned.prices_include_tax
        adjustment = total - returned.total(currency)
    meta = {
        "payment_id": str(refund.get("payment_id") or ""),
        "location_id": str(refund.get("location_id") or ""),
    }
    if refund_order_id:
        meta["return_order_id"] = refund_order_id
    method = (
        payment_method(payment) if payment else tender_method(str(refund.get("destination_type") or ""), None)
    )
    return Refund(
        external_id=rid,
        sale_external_id=sale_id,
        occurred_at=parse_time(refund.get("created_at"), f"refund {rid} created_at"),
        currency=currency,
        total=total,
        lines=lines,
        prices_include_tax=inclusive,
        tenders=(
            Tender(
                method=method,
                amount=total,
                gateway="square",
                reference=str(refund.get("payment_id") or ""),
                fee=_fees(refund.get("processing_fee"), currency, f"refund {rid}"),
            ),
        ),
        adjustment=adjustment,
        reason=str(refund.get("reason") or ""),
        source_updated_at=_maybe_time(refund.get("updated_at")),
        metadata=meta,
    )


def payout_document(payout: Mapping[str, Any], entries: list[Any]) -> Payout:
    """A payout with its entries as :class:`PayoutItem` s; refused if they do not explain it."""
    po_id = _id(payout, "payout")
    currency = money_currency(payout.get("amount_money"), f"payout {po_id} amount_money")
    amount = money_amount(payout.get("amount_money"), currency, f"payout {po_id} amount_money")
    items = [_payout_item(e, currency, f"payout {po_id} entry {i}") for i, e in enumerate(entries)]
    transfer_fee = _fees(payout.get("payout_fee"), currency, f"payout {po_id} payout_fee")
    if items:
        net = sum((i.net for i in items), ZERO)
        if net != amount and transfer_fee and net - transfer_fee == amount:
            # The transfer fee (instant deposit) is on the payout but not among its entries.
            items.append(
                PayoutItem(
                    type="fee",
                    amount=money.zero(currency),
                    fee=transfer_fee,
                    net=-transfer_fee,
                    description="TRANSFER_FEE",
                )
            )
            net -= transfer_fee
        if net != amount:
            raise MalformedPayload(
                f"square: payout {po_id} entries net to {net} {currency}, the payout is {amount} {currency}"
            )
    status = PAYOUT_STATUS.get(str(payout.get("status") or ""))
    if status is None:
        raise MalformedPayload(f"square: payout {po_id} has unknown status {payout.get('status')!r}")
    meta = {"gateway": "square", "location_id": str(payout.get("location_id") or "")}
    destination = payout.get("destination")
    if isinstance(destination, Mapping) and destination.get("type"):
        meta["destination_type"] = str(destination["type"])
    if payout.get("end_to_end_id"):
        meta["end_to_end_id"] = str(payout["end_to_end_id"])
    return Payout(
        external_id=po_id,
        occurred_at=parse_time(payout.get("created_at"), f"payout {po_id} created_at"),
        currency=currency,
        amount=amount,
        status=status,
        arrival_date=_date(payout.get("arrival_date"), f"payout {po_id} arrival_date"),
        items=tuple(items),
        source_updated_at=_maybe_time(payout.get("updated_at")),
        metadata=meta,
    )


def _payout_item(entry: Any, currency: str, what: str) -> PayoutItem:
    entry = as_dict(entry, what)
    kind = str(entry.get("type") or "OTHER")
    gross = money_amount(entry.get("gross_amount_money"), currency, f"{what} gross", required=False)
    fee = money_amount(entry.get("fee_amount_money"), currency, f"{what} fee", required=False)
    net = money_amount(entry.get("net_amount_money"), currency, f"{what} net", required=False)
    if gross - fee != net:
        if gross + fee != net:
            raise MalformedPayload(f"square: {what}: gross {gross}, fee {fee} and net {net} do not agree")
        fee = -fee
    if kind in FEE_ACTIVITIES and fee == 0:
        gross, fee = money.zero(currency), -net
    return PayoutItem(
        type=_ITEM_TYPES.get(kind, "fee" if kind in FEE_ACTIVITIES else kind.lower()),
        amount=gross,
        fee=fee,
        net=net,
        source_id=_entry_source(entry),
        description=kind,
    )


def _entry_source(entry: Mapping[str, Any]) -> str:
    """The payment / refund / payout id in the entry's ``type_*_details`` object."""
    for key, value in entry.items():
        if key.startswith("type_") and key.endswith("_details") and isinstance(value, Mapping):
            for id_key in ("refund_id", "payment_id", "payout_id"):
                if value.get(id_key):
                    return str(value[id_key])
    return ""


def _fees(raw: Any, currency: str, what: str) -> Decimal:
    total = ZERO
    for j, fee in enumerate(as_list(raw, f"{what} fees")):
        fee = as_dict(fee, f"{what} fee {j}")
        total += money_amount(fee.get("amount_money"), currency, f"{what} fee {j}", required=False)
    return total


def _id(obj: Mapping[str, Any], what: str) -> str:
    value = obj.get("id")
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"square: {what} has no id")
    return value


def _maybe_time(value: Any) -> datetime | None:
    return parse_time(value, "updated_at") if value else None


def _date(value: Any, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise MalformedPayload(f"square: {what} is not a date: {value!r}") from exc
