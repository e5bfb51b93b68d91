"""Transaction Search (``GET /v1/reporting/transactions``): the back-fill, and PayPal transfers to
the bank as payouts.

The API answers one date range of at most 31 days per request, in pages (``page`` from 1,
``page_size`` up to 500, ``total_pages``), and a transaction appears up to three hours after it
happened: the back-fill walks ``since .. now`` in 31-day windows, and the scheduled pull starts
well before its last run (``pull_overlap``), so nothing that was late the first time is missed.

Each balance-affecting transaction is classified by its event code (T-code):

* ``T00xx`` credits (payments received) -> the capture is fetched and parsed exactly as a
  ``PAYMENT.CAPTURE.COMPLETED`` webhook would be, so a webhook and the back-fill end in one
  transaction;
* ``T1107`` (refund) -> the refund is fetched and parsed as ``PAYMENT.CAPTURE.REFUNDED``;
  ``T1106`` (reversal) -> the capture's dispute, as ``PAYMENT.CAPTURE.REVERSED``;
* ``T04xx`` (withdrawal to the bank) -> a Payout, explained by :func:`payout_from_transfer`;
* everything else (fees, holds, currency conversions, chargebacks) is read only as part of the
  transfer that carries it.

A PayPal balance is not paid out per transaction as Stripe's is: a transfer moves whatever the
balance holds. The items that explain a transfer are therefore the balance-affecting transactions
in its currency since the previous transfer in that currency (searched back up to
``payout_lookback_days``, 93 by default), each with its gross, fee and net. Money received in
another currency and converted into this one is an item of the converted amount, with the fee
converted at the same rate. Whatever the items do not explain (money left in PayPal before or after
the transfer, history older than the look-back) is one ``balance`` item, so the items always add
up to the deposit; it is described in words on the item.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload, ProgressCallback
from integrator import money
from integrator.canonical import Payout, PayoutItem

from .api import PayPalAPI
from .values import as_list, as_mapping, currency_of, money_value, parse_time, text

__all__ = [
    "MAX_WINDOW",
    "PAGE_SIZE",
    "REPORTING_LAG",
    "ReportedTransaction",
    "item_type",
    "list_transactions",
    "payout_from_transfer",
    "windows",
]

MAX_WINDOW = timedelta(days=31)
REPORTING_LAG = timedelta(hours=3)
PAGE_SIZE = 500
DEFAULT_LOOKBACK_DAYS = 93
ZERO = Decimal(0)

_PAYOUT_STATUS = {"S": "paid", "P": "in_transit", "D": "failed", "V": "failed"}


def windows(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """``since .. until`` cut into consecutive ranges of at most 31 days."""
    out = []
    start = since
    while start < until:
        end = min(start + MAX_WINDOW, until)
        out.append((start, end))
        start = end
    return out


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_transactions(
    api: PayPalAPI,
    start: datetime,
    end: datetime,
    progress: ProgressCallback | None = None,
    done: int = 0,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's ``transaction_details`` for one window (``page`` 1..``total_pages``)."""
    page = 1
    while True:
        answer = api.get(
            "/v1/reporting/transactions",
            [
                ("start_date", _stamp(start)),
                ("end_date", _stamp(end)),
                ("fields", "transaction_info"),
                ("page_size", PAGE_SIZE),
                ("page", page),
            ],
        )
        details = as_list(answer.get("transaction_details"), "transaction_details")
        yield [as_mapping(d, "transaction detail") for d in details]  # type: ignore[misc]
        total_pages = answer.get("total_pages")
        done += len(details)
        if progress is not None:
            progress(
                done,
                None,
                f"{done} PayPal transactions read ({start:%Y-%m-%d} to {end:%Y-%m-%d}, page {page})",
            )
        if not isinstance(total_pages, int) or page >= total_pages or not details:
            return
        page += 1


