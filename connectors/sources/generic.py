"""The generic signed JSON source: our published webhook format for Prysm POS and any custom till.

Prysm publishes no API of its own, so tills post events to ``POST /hooks/<channel-slug>/`` in the
format of ``generic_schema.json`` (documented in docs/generic-webhook.md), signed like this:

    X-Integrator-Timestamp: <unix seconds>
    X-Integrator-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

The timestamp must be within 300 seconds of our clock (either way), which bounds replays; the
event ``id`` is the dedupe key, so a replay inside the window is a harmless duplicate. Several
``v1=`` values may be sent (comma-separated) and any configured secret may match, so secrets can be
rotated without downtime.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from connectors.base import (
    ConnectionCheck,
    MalformedPayload,
    SalesSource,
    SignatureInvalid,
    WebhookEnvelope,
    WebhookRequest,
)
from integrator import money
from integrator.canonical import (
    CanonicalDocument,
    Discount,
    Invoice,
    LineItem,
    Party,
    Payment,
    Payout,
    PayoutItem,
    Refund,
    Sale,
    ShippingLine,
    TaxLine,
    Tender,
)

__all__ = ["GenericSource", "sign"]

TOLERANCE_SECONDS = 300
SCHEMA_PATH = Path(__file__).with_name("generic_schema.json")
_DATA_SCHEMA = {
    "sale.completed": "sale",
    "sale.updated": "sale",
    "invoice.issued": "sale",
    "refund.completed": "refund",
    "payment.completed": "payment",
    "payout.paid": "payout",
    "payout.failed": "payout",
}


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Integrator-Signature`` value for a body (used by tills, the demo and tests)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


@lru_cache(maxsize=8)
def _validator(definition: str | None) -> Draft202012Validator:
    schema = _schema()
    if definition is None:
        return Draft202012Validator(schema)
    return Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"})


def _check(validator: Draft202012Validator, payload: Any, what: str) -> None:
    error = next(iter(sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        raise MalformedPayload(f"{what} at {where}: {error.message[:200]}")


def _dt(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise MalformedPayload(f"date-time {value!r} has no time zone")
    return parsed


class GenericSource(SalesSource):
    """Signed JSON events in our own published schema."""

    platform = "generic"
    display_name = "Generic signed JSON (Prysm POS and custom tills)"
    capabilities = frozenset({"webhook"})
    #: Nothing to enter: the signing secret is ours, generated when the channel is created and
    #: shown once for the till's configuration (see connectors.base.SetupField).
    setup_fields = ()

    def test_connection(self) -> ConnectionCheck:
        """There is no vendor API to call: tills post to us. Check what can be checked: a signing
        secret is set and an event signed with it verifies, exactly as a till's would."""
        secrets = [s for s in self.config.webhook_secrets if s]
        if not secrets:
            return ConnectionCheck(False, "No signing secret is set: rotate the secret to create one.")
        now = datetime.now().astimezone()
        body = b'{"id": "connection-test", "type": "sale.completed"}'
        stamp = str(int(now.timestamp()))
        probe = WebhookRequest(body, {"X-Integrator-Timestamp": stamp, "X-Integrator-Signature": sign(secrets[0], stamp, body)},
                               url="", received_at=now)  # fmt: skip
        try:
            self.verify_webhook(probe)
        except SignatureInvalid as exc:  # pragma: no cover - a broken secret list, not a vendor answer
            return ConnectionCheck(False, f"An event signed with the current secret does not verify: {exc}")
        previous = len(secrets) - 1
        rotation = " The previous secret is still accepted during its grace period." if previous else ""
        return ConnectionCheck(
            True,
            "Nothing to call: the till posts signed events to the webhook URL, and an event signed with "
            f"the current secret verifies.{rotation}",
            {"secrets": len(secrets)},
        )

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Check the timestamp window and the HMAC against every configured secret."""
        timestamp = request.header("X-Integrator-Timestamp")
        signature = request.header("X-Integrator-Signature")
        if not timestamp or not signature:
            raise SignatureInvalid("missing X-Integrator-Timestamp or X-Integrator-Signature")
        if not timestamp.isdigit():
            raise SignatureInvalid("timestamp is not a unix time")
        skew = abs(request.received_at.timestamp() - int(timestamp))
        if skew > TOLERANCE_SECONDS:
            raise SignatureInvalid(f"timestamp outside the {TOLERANCE_SECONDS} s tolerance ({int(skew)} s)")
        if not self.config.webhook_secrets:
            raise SignatureInvalid("the channel has no webhook secret configured")
        offered = [p.strip() for p in signature.split(",") if p.strip().startswith("v1=")]
        for secret in self.config.webhook_secrets:
            expected = sign(secret, timestamp, request.body)
            if any(hmac.compare_digest(expected, o) for o in offered):
                return
        raise SignatureInvalid("signature does not match")

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """The event id is the dedupe key; the envelope must match the published schema."""
        try:
            payload = json.loads(request.body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload(f"body is not JSON: {exc}") from exc
        _check(_validator(None), payload, "event")
        return WebhookEnvelope(dedupe_key=payload["id"], event_type=payload["type"])

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Turn one event into its canonical document."""
        definition = _DATA_SCHEMA.get(event_type)
        if definition is None:
            return []
        data = payload.get("data")
        _check(_validator(definition), data, event_type)
        assert isinstance(data, Mapping)
        try:
            cur = money.normalize_currency(data["currency"])
        except money.UnknownCurrency as exc:
            raise MalformedPayload(str(exc)) from exc
        try:
            return [self._build(event_type, data, cur)]
        except money.InvalidAmount as exc:
            raise MalformedPayload(str(exc)) from exc

    # -- builders -------------------------------------------------------------------------------

    @staticmethod
    def _amt(value: Any, cur: str, *, signed: bool = False) -> Decimal:
        """An exact amount; negative only where the canonical field allows it (``signed``): a
        negative tender or price would otherwise balance into nonsense on the other side."""
        amount = money.parse_amount(str(value) if value is not None else "0", cur)
        if amount < 0 and not signed:
            raise money.InvalidAmount(f"{value!r} is negative: this amount must be positive")
        return amount

    def _taxes(self, items: list[Mapping[str, Any]], cur: str) -> tuple[TaxLine, ...]:
        return tuple(
            TaxLine(
                title=t["title"],
                rate=Decimal(str(t["rate"])),
                amount=self._amt(t["amount"], cur),
                code=t.get("code", ""),
            )
            for t in items
        )

    def _lines(self, data: Mapping[str, Any], cur: str) -> tuple[LineItem, ...]:
        return tuple(
            LineItem(
                line_id=str(ln.get("id", i)),
                sku=ln["sku"],
                name=ln["name"],
                category=ln.get("category", ""),
                quantity=Decimal(str(ln["quantity"])),
                unit_price=self._amt(ln["unit_price"], cur),
                discount=self._amt(ln.get("discount", 0), cur),
                tax_lines=self._taxes(ln.get("taxes", []), cur),
                kind=ln.get("kind", "product"),
            )
            for i, ln in enumerate(data.get("lines", []))
        )

    def _shipping(self, data: Mapping[str, Any], cur: str) -> tuple[ShippingLine, ...]:
        return tuple(
            ShippingLine(
                title=s.get("title", "Shipping"),
                amount=self._amt(s["amount"], cur),
                discount=self._amt(s.get("discount", 0), cur),
                tax_lines=self._taxes(s.get("taxes", []), cur),
            )
            for s in data.get("shipping", [])
        )

    def _tenders(self, data: Mapping[str, Any], cur: str) -> tuple[Tender, ...]:
        return tuple(
            Tender(
                method=t["method"],
                amount=self._amt(t["amount"], cur),
                gateway=t.get("gateway", ""),
                reference=t.get("reference", ""),
                fee=self._amt(t.get("fee", 0), cur, signed=True),  # a refunded fee is negative
                kind=t.get("kind", "payment"),
            )
            for t in data.get("tenders", [])
        )

    @staticmethod
    def _customer(data: Mapping[str, Any]) -> Party | None:
        c = data.get("customer")
        if not c:
            return None
        return Party(
            external_id=c.get("id", ""), name=c.get("name", ""), email=c.get("email", ""),
            company=c.get("company", ""), tax_number=c.get("tax_number", ""),
        )  # fmt: skip

    def _build(self, event_type: str, data: Mapping[str, Any], cur: str) -> CanonicalDocument:
        updated = _dt(data["updated_at"]) if data.get("updated_at") else None
        common = {"external_id": data["id"], "occurred_at": _dt(data["occurred_at"]), "currency": cur}
        if event_type in ("sale.completed", "sale.updated"):
            return Sale(
                **common,
                number=data.get("number", ""),
                total=self._amt(data["total"], cur),
                prices_include_tax=data.get("prices_include_tax", False),
                lines=self._lines(data, cur),
                shipping=self._shipping(data, cur),
                discounts=tuple(
                    Discount(
                        code=d["code"], amount=self._amt(d["amount"], cur), target=d.get("target", "order")
                    )
                    for d in data.get("discounts", [])
                ),
                tenders=self._tenders(data, cur),
                tips=self._amt(data.get("tips", 0), cur),
                customer=self._customer(data),
                source_updated_at=updated,
            )
        if event_type == "invoice.issued":
            customer = self._customer(data)
            if customer is None:
                raise MalformedPayload("an invoice needs a customer")
            return Invoice(
                **common,
                number=data.get("number", ""),
                total=self._amt(data["total"], cur),
                prices_include_tax=data.get("prices_include_tax", False),
                lines=self._lines(data, cur),
                shipping=self._shipping(data, cur),
                customer=customer,
                due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
                source_updated_at=updated,
            )
        if event_type == "refund.completed":
            return Refund(
                **common,
                sale_external_id=data["sale_id"],
                number=data.get("number", ""),
                total=self._amt(data["total"], cur),
                prices_include_tax=data.get("prices_include_tax", False),
                lines=self._lines(data, cur),
                shipping=self._shipping(data, cur),
                tenders=self._tenders(data, cur),
                adjustment=self._amt(data.get("adjustment", 0), cur, signed=True),
                reason=data.get("reason", ""),
                restock=data.get("restock", False),
                source_updated_at=updated,
            )
        if event_type == "payment.completed":
            return Payment(
                **common,
                amount=self._amt(data["amount"], cur),
                fee=self._amt(data.get("fee", 0), cur),
                method=data.get("method", ""),
                gateway=data.get("gateway", ""),
                sale_external_id=data.get("sale_id", ""),
                invoice_external_id=data.get("invoice_id", ""),
            )
        return Payout(
            **common,
            amount=self._amt(data["amount"], cur, signed=True),
            status="failed" if event_type == "payout.failed" else data.get("status", "paid"),
            arrival_date=date.fromisoformat(data["arrival_date"]) if data.get("arrival_date") else None,
            items=tuple(
                PayoutItem(
                    type=i["type"],
                    amount=self._amt(i["amount"], cur, signed=True),
                    fee=self._amt(i["fee"], cur, signed=True),
                    net=self._amt(i["net"], cur, signed=True),
                    source_id=i.get("source_id", ""),
                    description=i.get("description", ""),
                )
                for i in data.get("items", [])
            ),
        )
