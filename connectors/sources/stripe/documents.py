"""Stripe objects -> canonical documents (Payment, Refund, Dispute, Payout).

One Stripe charge is one :class:`~integrator.canonical.Payment` whose ``external_id`` is the charge
id (``ch_...``), whether it arrives as ``charge.succeeded`` or as ``payment_intent.succeeded``
(through the intent's ``latest_charge``), so both events upsert ONE transaction. Refunds point to
that charge id (``sale_external_id``), disputes to it as ``payment_external_id``.

Fees live on balance transactions (``txn_...``), not on charges. When the charge carries only the
balance transaction's id and the channel has a secret key, it is fetched; otherwise the fee is 0
and ``metadata["fee_source"]`` says why, so nobody mistakes "not fetched" for "free".

A charge presented in one currency and settled in another (an XOF charge paid out in GBP) keeps its
own currency and amount; its balance transaction is in the settlement currency, so its fee cannot
sit on the Payment: the settlement amount, fee, net and exchange rate go to ``metadata``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import Dispute, ExchangeRate, Party, Payment, Payout, PayoutItem, Refund, Tender

from .amounts import stripe_amount, stripe_currency
from .api import StripeAPI

__all__ = [
    "EventContext",
    "dispute_from_object",
    "payment_from_charge",
    "payment_from_intent",
    "payout_from_object",
    "refund_from_object",
    "refunds_from_charge",
]

GATEWAY = "stripe"

# Stripe dispute status -> canonical status. Inquiries (warning_*) move no money: nothing to book.
_DISPUTE_STATUS = {
    "needs_response": "needs_response",
    "under_review": "needs_response",  # still open and the funds are still withdrawn
    "won": "won",
    "lost": "lost",
}
_INQUIRY_STATUSES = frozenset({"warning_needs_response", "warning_under_review", "warning_closed"})

# Stripe payout status -> canonical status (a canceled payout never reached the bank, like a failed one).
_PAYOUT_STATUS = {
    "paid": "paid",
    "failed": "failed",
    "canceled": "failed",
    "in_transit": "in_transit",
    "pending": "in_transit",
}


@dataclass(frozen=True)
class EventContext:
    """What every parser needs besides the object: the API (None without a secret key), the time
    of the event (``source_updated_at``) and the channel settings."""

    api: StripeAPI | None
    event_created: datetime | None
    settings: Mapping[str, Any]


# -- small readers ---------------------------------------------------------------------------


def timestamp(value: object, what: str) -> datetime:
    """An aware UTC datetime from a Stripe unix timestamp."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedPayload(f"{what} must be a unix timestamp, got {value!r}")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:  # the C library refuses it (errno 75 and the like)
        raise MalformedPayload(f"{what} is not a time a calendar holds: {value!r}") from exc


def id_of(value: object) -> str:
    """The id of an expandable field: the string itself, or the expanded object's ``id``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return ""


def _require_object(obj: object, kind: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping) or obj.get("object") != kind or not isinstance(obj.get("id"), str):
        raise MalformedPayload(f"expected a Stripe {kind} object with an id")
    return obj


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _minor(obj: Mapping[str, Any], key: str) -> int:
    """An integer amount field of a Stripe object, or MalformedPayload."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedPayload(
            f"{obj.get('object')} {obj.get('id')}: {key} must be an integer, got {value!r}"
        )
    return value


def _balance_transaction(ref: object, ctx: EventContext) -> tuple[Mapping[str, Any] | None, str]:
    """The balance transaction behind ``ref`` (expanded or fetched), or None and the reason."""
    if isinstance(ref, Mapping):
        return _require_object(ref, "balance_transaction"), "balance_transaction"
    if isinstance(ref, str) and ref:
        if ctx.api is None:
            return None, "unavailable: no secret key to fetch the balance transaction"
        return _require_object(ctx.api.get(f"/v1/balance_transactions/{ref}"), "balance_transaction"), (
            "balance_transaction"
        )
    return None, "unavailable: no balance transaction yet"


