"""A fake of Lightspeed Retail (R-Series) API V3 for the records the R-Series source reads.

Served (JSON, Lightspeed's shapes; ``Authorization: Bearer <access token>`` required):

* ``POST /auth/oauth/token`` - ``grant_type=refresh_token``; every refresh rotates the refresh
  token (the previous one is refused with ``invalid_grant``);
* ``GET /API/V3/Account/{id}.json``, ``.../Sale.json``, ``.../SaleLine/{id}.json``,
  ``.../Register.json``, ``.../RegisterCount.json``, ``.../RegisterWithdraw.json``;
* filters as Lightspeed writes them: ``timeStamp=>,2026-11-26T00:00:00+00:00`` (operators ``>``,
  ``>=``, ``<``, ``<=``, ``><`` between two values), ``sort``, ``load_relations`` as a JSON list
  (relations not asked for are left out); ``limit`` at most 100; the answer's
  ``@attributes.next`` is a URL carrying an ``after`` cursor (empty on the last page);
* Lightspeed's quirks: a collection of one record is an object, numbers are decimal strings and
  booleans the strings ``"true"``/``"false"``.

Rate limit: a leaky bucket of ``bucket_size`` units draining ``drip_rate`` units a second, one unit
per GET. Every answer carries ``X-LS-API-Bucket-Level: <level>/<size>`` and
``X-LS-API-Drip-Rate``; a request that would overflow it is answered 429 with ``Retry-After``.
The bucket's clock is :attr:`clock` (``time.monotonic`` unless a test gives a virtual one, so a
test drives the drip by the client's own waits rather than by wall-clock time). Errors look like
``{"httpCode", "httpMessage", "message", "errorClass"}``.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

from connectors.sandbox.base import Request, Response, SandboxServer, route

__all__ = ["LightspeedRSandbox", "VirtualClock"]

_HTTP = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
_OPS = (">=", "<=", "><", ">", "<", "=")


class VirtualClock:
    """A clock that only moves when told to (``sleep`` advances it): the bucket drips by progress."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the clock (used as the client's ``sleep``)."""
        with self._lock:
            self.now += max(0.0, seconds)


