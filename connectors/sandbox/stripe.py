"""A Stripe sandbox: the read API the Stripe source uses, Stripe-shaped errors, signed webhooks.

Serves ``/v1/events``, ``/v1/charges``, ``/v1/refunds``, ``/v1/payouts``, ``/v1/disputes``,
``/v1/payment_intents`` and ``/v1/balance_transactions`` (with ``payout=``) as Stripe does: newest
first, ``limit`` 1..100 (default 10), ``starting_after`` / ``ending_before`` cursors, ``has_more``,
``created[gte|gt|lte|lt]`` filters, ``expand[]``, unknown parameters refused, Bearer (or Basic)
secret-key authentication, and a per-second rate limit answered ``429`` with
``Stripe-Should-Retry``. Errors look like Stripe's: ``{"error": {"type", "code", "message", ...}}``.

Data comes from :meth:`StripeSandbox.load` (fixture objects and events) or from the small factories
(:meth:`create_charge`, :meth:`create_refund`, :meth:`create_payout`), which keep charges, their
balance transactions, events and payouts consistent, so a payout's transactions always add up.

:meth:`StripeSandbox.send_webhook` signs exactly as Stripe does (``t=<ts>,v1=<hex HMAC-SHA256 of
"t.body">``, one ``v1`` per secret while a secret is being rolled, plus a ``v0`` in test mode).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests

from connectors.sandbox.base import Request, Response, SandboxServer, route

__all__ = ["StripeSandbox", "stripe_signature_header"]

API_VERSION = "2023-08-16"

# Which stored kind each list path serves, and the filters it accepts besides the common ones.
_COMMON_PARAMS = frozenset({"limit", "starting_after", "ending_before", "expand[]", "created"})
_LIST_FILTERS: dict[str, tuple[str, frozenset[str]]] = {
    "/v1/events": ("event", frozenset({"type", "types[]", "delivery_success"})),
    "/v1/charges": ("charge", frozenset({"customer", "payment_intent", "transfer_group"})),
    "/v1/refunds": ("refund", frozenset({"charge", "payment_intent"})),
    "/v1/payouts": ("payout", frozenset({"arrival_date", "destination", "status"})),
    "/v1/disputes": ("dispute", frozenset({"charge", "payment_intent"})),
    "/v1/payment_intents": ("payment_intent", frozenset({"customer"})),
    "/v1/balance_transactions": ("balance_transaction", frozenset({"payout", "source", "type", "currency"})),
}
_PREFIXES = {
    "event": "evt",
    "charge": "ch",
    "refund": "re",
    "payout": "po",
    "dispute": "dp",
    "payment_intent": "pi",
    "balance_transaction": "txn",
}


# A test card's details as a charge reports them (Stripe's 4242 test Visa).
_CARD: dict[str, Any] = {
    "brand": "visa",
    "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
    "country": "GB",
    "exp_month": 12,
    "exp_year": 2030,
    "fingerprint": "SandboxCardPrint",
    "funding": "credit",
    "installments": None,
    "last4": "4242",
    "mandate": None,
    "network": "visa",
    "network_token": {"used": False},
    "three_d_secure": None,
    "wallet": None,
}


def stripe_signature_header(
    body: bytes, secrets: str | Sequence[str], timestamp: int, v0: bool = False
) -> str:
    """The ``Stripe-Signature`` value Stripe would send for ``body`` at ``timestamp``."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    signed = str(timestamp).encode() + b"." + body
    parts = [f"t={timestamp}"]
    parts += [f"v1={hmac.new(k.encode(), signed, hashlib.sha256).hexdigest()}" for k in keys]
    if v0:  # test mode adds a signature made with a different key; receivers ignore it
        parts.append(f"v0={hmac.new(b'test-mode', signed, hashlib.sha256).hexdigest()}")
    return ",".join(parts)