def _fee_from(bt: Mapping[str, Any] | None, currency: str, metadata: dict[str, str]) -> Decimal:
    """The fee of a balance transaction in ``currency``, recording settlement facts in metadata."""
    if bt is None:
        return money.zero(currency)
    bt_currency = stripe_currency(bt.get("currency"))
    metadata["balance_transaction"] = str(bt["id"])
    details = bt.get("fee_details") or []
    if details:
        metadata["fee_details"] = ";".join(
            f"{_text(d.get('type'))}={stripe_amount(d.get('amount'), d.get('currency') or bt_currency)}"
            for d in details
            if isinstance(d, Mapping)
        )
    if bt_currency == currency:
        return stripe_amount(bt.get("fee"), bt_currency)
    metadata["fee_source"] = "settlement_currency"
    metadata["settlement_currency"] = bt_currency
    metadata["settlement_amount"] = str(stripe_amount(bt.get("amount"), bt_currency))
    metadata["settlement_fee"] = str(stripe_amount(bt.get("fee"), bt_currency))
    metadata["settlement_net"] = str(stripe_amount(bt.get("net"), bt_currency))
    if bt.get("exchange_rate") is not None:
        metadata["exchange_rate"] = str(bt["exchange_rate"])  # str() of a float gives Stripe's digits
    return money.zero(currency)


def _stated_rate(currency: str, metadata: Mapping[str, str]) -> tuple[ExchangeRate, ...]:
    """Stripe's own conversion of a charge into the account's settlement currency (the balance
    transaction's ``exchange_rate``): the rate the books use first."""
    settlement, rate = metadata.get("settlement_currency", ""), metadata.get("exchange_rate", "")
    if not settlement or not rate:
        return ()
    return (ExchangeRate(base=currency, quote=settlement, rate=Decimal(rate)),)


def _customer(charge: Mapping[str, Any]) -> Party | None:
    billing = _mapping(charge.get("billing_details"))
    party = Party(
        external_id=id_of(charge.get("customer")),
        name=_text(billing.get("name")),
        email=_text(billing.get("email")),
    )
    return party if (party.external_id or party.name or party.email) else None


def _sale_reference(
    charge: Mapping[str, Any], ctx: EventContext, intent: Mapping[str, Any] | None = None
) -> str:
    """The shop order a charge pays, when the channel names the metadata key that holds it
    (``settings["sale_metadata_key"]``, e.g. ``order_id``).

    Shops usually set metadata on the PaymentIntent, which Stripe does not copy to its charges: the
    intent is read too (expanded, given, or fetched) so that ``charge.succeeded`` and
    ``payment_intent.succeeded`` agree.
    """
    key = ctx.settings.get("sale_metadata_key")
    if not key:
        return ""
    candidates: list[object] = [charge.get("metadata")]
    ref = charge.get("payment_intent")
    if intent is None and isinstance(ref, Mapping):
        intent = ref
    if intent is not None:
        candidates.append(intent.get("metadata"))
    for meta in candidates:
        if isinstance(meta, Mapping) and meta.get(key):
            return str(meta[key])
    if intent is None and isinstance(ref, str) and ref and ctx.api is not None:
        fetched = ctx.api.get(f"/v1/payment_intents/{ref}")
        meta = fetched.get("metadata")
        if isinstance(meta, Mapping) and meta.get(key):
            return str(meta[key])
    return ""


# -- payments --------------------------------------------------------------------------------


