"""The generic signed JSON source: our published webhook format for Prysm POS and any custom till.

Prysm publishes no API of its own, so tills post events to ``POST /hooks/<channel-slug>/`` in the
format of ``generic_schema.json`` (documented in docs/generic-webhook.md), signed like this:

    X-Integrator-Timestamp: <unix seconds>
    X-Integrator-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

The timestamp must be within 300 seconds of our clock (either way), which bounds replays; the
event ``id`` is the dedupe key, so a replay inside the window is a harmless duplicate. Several
``v1=`` values may be sent (comma-separated) and any configured secret may match, so secrets can be
rotated without downtime.

Tills name their ``location`` and ``register`` on sales, refunds and cash counts (daily summaries
are made per location, register and currency), put cash handed back on a tender's ``change``, send
``sale.voided`` for a voided ticket (it books nothing and undoes what an earlier revision booked)
and ``cash_count.completed`` for a drawer count. These fields and events were added to version 1 of
the schema without changing anything an older sender writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from jsonschema import Draft202012Validator

from connectors.base import (
    ConnectionCheck,
    MalformedPayload,
    SalesSource,
    SetupField,
    SignatureInvalid,
    WebhookEnvelope,
    WebhookRequest,
)
from connectors.headers import digests_equal, unix_seconds
from integrator import money
from integrator.canonical import (
    CanonicalDocument,
    CashCount,
    Discount,
    ExchangeRate,
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

__all__ = ["GenericSource", "compute_missing_tax", "sign"]

# A tax line whose amount the till did not state (computed by the channel's rule at parse time).
_UNSTATED = Decimal("-1")

TOLERANCE_SECONDS = 300
SCHEMA_PATH = Path(__file__).with_name("generic_schema.json")
_DATA_SCHEMA = {
    "sale.completed": "sale",
    "sale.updated": "sale",
    "sale.voided": "sale",
    "invoice.issued": "sale",
    "cash_count.completed": "cash_count",
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


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/x"}`` replaced by definition ``x`` itself (the
    published schema has no recursive definition). A ``$ref`` beside other keywords becomes an
    ``allOf`` member, which is what 2020-12 means by it."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _inline(value, defs) for key, value in node.items() if key not in ("$ref", "$defs")}
    ref = node.get("$ref")
    if ref is None:
        return out
    target = _inline(defs[str(ref).removeprefix("#/$defs/")], defs)
    if not out:
        return target
    out["allOf"] = [*out.get("allOf", []), target]
    return out


@lru_cache(maxsize=8)
def _validator(definition: str | None) -> Draft202012Validator:
    """The validator of the envelope (``None``) or of one event's data, with the schema's
    references resolved once here: resolving a ``$ref`` on every use was a third of validating
    (22 look-ups per sale; 2020-12 resolves them through the ``referencing`` library)."""
    schema = _schema()
    root = schema if definition is None else schema["$defs"][definition]
    return Draft202012Validator(_inline(root, schema["$defs"]))


@lru_cache(maxsize=8)
def _fast_validator(definition: str | None) -> Any:
    """The same schema compiled by ``jsonschema_rs``, or None where it is not installed. Formats
    are not asserted, as by :func:`_validator`. A sale's data takes 4 us here against 565 us in the
    pure-Python validator, which was a sixth of processing a sale (issue 19)."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a declared dependency; the pure-Python one suffices
        return None
    schema = _schema()
    root = schema if definition is None else schema["$defs"][definition]
    return jsonschema_rs.Draft202012Validator(_inline(root, schema["$defs"]), validate_formats=False)