@dataclass(frozen=True)
class ReportedTransaction:
    """The parts of a ``transaction_info`` the payout needs, read once."""

    transaction_id: str
    code: str
    status: str
    at: datetime
    currency: str
    amount: Decimal
    fee: Decimal  # positive when PayPal charged a fee, negative when it gave one back
    reference_id: str
    position: int

    @property
    def net(self) -> Decimal:
        """What the transaction did to the balance."""
        return self.amount - self.fee

    @classmethod
    def read(cls, detail: Mapping[str, Any], position: int = 0) -> ReportedTransaction:
        """Read one ``transaction_detail``; :class:`MalformedPayload` for what cannot be read."""
        info = as_mapping(detail.get("transaction_info"), "transaction_info")
        txn_id = text(info.get("transaction_id"))
        if not txn_id:
            raise MalformedPayload("paypal: a reported transaction has no transaction_id")
        what = f"transaction {txn_id}"
        currency = currency_of(info.get("transaction_amount"), f"{what} transaction_amount")
        amount = money_value(info.get("transaction_amount"), f"{what} transaction_amount", currency)
        fee_obj = info.get("fee_amount")
        # Transaction Search reports the fee as a debit of the merchant (negative) and a fee given
        # back on a refund as a credit (positive): flip it into the payout items' convention.
        fee = -money_value(fee_obj, f"{what} fee_amount", currency) if fee_obj else money.zero(currency)
        return cls(
            transaction_id=txn_id,
            code=text(info.get("transaction_event_code")),
            status=text(info.get("transaction_status")),
            at=parse_time(info.get("transaction_initiation_date"), f"{what} transaction_initiation_date"),
            currency=currency,
            amount=amount,
            fee=fee,
            reference_id=text(info.get("paypal_reference_id")),
            position=position,
        )


def item_type(code: str, amount: Decimal) -> str:
    """The payout item type of a T-code. Dispute movements are clearing movements (the dispute
    document books the loss); fees are fees; see the platform page for the full list."""
    group = code[:3]
    if group == "T00":
        return "charge" if amount >= 0 else "payment_sent"
    if code == "T1107":
        return "refund"
    if code == "T1106":
        return "dispute_reversal"
    if code == "T1110":
        return "dispute_hold"
    if code == "T1111":
        return "dispute_release"
    if group == "T11":
        return "reversal"
    if group == "T12":
        return "dispute_debit" if amount < 0 else "dispute_credit"
    if group == "T01":
        return "fee"
    if group == "T02":
        return "conversion"
    if group == "T03":
        return "transfer_in"
    return "other"


def _item(txn: ReportedTransaction) -> PayoutItem:
    """A balance movement in the payout's currency as an item (a T01 fee record is all fee)."""
    kind = item_type(txn.code, txn.amount)
    if kind == "fee" and txn.fee == 0:
        # A fee transaction (T01xx) is itself the fee: no gross, the whole debit is the fee.
        return PayoutItem(
            type="fee", amount=money.zero(txn.currency), fee=-txn.amount, net=txn.amount,
            source_id=txn.transaction_id, description=f"{txn.code} fee",
        )  # fmt: skip
    return PayoutItem(
        type=kind,
        amount=txn.amount,
        fee=txn.fee,
        net=txn.net,
        source_id=txn.transaction_id,
        description=f"{txn.code} {kind.replace('_', ' ')}",
    )


def _converted_item(conv: ReportedTransaction, original: ReportedTransaction) -> PayoutItem:
    """``original`` (in another currency) as it landed in ``conv``'s currency: the conversion is
    its net; its fee is converted at the rate the conversion implies."""
    currency = conv.currency
    fee = money.zero(currency)
    if original.net and original.fee:
        fee = money.quantize(original.fee * conv.amount / original.net, currency)
    return PayoutItem(
        type=item_type(original.code, original.amount),
        amount=conv.amount + fee,
        fee=fee,
        net=conv.amount,
        source_id=original.transaction_id,
        description=(
            f"{original.code} {original.amount} {original.currency} converted to {conv.amount} {currency}"
        ),
    )


def _is_transfer(txn: ReportedTransaction) -> bool:
    return txn.code.startswith("T04") and txn.status != "D"