def payment_from_charge(
    charge_obj: object, ctx: EventContext, intent: Mapping[str, Any] | None = None
) -> Payment | None:
    """A captured, succeeded charge as a Payment; None for failed, pending or uncaptured charges
    (an authorisation moves no money: the capture brings ``charge.captured``)."""
    charge = _require_object(charge_obj, "charge")
    if charge.get("status") != "succeeded" or not charge.get("paid") or not charge.get("captured"):
        return None
    currency = stripe_currency(charge.get("currency"))
    captured = charge.get("amount_captured")
    # amount_captured is what was taken (a partial capture takes less than ``amount``).
    taken = captured if isinstance(captured, int) and captured > 0 else charge.get("amount")
    amount = stripe_amount(taken, currency)
    metadata: dict[str, str] = {"livemode": str(bool(charge.get("livemode"))).lower()}
    bt, fee_source = _balance_transaction(charge.get("balance_transaction"), ctx)
    metadata["fee_source"] = fee_source
    fee = _fee_from(bt, currency, metadata)
    intent_id = id_of(charge.get("payment_intent"))
    if intent_id:
        metadata["payment_intent"] = intent_id
    details = _mapping(charge.get("payment_method_details"))
    method = _text(details.get("type"))
    card = _mapping(details.get(method))
    if card.get("brand"):
        metadata["brand"] = str(card["brand"])
    return Payment(
        external_id=str(charge["id"]),
        occurred_at=timestamp(charge.get("created"), "charge.created"),
        currency=currency,
        amount=amount,
        method=method,
        gateway=GATEWAY,
        fee=fee,
        exchange_rates=_stated_rate(currency, metadata),
        sale_external_id=_sale_reference(charge, ctx, intent),
        invoice_external_id=id_of(charge.get("invoice")),
        customer=_customer(charge),
        source_updated_at=ctx.event_created,
        metadata=metadata,
    )


def payment_from_intent(intent_obj: object, ctx: EventContext) -> Payment | None:
    """``payment_intent.succeeded`` -> the Payment of its latest charge (same external id as the
    ``charge.succeeded`` of that charge). The charge is fetched, with its balance transaction
    expanded, when the channel has a secret key; without one the Payment is built from the intent."""
    intent = _require_object(intent_obj, "payment_intent")
    if intent.get("status") != "succeeded":
        return None
    latest = intent.get("latest_charge")
    if latest is None:  # API versions before 2022-11-15 list the charges instead
        charges = intent.get("charges")
        data = charges.get("data") if isinstance(charges, Mapping) else None
        latest = data[0] if isinstance(data, list) and data else None  # newest first
    if isinstance(latest, Mapping):
        return payment_from_charge(latest, ctx, intent)
    charge_id = id_of(latest)
    if not charge_id:
        raise MalformedPayload(f"payment_intent {intent['id']} succeeded without a charge")
    if ctx.api is not None:
        charge = ctx.api.get(f"/v1/charges/{charge_id}", [("expand[]", "balance_transaction")])
        return payment_from_charge(charge, ctx, intent)
    currency = stripe_currency(intent.get("currency"))
    occurred = ctx.event_created or timestamp(intent.get("created"), "payment_intent.created")
    return Payment(
        external_id=charge_id,
        occurred_at=occurred,
        currency=currency,
        amount=stripe_amount(intent.get("amount_received"), currency),
        method=_text((intent.get("payment_method_types") or [""])[0]),
        gateway=GATEWAY,
        fee=money.zero(currency),
        sale_external_id=_sale_reference({}, ctx, intent),
        invoice_external_id=id_of(intent.get("invoice")),
        customer=Party(external_id=id_of(intent.get("customer"))) if id_of(intent.get("customer")) else None,
        source_updated_at=ctx.event_created,
        metadata={
            "livemode": str(bool(intent.get("livemode"))).lower(),
            "payment_intent": str(intent["id"]),
            "fee_source": "unavailable: no secret key to fetch the charge",
        },
    )


# -- refunds ---------------------------------------------------------------------------------