def _has_decimal(value: Any) -> bool:
    """Whether a parsed payload holds a JSON number with a fraction (parsed as ``Decimal``)."""
    if isinstance(value, Decimal):
        return True
    if isinstance(value, dict):
        return any(_has_decimal(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_decimal(v) for v in value)
    return False


def _accepted_fast(definition: str | None, payload: Any) -> bool:
    """Whether the compiled validator accepts ``payload``. Only an acceptance is taken from it:
    anything it refuses or cannot read (a lone surrogate) is judged again by the pure-Python
    validator, which words the reason as always. A payload with a fractional JSON number is left to
    the pure-Python one too: it holds ``1.0`` not to be an integer (a ``Decimal`` is not an
    ``int``) where the compiled one, as JSON Schema 2020-12 says, takes it for one, and amounts
    must be strings or integers."""
    fast = _fast_validator(definition)
    if fast is None or _has_decimal(payload):
        return False
    try:
        return bool(fast.is_valid(payload))
    except Exception:  # whatever it cannot read, the pure-Python validator judges
        return False


def _check(definition: str | None, payload: Any, what: str) -> None:
    """Raise :class:`MalformedPayload` naming the first place (by path) where ``payload`` breaks
    the envelope's schema (``definition`` None) or an event's data schema."""
    if _accepted_fast(definition, payload):
        return
    validator = _validator(definition)
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
    setup_fields: ClassVar[tuple[SetupField, ...]] = ()

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
        skew = abs(request.received_at.timestamp() - unix_seconds(timestamp, "X-Integrator-Timestamp"))
        if skew > TOLERANCE_SECONDS:
            raise SignatureInvalid(f"timestamp outside the {TOLERANCE_SECONDS} s tolerance ({int(skew)} s)")
        if not self.config.webhook_secrets:
            raise SignatureInvalid("the channel has no webhook secret configured")
        offered = [p.strip() for p in signature.split(",") if p.strip().startswith("v1=")]
        for secret in self.config.webhook_secrets:
            expected = sign(secret, timestamp, request.body)
            if any(digests_equal(expected, o) for o in offered):
                return
        raise SignatureInvalid("signature does not match")

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """The event id is the dedupe key; the envelope must match the published schema."""
        try:
            payload = json.loads(request.body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload(f"body is not JSON: {exc}") from exc
        _check(None, payload, "event")
        return WebhookEnvelope(dedupe_key=payload["id"], event_type=payload["type"])

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Turn one event into its canonical document."""
        definition = _DATA_SCHEMA.get(event_type)
        if definition is None:
            return []
        if not isinstance(payload, Mapping):
            raise MalformedPayload(f"{event_type} event is not a JSON object")
        data = payload.get("data")
        _check(definition, data, event_type)
        assert isinstance(data, Mapping)
        try:
            cur = money.normalize_currency(data["currency"])
        except money.UnknownCurrency as exc:
            raise MalformedPayload(str(exc)) from exc
        try:
            return [self._with_computed_tax(self._build(event_type, data, cur))]
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
                amount=self._amt(t["amount"], cur) if "amount" in t else _UNSTATED,
                code=t.get("code", ""),
            )
            for t in items
        )

    def _with_computed_tax(self, doc: CanonicalDocument) -> CanonicalDocument:
        """The document with the tax of lines that stated none computed by the channel's rounding
        rule (``tax_rounding``: ``line``, the default, or ``document``), and its tax basis noted."""
        if not isinstance(doc, Sale | Refund | Invoice):
            return doc
        rule = str(self.config.settings.get("tax_rounding") or "line")
        computed, basis = compute_missing_tax(doc, rule)
        return dataclasses.replace(computed, metadata={**computed.metadata, "tax_basis": basis})

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
                restock=bool(ln["restock"]) if ln.get("restock") is not None else None,
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
                change=self._amt(t.get("change", 0), cur),
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

    @staticmethod
    def _rates(data: Mapping[str, Any]) -> tuple[ExchangeRate, ...]:
        return tuple(
            ExchangeRate(base=r["base"].upper(), quote=r["quote"].upper(), rate=Decimal(str(r["rate"])))
            for r in data.get("exchange_rates", [])
        )

    def _build(self, event_type: str, data: Mapping[str, Any], cur: str) -> CanonicalDocument:
        updated = _dt(data["updated_at"]) if data.get("updated_at") else None
        common = {"external_id": data["id"], "occurred_at": _dt(data["occurred_at"]), "currency": cur,
                  "exchange_rates": self._rates(data)}  # fmt: skip
        till = {"location": data.get("location", ""), "register": data.get("register", "")}
        if event_type == "cash_count.completed":
            return CashCount(
                **common,
                **till,
                number=data.get("number", ""),
                expected=self._amt(data["expected"], cur),
                counted=self._amt(data["counted"], cur),
                float_change=self._amt(data.get("float_change", 0), cur, signed=True),
                method=data.get("method") or "cash",
                source_updated_at=updated,
            )
        if event_type in ("sale.completed", "sale.updated", "sale.voided"):
            voided = event_type == "sale.voided" or str(data.get("status", "")).lower() in ("voided", "void")
            return Sale(
                **common,
                **till,
                status="voided" if voided else "completed",
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
                **till,
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


def compute_missing_tax(doc: Sale | Refund | Invoice, rule: str) -> tuple[Sale | Refund | Invoice, str]:
    """Fill in the tax amounts a source left out, rounded per line or per document (each tax title
    and rate on the document's total, allocated back to its lines, the remainder on the largest).
    Returns the document and its tax basis: ``source`` (every amount stated), or ``computed:<rule>``."""
    taxed: list[tuple[int, int, TaxLine, Decimal]] = []  # (item index, tax index, tax, base)
    items: list[LineItem | ShippingLine] = [*doc.lines, *doc.shipping]
    cur = doc.currency
    for i, item in enumerate(items):
        gross = item.gross(cur) if isinstance(item, LineItem) else item.amount
        base = gross - item.discount
        for j, tax in enumerate(item.tax_lines):
            if tax.amount == _UNSTATED:
                taxed.append((i, j, tax, base))
    if not taxed:
        return doc, "source"

    def tax_on(base: Decimal, rate: Decimal) -> Decimal:
        from integrator.services.tax_engine.engine import levy  # the tax engine computes it

        return levy(base, rate, inclusive=doc.prices_include_tax)

    amounts: dict[tuple[int, int], Decimal] = {}
    if rule == "document":
        groups: dict[tuple[str, Decimal], list[tuple[int, int, Decimal]]] = {}
        for i, j, tax, base in taxed:
            groups.setdefault((tax.title, tax.rate), []).append((i, j, base))
        for (_, rate), members in groups.items():
            total = money.quantize(tax_on(sum((b for _, _, b in members), Decimal(0)), rate), cur)
            exact = [tax_on(b, rate) for _, _, b in members]
            parts = [money.quantize(e, cur) for e in exact]
            largest = max(range(len(members)), key=lambda k: abs(members[k][2]))
            parts[largest] += total - sum(parts, Decimal(0))
            for (i, j, _), part in zip(members, parts, strict=True):
                amounts[(i, j)] = part
    else:
        for i, j, tax, base in taxed:
            amounts[(i, j)] = money.quantize(tax_on(base, tax.rate), cur)

    def filled(i: int, item: LineItem | ShippingLine) -> LineItem | ShippingLine:
        lines = tuple(
            dataclasses.replace(t, amount=amounts[(i, j)]) if (i, j) in amounts else t
            for j, t in enumerate(item.tax_lines)
        )
        return dataclasses.replace(item, tax_lines=lines)

    new_lines = tuple(filled(i, ln) for i, ln in enumerate(doc.lines))
    offset = len(doc.lines)
    new_shipping = tuple(filled(offset + k, s) for k, s in enumerate(doc.shipping))
    return dataclasses.replace(doc, lines=new_lines, shipping=new_shipping), f"computed:{rule}"  # type: ignore[arg-type]