class LightspeedError(Exception):
    """Raised in a handler to answer with Lightspeed's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class LightspeedRSandbox(SandboxServer):
    """The fake Lightspeed account: seed sales, registers and counts; point the source at :attr:`url`."""

    vendor = "lightspeed_r"

    def __init__(
        self,
        *,
        account_id: str = "123456",
        name: str = "Kente & Clay Toronto",
        client_id: str = "ls-client",
        client_secret: str = "ls-secret",  # noqa: S107 - opens only this fake server
        refresh_token: str = "ls-refresh-0",  # noqa: S107 - opens only this fake server
        bucket_size: int = 60,
        drip_rate: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.account_id, self.name = account_id, name
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_token = refresh_token
        self.access_token = ""
        self.token_requests = 0
        self.bucket_size, self.drip_rate, self.clock = bucket_size, drip_rate, clock
        self._level, self._level_at = 0.0, clock()
        self.overflows = 0
        self.sales: dict[str, dict[str, Any]] = {}
        self.registers: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, dict[str, Any]] = {}
        self.withdraws: dict[str, dict[str, Any]] = {}

    # -- seeding -----------------------------------------------------------------------------

    def add_sale(self, sale: Mapping[str, Any]) -> None:
        """Store (or replace) a sale with every relation loaded (lists, not collapsed)."""
        with self.lock:
            self.sales[str(sale["saleID"])] = copy.deepcopy(dict(sale))

    def add_register(self, register_id: str, shop_id: str, name: str = "") -> None:
        """A register of a shop."""
        with self.lock:
            self.registers[register_id] = {
                "registerID": register_id,
                "shopID": shop_id,
                "name": name or f"Register {register_id}",
                "archived": "false",
            }

    def add_withdraw(self, withdraw: Mapping[str, Any]) -> None:
        """A cash withdrawal (or, with a negative amount, a cash addition) of a register."""
        with self.lock:
            self.withdraws[str(withdraw["registerWithdrawID"])] = copy.deepcopy(dict(withdraw))

    def close_register(
        self,
        register_id: str,
        count_id: str,
        *,
        open_time: str,
        close_time: str,
        opening_float: str = "0",
        counted_cash: str | None = None,
    ) -> dict[str, Any]:
        """Close a register as the till does: per payment type, the ``calculated`` total of the
        register's completed sales between open and close (cash: plus the float, less change);
        ``actual`` is what was counted (cash: ``counted_cash``, default exactly the calculated)."""
        start, end = _parse_time(open_time), _parse_time(close_time)
        totals: dict[str, Decimal] = {}
        types: dict[str, dict[str, Any]] = {}
        with self.lock:
            for sale in self.sales.values():
                if (
                    sale.get("registerID") != register_id
                    or sale.get("completed") != "true"
                    or sale.get("voided") == "true"
                ):
                    continue
                if not start <= _parse_time(sale["completeTime"]) <= end:
                    continue
                change = Decimal(sale.get("change") or "0")
                for p in sale.get("SalePayments", {}).get("SalePayment", []):
                    ptype = p["PaymentType"]
                    key = ptype["paymentTypeID"]
                    types[key] = ptype
                    amount = Decimal(p["amount"])
                    if ptype["type"] == "cash" and amount > 0 and change:
                        amount, change = amount - change, Decimal(0)
                    totals[key] = totals.get(key, Decimal(0)) + amount
            amounts = []
            for key, total in sorted(totals.items()):
                ptype = types[key]
                calculated = total + (Decimal(opening_float) if ptype["type"] == "cash" else 0)
                actual = (
                    Decimal(counted_cash)
                    if ptype["type"] == "cash" and counted_cash is not None
                    else calculated
                )
                amounts.append({
                    "registerCountAmountID": f"{count_id}{key}",
                    "calculated": str(calculated),
                    "actual": str(actual),
                    "registerCountID": count_id,
                    "paymentTypeID": key,
                    "PaymentType": copy.deepcopy(ptype),
                })  # fmt: skip
            count = {
                "registerCountID": count_id,
                "registerID": register_id,
                "openTime": open_time,
                "closeTime": close_time,
                "notes": "",
                "RegisterCountAmounts": {"RegisterCountAmount": amounts},
            }
            self.counts[count_id] = count
            return copy.deepcopy(count)

    # -- vendor flavour ----------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Lightspeed's error body."""
        return {
            "httpCode": str(status),
            "httpMessage": _HTTP.get(status, "Error"),
            "message": message,
            "errorClass": "Exception",
        }

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """A 429 with Retry-After and the bucket's state."""
        return {
            "Retry-After": str(max(0, math.ceil(retry_after))) if retry_after >= 1 else str(retry_after),
            **self._bucket_headers(),
        }

    def _bucket_headers(self) -> dict[str, str]:
        with self.lock:
            self._drain()
            level = f"{self._level:.0f}" if self._level == int(self._level) else f"{self._level:.2f}"
            return {
                "X-LS-API-Bucket-Level": f"{level}/{self.bucket_size}",
                "X-LS-API-Drip-Rate": f"{self.drip_rate:g}",
            }

    def _drain(self) -> None:
        now = self.clock()
        self._level = max(0.0, self._level - (now - self._level_at) * self.drip_rate)
        self._level_at = now

    def _take(self, cost: float = 1.0) -> float:
        """Add a request's cost to the bucket; the seconds to wait when it would overflow."""
        with self.lock:
            self._drain()
            if self._level + cost > self.bucket_size:
                self.overflows += 1
                return (self._level + cost - self.bucket_size) / self.drip_rate
            self._level += cost
            return 0.0

    def _api(self, req: Request, handler: Callable[[], Any]) -> Response:
        try:
            if req.header("Authorization") != f"Bearer {self.access_token}" or not self.access_token:
                raise LightspeedError(401, "Invalid access token.")
            if req.params.get("account") != self.account_id:
                raise LightspeedError(401, "Access to this account is not allowed.")
            wait = self._take()
            if wait > 0:
                return Response(
                    429, self.error_body(429, "Rate limit exceeded."), self.rate_limit_headers(wait)
                )
            return Response(200, handler(), self._bucket_headers())
        except LightspeedError as exc:
            return Response(exc.status, self.error_body(exc.status, exc.message), self._bucket_headers())

    # -- OAuth -------------------------------------------------------------------------------

    @route("POST", "/auth/oauth/token")
    def token(self, req: Request) -> Response:
        """Refresh: a new access token and a new refresh token (the old one dies)."""
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = req.header("Authorization")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return Response(
                401, {"error": "invalid_client", "error_description": "Client authentication failed"}
            )
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return Response(
                400, {"error": "invalid_grant", "error_description": "The refresh token is invalid."}
            )
        with self.lock:
            self.token_requests += 1
            self.access_token = "ls-access-" + secrets.token_hex(8)
            self.refresh_token = f"ls-refresh-{self.token_requests}-" + secrets.token_hex(4)
            return Response(200, {"access_token": self.access_token, "expires_in": 3600, "token_type": "Bearer",
                                  "scope": "employee:all", "refresh_token": self.refresh_token})  # fmt: skip

    # -- reading -----------------------------------------------------------------------------

    @route("GET", "/API/V3/Account/{account}.json")
    def account(self, req: Request) -> Response:
        """The account."""
        return self._api(req, lambda: {"Account": {"accountID": self.account_id, "name": self.name}})

    @route("GET", "/API/V3/Account/{account}/Sale.json")
    def list_sales(self, req: Request) -> Response:
        """Sales, filtered, sorted, with the relations asked for, paged by cursor."""

        def answer() -> Any:
            relations = _relations(req)
            with self.lock:
                rows = [
                    s
                    for s in self.sales.values()
                    if _matches(
                        s, req, ("timeStamp", "completeTime", "registerID", "shopID", "completed", "voided")
                    )
                ]
            rows.sort(key=lambda s: (s.get(req.arg("sort", "saleID").lstrip("-")) or "", int(s["saleID"])))
            return self._paged(req, "Sale", [_loaded(s, relations) for s in rows])

        return self._api(req, answer)

    @route("GET", "/API/V3/Account/{account}/SaleLine/{line_id}.json")
    def get_sale_line(self, req: Request) -> Response:
        """One sale line (with its ``saleID``)."""

        def answer() -> Any:
            with self.lock:
                for sale in self.sales.values():
                    for line in sale.get("SaleLines", {}).get("SaleLine", []):
                        if line.get("saleLineID") == req.params["line_id"]:
                            found = {k: v for k, v in line.items() if k != "Item"}
                            return {
                                "@attributes": {"count": "1"},
                                "SaleLine": {**found, "saleID": sale["saleID"]},
                            }
            raise LightspeedError(404, f"SaleLine {req.params['line_id']} not found.")

        return self._api(req, answer)

    @route("GET", "/API/V3/Account/{account}/Register.json")
    def list_registers(self, req: Request) -> Response:
        """Registers."""
        return self._api(req, lambda: self._paged(req, "Register", list(self.registers.values())))

    @route("GET", "/API/V3/Account/{account}/RegisterCount.json")
    def list_counts(self, req: Request) -> Response:
        """Register counts, filtered on ``closeTime``, with their amounts when asked for."""

        def answer() -> Any:
            relations = _relations(req)
            with self.lock:
                rows = [c for c in self.counts.values() if _matches(c, req, ("closeTime", "registerID"))]
            loaded = []
            for c in sorted(rows, key=lambda c: c["registerCountID"]):
                c = copy.deepcopy(c)
                if "RegisterCountAmounts" not in relations:
                    c.pop("RegisterCountAmounts", None)
                else:
                    amounts = c["RegisterCountAmounts"]["RegisterCountAmount"]
                    if "RegisterCountAmounts.PaymentType" not in relations:
                        for a in amounts:
                            a.pop("PaymentType", None)
                    c["RegisterCountAmounts"]["RegisterCountAmount"] = _collapse(amounts)
                loaded.append(c)
            return self._paged(req, "RegisterCount", loaded)

        return self._api(req, answer)

    @route("GET", "/API/V3/Account/{account}/RegisterWithdraw.json")
    def list_withdraws(self, req: Request) -> Response:
        """Register withdrawals, filtered on ``createTime``."""

        def answer() -> Any:
            with self.lock:
                rows = [w for w in self.withdraws.values() if _matches(w, req, ("createTime", "registerID"))]
            return self._paged(req, "RegisterWithdraw", sorted(rows, key=lambda w: w["registerWithdrawID"]))

        return self._api(req, answer)

    def _paged(self, req: Request, key: str, rows: list[Any]) -> dict[str, Any]:
        limit = req.arg("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise LightspeedError(400, f"Limit must be between 1 and 100, got {limit}.")
        size = int(limit)
        start = 0
        if req.arg("after"):
            try:
                start = int(base64.urlsafe_b64decode(req.arg("after").encode()).decode())
            except ValueError as exc:
                raise LightspeedError(400, "Invalid pagination cursor.") from exc
        if req.arg("offset"):
            raise LightspeedError(400, "offset cannot be combined with cursor pagination; use the next URL.")
        page = rows[start : start + size]
        following = ""
        if start + size < len(rows):
            params = [(k, v) for k, vals in req.query.items() if k != "after" for v in vals]
            params.append(("after", base64.urlsafe_b64encode(str(start + size).encode()).decode()))
            following = f"{self.url}{req.path}?{urlencode(params)}"
        previous = f"{self.url}{req.path}" if start else ""
        body: dict[str, Any] = {"@attributes": {"next": following, "previous": previous}}
        if page:
            body[key] = _collapse(page)
        return body


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _relations(req: Request) -> set[str]:
    raw = req.arg("load_relations")
    if not raw:
        return set()
    try:
        names = json.loads(raw)
    except ValueError as exc:
        raise LightspeedError(400, "load_relations must be a JSON array of relation names.") from exc
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise LightspeedError(400, "load_relations must be a JSON array of relation names.")
    return set(names)


def _collapse(items: list[Any]) -> Any:
    """Lightspeed's quirk: one record is an object, several a list."""
    return items[0] if len(items) == 1 else items


def _loaded(sale: Mapping[str, Any], relations: set[str]) -> dict[str, Any]:
    out = copy.deepcopy(dict(sale))
    if "SaleLines" in relations:
        lines = out.get("SaleLines", {}).get("SaleLine", [])
        if "SaleLines.Item" not in relations:
            for ln in lines:
                ln.pop("Item", None)
        out["SaleLines"] = {"SaleLine": _collapse(lines)} if lines else ""
    else:
        out.pop("SaleLines", None)
    if "SalePayments" in relations:
        payments = out.get("SalePayments", {}).get("SalePayment", [])
        if "SalePayments.PaymentType" not in relations:
            for p in payments:
                p.pop("PaymentType", None)
        out["SalePayments"] = {"SalePayment": _collapse(payments)} if payments else ""
    else:
        out.pop("SalePayments", None)
    if "TaxCategory" not in relations:
        out.pop("TaxCategory", None)
    return out


def _compare(have: str, op: str, values: list[str], field: str) -> bool:
    if field.endswith("Time") or field == "timeStamp":
        a, bs = _parse_time(have), [_parse_time(v) for v in values]
    else:
        a, bs = have, values  # type: ignore[assignment]
    if op == "><":
        return bool(bs[0] < a < bs[1])
    b = bs[0]
    return bool({">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, "=": a == b}[op])


def _matches(row: Mapping[str, Any], req: Request, fields: tuple[str, ...]) -> bool:
    for field in fields:
        raw = req.arg(field)
        if not raw:
            continue
        op = next((o for o in _OPS if raw.startswith(o + ",")), None)
        values = raw[len(op) + 1 :].split(",") if op else [raw]
        op = op or "="
        have = row.get(field)
        if have in (None, ""):
            return False
        try:
            if not _compare(str(have), op, values, field):
                return False
        except ValueError as exc:
            raise LightspeedError(400, f"Invalid value for {field}: {raw}") from exc
    return True