def refund_from_object(refund_obj: object, ctx: EventContext) -> Refund | None:
    """A succeeded refund as a Refund pointing to its charge; None while pending, or when failed
    or canceled (the balance movement is then reversed by Stripe)."""
    refund = _require_object(refund_obj, "refund")
    if refund.get("status") != "succeeded":
        return None
    charge_id = id_of(refund.get("charge"))
    if not charge_id:
        raise MalformedPayload(f"refund {refund['id']} has no charge to point to")
    currency = stripe_currency(refund.get("currency"))
    total = stripe_amount(refund.get("amount"), currency)
    metadata = {"charge": charge_id, "stripe_status": "succeeded"}
    if id_of(refund.get("payment_intent")):
        metadata["payment_intent"] = id_of(refund.get("payment_intent"))
    if id_of(refund.get("balance_transaction")):
        metadata["balance_transaction"] = id_of(refund.get("balance_transaction"))
    return Refund(
        external_id=str(refund["id"]),
        sale_external_id=charge_id,
        occurred_at=timestamp(refund.get("created"), "refund.created"),
        currency=currency,
        total=total,
        # A gateway refund has no lines: the whole amount is the adjustment, so lines + shipping +
        # adjustment == total holds as for every other source.
        adjustment=total,
        tenders=(
            Tender(
                method=GATEWAY,
                amount=total,
                gateway=GATEWAY,
                reference=str(refund["id"]),
                fee=money.zero(currency),
            ),
        ),
        reason=_text(refund.get("reason")),
        source_updated_at=ctx.event_created,
        metadata=metadata,
    )


def refunds_from_charge(charge_obj: object, ctx: EventContext) -> list[Refund]:
    """Every succeeded refund of a charge (``charge.refunded``). Since API 2022-11-15 the charge
    no longer embeds its refunds, so they are listed with ``GET /v1/refunds?charge=``."""
    charge = _require_object(charge_obj, "charge")
    embedded = charge.get("refunds")
    items: Iterable[object]
    embedded_data = _mapping(embedded).get("data")
    if isinstance(embedded_data, list) and not _mapping(embedded).get("has_more"):
        items = embedded_data
    elif ctx.api is not None:
        items = [r for page in ctx.api.list_all("/v1/refunds", [("charge", str(charge["id"]))]) for r in page]
    else:
        raise MalformedPayload(
            f"charge.refunded for {charge['id']} does not embed its refunds and the channel has no secret "
            "key to list them (GET /v1/refunds?charge=)"
        )
    refunds = [refund_from_object(r, ctx) for r in items]
    return [r for r in refunds if r is not None]


# -- disputes --------------------------------------------------------------------------------


def dispute_from_object(dispute_obj: object, ctx: EventContext) -> Dispute | None:
    """A chargeback as a Dispute (amount disputed, dispute fees from its balance transactions);
    None for an inquiry, which withdraws nothing."""
    dispute = _require_object(dispute_obj, "dispute")
    stripe_status = _text(dispute.get("status"))
    transactions = dispute.get("balance_transactions") or []
    if not isinstance(transactions, list):
        raise MalformedPayload(f"dispute {dispute['id']}: balance_transactions is not a list")
    if stripe_status in _INQUIRY_STATUSES and not transactions:
        return None
    status = _DISPUTE_STATUS.get(stripe_status)
    if status is None:
        raise MalformedPayload(f"dispute {dispute['id']}: unknown status {stripe_status!r}")
    currency = stripe_currency(dispute.get("currency"))
    charge_id = id_of(dispute.get("charge"))
    metadata = {"stripe_status": stripe_status}
    fee = money.zero(currency)
    if transactions:
        bts = [_require_object(bt, "balance_transaction") for bt in transactions]
        metadata["balance_transactions"] = ",".join(str(bt["id"]) for bt in bts)
        bt_currency = stripe_currency(bts[0].get("currency"))
        withdrawn = -sum(_minor(bt, "amount") for bt in bts)
        fees = sum(_minor(bt, "fee") for bt in bts)
        metadata["net_withdrawn"] = str(stripe_amount(withdrawn, bt_currency))
        if bt_currency == currency:
            fee = stripe_amount(fees, currency)
        else:
            metadata["settlement_currency"] = bt_currency
            metadata["settlement_fee"] = str(stripe_amount(fees, bt_currency))
    return Dispute(
        external_id=str(dispute["id"]),
        occurred_at=timestamp(dispute.get("created"), "dispute.created"),
        currency=currency,
        amount=stripe_amount(dispute.get("amount"), currency),
        fee=fee,
        status=status,
        sale_external_id=charge_id,
        payment_external_id=charge_id,
        reason=_text(dispute.get("reason")),
        source_updated_at=ctx.event_created,
        metadata=metadata,
    )


