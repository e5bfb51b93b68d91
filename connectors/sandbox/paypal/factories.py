"""Making PayPal objects in the sandbox so that every view of them agrees.

A capture, refund or transfer made here is stored where the API serves it *and* booked in the
sandbox's balance (:class:`~connectors.sandbox.paypal.ledger.BalanceBook`), so Transaction Search
reports it with the same id, amounts and fees, and a transfer to the bank takes what the balance
really holds. Fixture objects are loaded with :meth:`FactoryMixin.record_order`,
:meth:`FactoryMixin.record_capture` and :meth:`FactoryMixin.record_refund`; generated ones (for
pagination) come from :meth:`FactoryMixin.make_capture`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from integrator import money

from .ledger import BalanceBook, Record

__all__ = ["FactoryMixin", "capture_object"]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _value(obj: Mapping[str, Any] | None) -> Decimal:
    return Decimal(str(obj["value"])) if obj else Decimal(0)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capture_object(
    capture_id: str,
    amount: Decimal,
    currency: str,
    fee: Decimal,
    at: datetime,
    *,
    base_url: str,
    order_id: str = "",
    invoice_id: str = "",
    custom_id: str = "",
) -> dict[str, Any]:
    """A completed v2 capture with its ``seller_receivable_breakdown``, as PayPal shows it."""
    q = money.quantum(currency)
    capture: dict[str, Any] = {
        "id": capture_id,
        "status": "COMPLETED",
        "amount": {"currency_code": currency, "value": str(amount.quantize(q))},
        "final_capture": True,
        "seller_protection": {"status": "ELIGIBLE", "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
        "seller_receivable_breakdown": {
            "gross_amount": {"currency_code": currency, "value": str(amount.quantize(q))},
            "paypal_fee": {"currency_code": currency, "value": str(fee.quantize(q))},
            "net_amount": {"currency_code": currency, "value": str((amount - fee).quantize(q))},
        },
        "links": [
            {"href": f"{base_url}/v2/payments/captures/{capture_id}", "rel": "self", "method": "GET"},
            {"href": f"{base_url}/v2/payments/captures/{capture_id}/refund", "rel": "refund", "method": "POST"},
        ],
        "create_time": _stamp(at),
        "update_time": _stamp(at),
    }  # fmt: skip
    if invoice_id:
        capture["invoice_id"] = invoice_id
    if custom_id:
        capture["custom_id"] = custom_id
    if order_id:
        capture["supplementary_data"] = {"related_ids": {"order_id": order_id}}
        capture["links"].append(
            {"href": f"{base_url}/v2/checkout/orders/{order_id}", "rel": "up", "method": "GET"}
        )
    return capture


class FactoryMixin:
    """Builders for :class:`~connectors.sandbox.paypal.server.PayPalSandbox`."""

    book: BalanceBook
    url: str

    def load(self, kind: str, *objects: Mapping[str, Any]) -> None:  # provided by the server
        raise NotImplementedError

    def get(self, kind: str, key: str) -> dict[str, Any]:  # provided by the server
        raise NotImplementedError

    def record_capture(self, capture: Mapping[str, Any], *, report: bool = True) -> list[Record]:
        """Serve a capture and, if completed, report it (and its conversion) in Transaction Search."""
        self.load("capture", capture)
        if capture.get("status") not in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED") or not report:
            return []
        breakdown = capture.get("seller_receivable_breakdown") or {}
        currency = str(capture["amount"]["currency_code"])
        receivable = breakdown.get("receivable_amount")
        return self.book.receive(
            str(capture["id"]),
            _time(str(capture["create_time"])),
            currency,
            _value(capture["amount"]),
            _value(breakdown.get("paypal_fee")),
            invoice_id=str(capture.get("invoice_id") or ""),
            custom_field=str(capture.get("custom_id") or ""),
            receivable=(str(receivable["currency_code"]), _value(receivable)) if receivable else None,
        )

    def record_order(self, order: Mapping[str, Any], *, report: bool = True) -> list[Record]:
        """Serve an order (and its captures, linked back to it) and report its captures."""
        self.load("order", order)
        made: list[Record] = []
        for unit in order.get("purchase_units") or []:
            for capture in (unit.get("payments") or {}).get("captures") or []:
                standalone = copy.deepcopy(dict(capture))
                standalone.setdefault("supplementary_data", {"related_ids": {"order_id": order["id"]}})
                made += self.record_capture(standalone, report=report)
        return made

    def record_refund(
        self, refund: Mapping[str, Any], *, report: bool = True, code: str = "T1107"
    ) -> list[Record]:
        """Serve a refund, mark its capture (partially) refunded, and report it."""
        self.load("refund", refund)
        capture_id = next(
            str(link["href"]).rstrip("/").rsplit("/", 1)[-1]
            for link in refund["links"]
            if link.get("rel") == "up"
        )
        capture = self.get("capture", capture_id)
        breakdown = refund.get("seller_payable_breakdown") or {}
        total = _value(breakdown.get("total_refunded_amount")) or _value(refund["amount"])
        capture["status"] = "REFUNDED" if total >= _value(capture["amount"]) else "PARTIALLY_REFUNDED"
        capture["update_time"] = refund["create_time"]
        if not report or refund.get("status") != "COMPLETED":
            return []
        receivable = (capture.get("seller_receivable_breakdown") or {}).get("receivable_amount")
        payable = None
        if receivable:
            rate = _value(receivable) / (
                _value(capture["amount"]) - _value(capture["seller_receivable_breakdown"]["paypal_fee"])
            )
            target = str(receivable["currency_code"])
            net = _value(refund["amount"]) - _value(breakdown.get("paypal_fee"))
            payable = (target, money.quantize(net * rate, target))
        return self.book.refund(
            str(refund["id"]),
            capture_id,
            _time(str(refund["create_time"])),
            str(refund["amount"]["currency_code"]),
            _value(refund["amount"]),
            _value(breakdown.get("paypal_fee")),
            payable=payable,
            code=code,
        )

    def make_capture(
        self,
        amount: str,
        currency: str,
        fee: str,
        at: datetime,
        *,
        order_id: str = "",
        invoice_id: str = "",
        custom_id: str = "",
    ) -> dict[str, Any]:
        """A generated completed capture, served and reported (for pagination and pull tests)."""
        capture = capture_object(
            self.book.new_id(), Decimal(amount), currency, Decimal(fee), at, base_url=self.url,
            order_id=order_id, invoice_id=invoice_id, custom_id=custom_id,
        )  # fmt: skip
        self.record_capture(capture)
        return capture

    def transfer_to_bank(self, currency: str, at: datetime, amount: str | None = None) -> Record:
        """A withdrawal of the balance (or ``amount``) to the bank, reported as ``T0400``."""
        return self.book.transfer(at, currency, Decimal(amount) if amount is not None else None)