class StripeSandbox(SandboxServer):
    """Fake ``api.stripe.com`` on 127.0.0.1. ``secret_key`` is the only key accepted."""

    vendor = "stripe"

    def __init__(
        self,
        *,
        secret_key: str = "sk_test_sandbox",  # noqa: S107 - the sandbox's own test key
        rate_limit_per_second: int | None = 100,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.secret_key = secret_key
        self.rate_limit_per_second = rate_limit_per_second
        #: ``GET /v1/account``: the account the secret key belongs to.
        self.account: dict[str, Any] = {
            "id": "acct_1SandboxImports", "object": "account", "country": "GB", "default_currency": "gbp",
            "business_profile": {"name": "Sankofa Imports"}, "charges_enabled": True, "payouts_enabled": True,
            "details_submitted": True, "type": "standard", "created": 1704186000,
        }  # fmt: skip
        self.store: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in _PREFIXES}
        self.payout_of: dict[str, str] = {}  # balance transaction id -> payout id
        self._ids = random.Random(seed)  # reproducible ids, not secrets
        self._calls: deque[float] = deque()
        self._rate_lock = threading.Lock()
        self.clock: Callable[[], float] = time.time
        self._scripted_errors: deque[tuple[int, bool]] = deque()

    # -- data --------------------------------------------------------------------------------

    def new_id(self, kind: str) -> str:
        """A fresh Stripe-looking id (``ch_3Nn...``), reproducible for a given seed."""
        alphabet = string.ascii_letters + string.digits
        return f"{_PREFIXES[kind]}_{''.join(self._ids.choice(alphabet) for _ in range(24))}"

    def load(
        self, objects: Iterable[Mapping[str, Any]], payouts: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """Store fixture objects (by their ``object`` type) and which balance transactions each
        payout settles (``{"po_...": ["txn_...", ...]}``)."""
        with self.lock:
            for obj in objects:
                kind = str(obj.get("object"))
                if kind not in self.store:
                    raise ValueError(f"the Stripe sandbox does not serve {kind!r} objects")
                self.store[kind][str(obj["id"])] = copy.deepcopy(dict(obj))
            for payout_id, bt_ids in (payouts or {}).items():
                for bt_id in bt_ids:
                    self.payout_of[bt_id] = payout_id

    def add_event(
        self, event_type: str, obj: Mapping[str, Any], created: int | None = None
    ) -> dict[str, Any]:
        """Record an event about ``obj`` (a snapshot, as Stripe's events are)."""
        event: dict[str, Any] = {
            "api_version": API_VERSION,
            "created": int(created if created is not None else obj.get("created") or self.clock()),
            "data": {"object": copy.deepcopy(dict(obj))},
            "id": self.new_id("event"),
            "livemode": False,
            "object": "event",
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        with self.lock:
            self.store["event"][event["id"]] = event
        return event

    def _balance_transaction(
        self, amount: int, fee: int, currency: str, source: str, kind: str, category: str, created: int
    ) -> dict[str, Any]:
        bt: dict[str, Any] = {
            "amount": amount,
            "available_on": created + 2 * 86400,
            "created": created,
            "currency": currency,
            "description": None,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else [],
            "id": self.new_id("balance_transaction"),
            "net": amount - fee,
            "object": "balance_transaction",
            "reporting_category": category,
            "source": source,
            "status": "available",
            "type": kind,
        }
        with self.lock:
            self.store["balance_transaction"][bt["id"]] = bt
        return bt

    def create_charge(
        self, amount: int, currency: str = "gbp", fee: int = 0, created: int | None = None, event: bool = True
    ) -> dict[str, Any]:
        """A succeeded, captured card charge with its balance transaction (and a charge.succeeded event)."""
        ts = int(created if created is not None else self.clock())
        charge_id = self.new_id("charge")
        bt = self._balance_transaction(amount, fee, currency, charge_id, "charge", "charge", ts)
        charge = {
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "balance_transaction": bt["id"],
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "captured": True,
            "created": ts,
            "currency": currency,
            "customer": None,
            "description": None,
            "disputed": False,
            "id": charge_id,
            "livemode": False,
            "metadata": {},
            "object": "charge",
            "paid": True,
            "payment_intent": None,
            "payment_method_details": {"card": copy.deepcopy(_CARD), "type": "card"},
            "refunded": False,
            "status": "succeeded",
        }
        with self.lock:
            self.store["charge"][charge_id] = charge
        if event:
            self.add_event("charge.succeeded", charge, ts)
        return charge

    def create_refund(self, charge_id: str, amount: int, created: int | None = None) -> dict[str, Any]:
        """A succeeded refund of part of a charge (balance transaction, charge updated, events)."""
        ts = int(created if created is not None else self.clock())
        with self.lock:
            charge = self.store["charge"][charge_id]
        refund_id = self.new_id("refund")
        bt = self._balance_transaction(-amount, 0, charge["currency"], refund_id, "refund", "refund", ts)
        refund = {
            "amount": amount,
            "balance_transaction": bt["id"],
            "charge": charge_id,
            "created": ts,
            "currency": charge["currency"],
            "id": refund_id,
            "metadata": {},
            "object": "refund",
            "payment_intent": charge.get("payment_intent"),
            "reason": "requested_by_customer",
            "status": "succeeded",
        }
        with self.lock:
            self.store["refund"][refund_id] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self.add_event("charge.refunded", charge, ts)
        self.add_event("refund.created", refund, ts)
        return refund

    def create_payout(
        self,
        balance_transaction_ids: Sequence[str] | None = None,
        status: str = "paid",
        created: int | None = None,
    ) -> dict[str, Any]:
        """A payout of the given balance transactions (default: every one not yet paid out), with
        its own balance transaction, the attribution ``balance_transactions?payout=`` serves, and a
        ``payout.paid`` or ``payout.failed`` event."""
        ts = int(created if created is not None else self.clock())
        with self.lock:
            ids = list(
                balance_transaction_ids
                or [b for b in self.store["balance_transaction"] if b not in self.payout_of]
            )
            bts = [self.store["balance_transaction"][b] for b in ids]
        currencies = {bt["currency"] for bt in bts}
        if len(currencies) != 1:
            raise ValueError(f"a payout needs balance transactions in one currency, got {sorted(currencies)}")
        currency = currencies.pop()
        amount = sum(bt["net"] for bt in bts)
        payout_id = self.new_id("payout")
        own = self._balance_transaction(-amount, 0, currency, payout_id, "payout", "payout", ts)
        payout = {
            "amount": amount,
            "arrival_date": ts - ts % 86400 + 86400,
            "automatic": True,
            "balance_transaction": own["id"],
            "created": ts,
            "currency": currency,
            "description": "STRIPE PAYOUT",
            "destination": "ba_sandbox",
            "failure_balance_transaction": None,
            "failure_code": "account_closed" if status == "failed" else None,
            "failure_message": "The bank account has been closed." if status == "failed" else None,
            "id": payout_id,
            "livemode": False,
            "metadata": {},
            "method": "standard",
            "object": "payout",
            "original_payout": None,
            "reconciliation_status": "completed",
            "reversed_by": None,
            "source_type": "card",
            "statement_descriptor": None,
            "status": status,
            "type": "bank_account",
        }
        with self.lock:
            self.store["payout"][payout_id] = payout
            for bt_id in [*ids, own["id"]]:
                self.payout_of[bt_id] = payout_id
        self.add_event(f"payout.{status}", payout, ts)
        return payout

    def fail_next(self, status: int, should_retry: bool) -> None:
        """Answer the next authenticated request with ``status`` and ``Stripe-Should-Retry`` (the
        generic fault plan cannot set that header, which Stripe uses to say whether a retry helps)."""
        with self.lock:
            self._scripted_errors.append((status, should_retry))

    # -- webhooks ----------------------------------------------------------------------------

    def send_webhook(
        self, url: str, event: Mapping[str, Any], secret: str | Sequence[str], timestamp: int | None = None
    ) -> requests.Response:
        """POST ``event`` to ``url`` signed as Stripe signs it (one ``v1`` per secret given)."""
        body = json.dumps(event, indent=2).encode()  # Stripe sends pretty-printed JSON
        ts = int(timestamp if timestamp is not None else self.clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": stripe_signature_header(body, secret, ts, v0=not event.get("livemode")),
        }
        return requests.post(url, data=body, headers=headers, timeout=(5, 30))

    # -- vendor flavour ----------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Stripe's error object: ``api_error`` for 5xx, ``invalid_request_error`` otherwise."""
        codes = {404: "resource_missing", 429: "rate_limit", 401: "api_key_invalid"}
        error: dict[str, Any] = {
            "type": "api_error" if status >= 500 else "invalid_request_error",
            "message": message,
        }
        if status in codes:
            error["code"] = codes[status]
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{codes[status].replace('_', '-')}"
        return {"error": error}

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Stripe marks 429s as safe to retry."""
        return {**super().rate_limit_headers(retry_after), "Stripe-Should-Retry": "true"}

    def _answer(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        request_id = f"req_{''.join(self._ids.choice(string.ascii_letters) for _ in range(14))}"
        return Response(
            status, body, {"Request-Id": request_id, "Stripe-Version": API_VERSION, **(headers or {})}
        )

    def _error(self, status: int, message: str, param: str = "", code: str = "") -> Response:
        body = self.error_body(status, message)
        if param:
            body["error"]["param"] = param
        if code:
            body["error"]["code"] = code
        headers = self.rate_limit_headers(1.0) if status == 429 else {}
        return self._answer(status, body, headers)

    def _gate(self, req: Request) -> Response | None:
        """Authentication and Stripe's per-second limit, checked before any handler runs."""
        auth = req.header("Authorization")
        key = ""
        if auth.startswith("Bearer "):
            key = auth[7:].strip()
        elif auth.startswith("Basic "):
            try:
                key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            return self._error(401, "You did not provide an API key. Provide it in the Authorization header.")
        if not hmac.compare_digest(key, self.secret_key):
            return self._error(401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}")
        if self.rate_limit_per_second is not None:
            now = time.monotonic()
            with self._rate_lock:
                while self._calls and self._calls[0] <= now - 1:
                    self._calls.popleft()
                if len(self._calls) >= self.rate_limit_per_second:
                    return self._error(429, "Too many requests hit the API too quickly.")
                self._calls.append(now)
        with self.lock:
            scripted = self._scripted_errors.popleft() if self._scripted_errors else None
        if scripted is not None:
            status, should_retry = scripted
            answer = self._error(status, "An error occurred with our connection to Stripe (scripted).")
            answer.headers["Stripe-Should-Retry"] = str(should_retry).lower()
            return answer
        return None

    # -- routes ------------------------------------------------------------------------------

    @route("GET", "/v1/account")
    def account_of_key(self, req: Request) -> Response:
        """Retrieve the account of the key (``GET /v1/account``)."""
        return self._gate(req) or self._answer(200, dict(self.account))

    @route("GET", "/v1/{resource}")
    def list_objects(self, req: Request) -> Response:
        """Any supported list endpoint."""
        path = f"/v1/{req.params['resource']}"
        if path not in _LIST_FILTERS:
            return self._error(404, f"Unrecognized request URL (GET: {path}).")
        return self._gate(req) or self._list(req, path)

    @route("GET", "/v1/{resource}/{object_id}")
    def retrieve_object(self, req: Request) -> Response:
        """Any supported single-object GET, with ``expand[]``."""
        path = f"/v1/{req.params['resource']}"
        if path not in _LIST_FILTERS:
            return self._error(404, f"Unrecognized request URL (GET: {req.path}).")
        denied = self._gate(req)
        if denied:
            return denied
        kind = _LIST_FILTERS[path][0]
        unknown = set(req.query) - {"expand[]"}
        if unknown:
            return self._error(
                400, f"Received unknown parameter: {sorted(unknown)[0]}", param=sorted(unknown)[0]
            )
        with self.lock:
            obj = self.store[kind].get(req.params["object_id"])
            if obj is None:
                return self._error(404, f"No such {kind}: '{req.params['object_id']}'", param="id")
            return self._answer(200, self._expanded(obj, req.query.get("expand[]", [])))

    # -- list machinery ----------------------------------------------------------------------

    def _list(self, req: Request, path: str) -> Response:
        kind, filters = _LIST_FILTERS[path]
        allowed = _COMMON_PARAMS | filters
        for name in req.query:
            base = name.split("[", 1)[0] if name.endswith("]") and name not in allowed else name
            if name not in allowed and base not in allowed:
                return self._error(
                    400, f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
                )
        limit_text = req.arg("limit", "10")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            return self._error(
                400,
                f"This value must be between 1 and 100 (it currently is '{limit_text}').",
                param="limit",
                code="parameter_invalid_integer",
            )
        with self.lock:
            ordered = list(self.store[kind].values())
        # Newest first; among equal timestamps the later-created object comes first, as on Stripe.
        items = [
            o
            for _, o in sorted(enumerate(ordered), key=lambda p: (p[1].get("created", 0), p[0]), reverse=True)
        ]
        try:
            items = [o for o in items if self._matches(o, req, kind)]
        except ValueError as exc:
            return self._error(400, str(exc), code="parameter_invalid_integer")
        after, before = req.arg("starting_after"), req.arg("ending_before")
        ids = [o["id"] for o in items]
        limit = int(limit_text)
        if after:
            if after not in ids:
                return self._error(
                    400, f"No such {kind}: '{after}'", param="starting_after", code="resource_missing"
                )
            items = items[ids.index(after) + 1 :]
            page, has_more = items[:limit], len(items) > limit
        elif before:
            if before not in ids:
                return self._error(
                    400, f"No such {kind}: '{before}'", param="ending_before", code="resource_missing"
                )
            items = items[: ids.index(before)]
            page, has_more = items[-limit:], len(items) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        expand = [e.removeprefix("data.") for e in req.query.get("expand[]", []) if e.startswith("data.")]
        with self.lock:
            data = [self._expanded(o, expand) for o in page]
        return self._answer(200, {"object": "list", "data": data, "has_more": has_more, "url": path})

    def _matches(self, obj: Mapping[str, Any], req: Request, kind: str) -> bool:
        for field in ("created", "arrival_date"):
            if not _in_range(obj.get(field), req, field):
                return False
        types = req.query.get("types[]", []) + req.query.get("type", [])
        if kind == "event" and types and not any(_type_matches(obj.get("type", ""), t) for t in types):
            return False
        if kind == "balance_transaction":
            if req.arg("payout") and self.payout_of.get(obj["id"]) != req.arg("payout"):
                return False
            if req.arg("type") and obj.get("type") != req.arg("type"):
                return False
            if req.arg("source") and _ref(obj.get("source")) != req.arg("source"):
                return False
            return not (req.arg("currency") and obj.get("currency") != req.arg("currency").lower())
        for name in ("charge", "payment_intent", "customer", "status", "destination"):
            wanted = req.arg(name)
            if wanted and _ref(obj.get(name)) != wanted:
                return False
        return True

    def _expanded(self, obj: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
        """A copy of ``obj`` with the named id fields replaced by the objects they refer to."""
        out = copy.deepcopy(dict(obj))
        for field in paths:
            ref = out.get(field)
            if isinstance(ref, str):
                for kind, prefix in _PREFIXES.items():
                    if ref.startswith(prefix + "_") and ref in self.store[kind]:
                        out[field] = copy.deepcopy(self.store[kind][ref])
        return out


def _ref(value: object) -> str:
    if isinstance(value, Mapping):
        return str(value.get("id", ""))
    return str(value) if value is not None else ""


def _type_matches(event_type: str, pattern: str) -> bool:
    """Stripe's event type filter accepts a trailing ``*`` wildcard (``charge.*``)."""
    return event_type.startswith(pattern[:-1]) if pattern.endswith("*") else event_type == pattern


def _in_range(value: object, req: Request, field: str) -> bool:
    """Apply ``field``, ``field[gte]``, ``field[gt]``, ``field[lte]`` and ``field[lt]`` filters."""
    bounds = {op: req.arg(f"{field}[{op}]") for op in ("gte", "gt", "lte", "lt")}
    exact = req.arg(field)
    if not exact and not any(bounds.values()):
        return True
    if not isinstance(value, int):
        return False
    for text in (exact, *bounds.values()):
        if text and not text.lstrip("-").isdigit():
            raise ValueError(f"Invalid integer: {text}")
    checks = {
        "gte": lambda b: value >= b,
        "gt": lambda b: value > b,
        "lte": lambda b: value <= b,
        "lt": lambda b: value < b,
    }
    if exact and value != int(exact):
        return False
    return all(checks[op](int(text)) for op, text in bounds.items() if text)