# -- payouts ---------------------------------------------------------------------------------

DISPUTE_CATEGORIES = frozenset({"dispute", "dispute_reversal"})


def _payout_item(bt: Mapping[str, Any], currency: str) -> PayoutItem:
    if stripe_currency(bt.get("currency")) != currency:
        raise MalformedPayload(f"balance transaction {bt['id']} is not in the payout currency {currency}")
    amount, fee, net = bt.get("amount"), bt.get("fee"), bt.get("net")
    if not (isinstance(amount, int) and isinstance(fee, int) and isinstance(net, int)) or amount - fee != net:
        raise MalformedPayload(f"balance transaction {bt['id']}: amount - fee != net")
    category = _text(bt.get("reporting_category")) or _text(bt.get("type"))
    return PayoutItem(
        type=category,
        amount=stripe_amount(amount, currency),
        fee=stripe_amount(fee, currency),
        net=stripe_amount(net, currency),
        source_id=id_of(bt.get("source")),
        description=" ".join(x for x in (_text(bt.get("type")), _text(bt.get("description"))) if x),
        # Disputes reach the books as Dispute documents (chargeback and fee against clearing):
        # the payout only settles them out of clearing.
        booked_by="dispute" if category in DISPUTE_CATEGORIES else "",
    )


def payout_from_object(payout_obj: object, ctx: EventContext) -> Payout:
    """A payout with the balance transactions it settles (``GET /v1/balance_transactions?payout=``).

    The list also holds the payout's own transaction (source = the payout): it is the movement to
    the bank, not an item. The items' nets must add up to the payout amount exactly, or the payout
    is refused as malformed (a person looks) rather than booked with fees that do not explain it.
    """
    payout = _require_object(payout_obj, "payout")
    payout_id = str(payout["id"])
    stripe_status = _text(payout.get("status"))
    status = _PAYOUT_STATUS.get(stripe_status)
    if status is None:
        raise MalformedPayload(f"payout {payout_id}: unknown status {stripe_status!r}")
    currency = stripe_currency(payout.get("currency"))
    amount_minor = payout.get("amount")
    amount = stripe_amount(amount_minor, currency)
    metadata = {
        "stripe_status": stripe_status,
        "automatic": str(bool(payout.get("automatic"))).lower(),
        "method": _text(payout.get("method")),
    }
    for key in ("failure_code", "failure_message"):
        if payout.get(key):
            metadata[key] = str(payout[key])
    items: tuple[PayoutItem, ...] = ()
    if ctx.api is None:
        metadata["items"] = "unavailable: no secret key to list the payout's balance transactions"
    else:
        listed = [
            bt
            for page in ctx.api.list_all("/v1/balance_transactions", [("payout", payout_id)])
            for bt in page
            if id_of(bt.get("source")) != payout_id
        ]
        if not listed:
            metadata["items"] = "none attributed (a manual payout is not itemised by Stripe)"
        else:
            net_minor = sum(_minor(bt, "net") for bt in listed)
            if net_minor != amount_minor:
                raise MalformedPayload(
                    f"payout {payout_id}: its balance transactions net {net_minor} but the payout is "
                    f"{amount_minor} ({currency} minor units)"
                )
            items = tuple(_payout_item(bt, currency) for bt in listed)
    arrival = payout.get("arrival_date")
    return Payout(
        external_id=payout_id,
        occurred_at=timestamp(payout.get("created"), "payout.created"),
        currency=currency,
        amount=amount,
        status=status,
        arrival_date=_arrival(arrival),
        items=items,
        source_updated_at=ctx.event_created,
        metadata=metadata,
    )


def _arrival(value: object) -> date | None:
    """Stripe's arrival_date is midnight UTC of the expected day."""
    return timestamp(value, "payout.arrival_date").date() if value is not None else None