def _items_between(
    records: list[ReportedTransaction], transfer: ReportedTransaction
) -> tuple[list[PayoutItem], bool]:
    """The items of ``transfer`` and whether the previous transfer was found (see module doc)."""
    currency = transfer.currency
    ordered = sorted(records, key=lambda r: (r.at, r.position))
    index = next(i for i, r in enumerate(ordered) if r.transaction_id == transfer.transaction_id)
    start = 0
    found_previous = False
    for i in range(index - 1, -1, -1):
        if ordered[i].currency == currency and _is_transfer(ordered[i]):
            start, found_previous = i + 1, True
            break
    window = [r for r in ordered[start:index] if r.status != "D"]
    by_id = {r.transaction_id: r for r in records}
    converted_away = {
        r.reference_id
        for r in records
        if r.code.startswith("T02")
        and r.reference_id in by_id
        and by_id[r.reference_id].currency == r.currency
    }
    items: list[PayoutItem] = []
    for record in window:
        if record.currency != currency or _is_transfer(record):
            continue
        if record.code.startswith("T02"):
            original = by_id.get(record.reference_id)
            if original is not None and original.currency == currency:
                continue  # the leg that converted a transaction of this currency away
            if original is not None:
                items.append(_converted_item(record, original))
                continue
        elif record.transaction_id in converted_away:
            continue  # it landed in another currency: that currency's transfer carries it
        items.append(_item(record))
    return items, found_previous


def payout_from_transfer(
    detail: Mapping[str, Any], api: PayPalAPI | None, settings: Mapping[str, Any]
) -> Payout:
    """A withdrawal to the bank (``T04xx``) as a Payout whose items explain it."""
    transfer = ReportedTransaction.read(detail)
    if not transfer.code.startswith("T04"):
        raise MalformedPayload(
            f"paypal: transaction {transfer.transaction_id} ({transfer.code}) is not a transfer"
        )
    currency = transfer.currency
    if transfer.amount >= 0:
        raise MalformedPayload(
            f"paypal: transfer {transfer.transaction_id} is not a withdrawal (amount {transfer.amount})"
        )
    deposit = -transfer.amount  # what the bank receives; a fee on the transfer is an item below
    meta = {"gateway": "paypal", "event_code": transfer.code, "paypal_status": transfer.status}
    items: list[PayoutItem] = []
    if api is None:
        meta["items"] = "unavailable: the channel has no PayPal client credentials to list the transactions"
    else:
        lookback = timedelta(days=int(settings.get("payout_lookback_days") or DEFAULT_LOOKBACK_DAYS))
        records: list[ReportedTransaction] = []
        end = transfer.at + timedelta(seconds=1)
        earliest = transfer.at - lookback
        found = False
        while end > earliest and not found:
            start = max(end - MAX_WINDOW, earliest)
            for page in list_transactions(api, start, end):
                records.extend(ReportedTransaction.read(d, len(records) + n) for n, d in enumerate(page))
            if not any(r.transaction_id == transfer.transaction_id for r in records):
                records.append(transfer)  # not listed yet (reporting lag): it is still the boundary
            items, found = _items_between(records, transfer)
            end = start
        if transfer.fee:
            items.append(
                PayoutItem(
                    type="fee",
                    amount=money.zero(currency),
                    fee=transfer.fee,
                    net=-transfer.fee,
                    source_id=transfer.transaction_id,
                    description=f"{transfer.code} transfer fee",
                )
            )
        if not found:
            meta["items_from"] = f"{earliest:%Y-%m-%d} (no earlier transfer in {lookback.days} days)"
        explained = sum((i.net for i in items), ZERO)
        if explained != deposit:
            rest = deposit - explained
            items.append(
                PayoutItem(
                    type="balance",
                    amount=rest,
                    fee=money.zero(currency),
                    net=rest,
                    description=(
                        "PayPal balance carried into this transfer"
                        if rest > 0
                        else "PayPal balance kept in PayPal after this transfer"
                    ),
                )
            )
    return Payout(
        external_id=transfer.transaction_id,
        occurred_at=transfer.at,
        currency=currency,
        amount=deposit,
        status=_PAYOUT_STATUS.get(transfer.status, "in_transit"),
        items=tuple(items),
        source_updated_at=_updated(detail) or transfer.at,
        metadata=meta,
    )


def _updated(detail: Mapping[str, Any]) -> datetime | None:
    info = detail.get("transaction_info")
    raw = info.get("transaction_updated_date") if isinstance(info, Mapping) else None
    return parse_time(raw, "transaction_updated_date") if isinstance(raw, str) and raw else None
