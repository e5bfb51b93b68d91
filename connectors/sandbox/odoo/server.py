"""An Odoo-like server (17, 18 or 19) speaking XML-RPC, JSON-RPC and, from 19, JSON-2.

Endpoints, as Odoo serves them:

* ``POST /web/webclient/version_info`` (JSON-RPC) - ``server_version_info``;
* ``POST /xmlrpc/2/common`` - ``version``, ``authenticate(db, login, key, {})``;
* ``POST /xmlrpc/2/object`` - ``execute_kw(db, uid, key, model, method, args, kwargs)``; an
  exception is a ``<fault>`` (HTTP 200), and a method returning None, once committed, answers the
  fault ``TypeError: cannot marshal None unless allow_none is enabled`` as Odoo's does;
* ``POST /jsonrpc`` - ``{"service": "common"|"object", "method", "args"}``; errors as
  ``{"error": {"code": 200, "message": "Odoo Server Error", "data": {"name", "message"}}}``;
* ``POST /json/2/<model>/<method>`` (19 only) - bearer API key, ``X-Odoo-Database``, named
  arguments; errors with a status (401, 403, 404, 422, 500) and ``{"name", "message"}``.

Faults are drawn per model and method: the path a fault pattern is matched against is
``<path>#<model>.<method>`` (``/xmlrpc/2/object#account.move.create``), so a test can break one
method of one model on every protocol. 429 answers record their Retry-After window
(:meth:`OdooSandbox.requests_inside_retry_after`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.jsonwire import dumps, loads
from connectors.ledgers.odoo.xmlrpc import dump_fault, dump_response, load_call
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.odoo.books import OdooBooks
from connectors.sandbox.odoo.orm import OdooError

__all__ = ["OdooSandbox"]

FAULT_CODES = {"odoo.exceptions.UserError": 2, "odoo.exceptions.ValidationError": 2,
               "odoo.exceptions.AccessDenied": 3, "odoo.exceptions.AccessError": 4}  # fmt: skip
JSON2_STATUS = {"odoo.exceptions.AccessDenied": 401, "odoo.exceptions.AccessError": 403,
                "odoo.exceptions.MissingError": 404, "odoo.exceptions.UserError": 422,
                "odoo.exceptions.ValidationError": 422}  # fmt: skip
JSON2_POSITIONAL = {"create": ("vals_list",), "write": ("vals",), "js_assign_outstanding_line": ("line_id",),
                    "search_read": ("domain", "fields"), "search": ("domain",), "read": ("fields",),
                    "search_count": ("domain",)}  # fmt: skip
ACCOUNT_TYPES = {
    "liability": "liability_current",
    "equity": "equity",
    "revenue": "income",
    "expense": "expense",
}


class OdooSandbox(SandboxServer):
    """One Odoo database (``db``) with one API user; ``books`` holds its company."""

    vendor = "odoo"

    def __init__(self, *, version: int = 17, currency: str = "GBP", db: str = "kente", login: str = "api@kente.test",
                 api_key: str = "odoo-api-key-0123456789", seed: int = 0, **kw: Any) -> None:  # fmt: skip
        super().__init__(seed=seed, **kw)
        self.version = version
        self.db = db
        self.login = login
        self.api_key = api_key
        self.uid = 2
        self.books = OdooBooks(version, currency)
        self.retry_windows: list[tuple[float, float]] = []
        self.calls: list[tuple[str, str, str]] = []  # (protocol, model, method)
        #: Every call with its arguments, as the server understood them (contract tests).
        self.call_log: list[tuple[str, str, str, list[Any], dict[str, Any]]] = []

    def __enter__(self) -> OdooSandbox:
        self.start()
        return self

    # -- what tests use ----------------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        """The connection's (write-only) credentials: the API key."""
        return {"api_key": self.api_key}

    def ledger_settings(self, protocol: str = "auto") -> dict[str, Any]:
        """Connection settings: database, login and protocol (``auto`` unless forced)."""
        return {"database": self.db, "login": self.login, "protocol": protocol}

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]],
                   currencies: Mapping[str, Decimal] | None = None) -> None:  # fmt: skip
        """Our chart as Odoo's: accounts (code, name, type), sales taxes named by our code (price
        excluded), a sales and a miscellaneous journal, one bank or cash journal per money account
        (bank, clearing, cash, mobile money) posting to it, and active ``currencies`` with a rate
        (units per company unit) from 2020-01-01."""
        store = self.books.store
        with self.lock:
            ids: dict[str, int] = {}
            for code, name, kind in accounts:
                lowered = name.lower()
                if kind == "asset" and "receivable" in lowered:
                    account_type = "asset_receivable"
                elif kind == "asset" and any(w in lowered for w in ("bank", "clearing", "cash", "money")):
                    account_type = "asset_cash"
                elif kind == "asset":
                    account_type = "asset_current"
                else:
                    account_type = ACCOUNT_TYPES[kind]
                ids[code] = store.insert("account.account", {"code": code, "name": name, "account_type": account_type,
                                                             "deprecated": False, "company_id": self.books.company_id})  # fmt: skip
            liabilities = [(c, n.lower()) for c, n, k in accounts if k == "liability"]
            for code, name, rate in tax_codes:
                word = "tva" if "tva" in name.lower() else "vat"
                account = next(
                    (c for c, n in liabilities if word in n), liabilities[0][0] if liabilities else ""
                )
                rep = store.insert("account.tax.repartition.line", {"repartition_type": "tax", "document_type": "invoice",
                                                                    "account_id": ids.get(account, False), "factor_percent": Decimal(100)})  # fmt: skip
                tax_id = store.insert("account.tax", {
                    "name": code, "description": name, "amount": Decimal(rate) * 100, "amount_type": "percent",
                    "type_tax_use": "sale", "price_include": False, "active": True, "company_id": self.books.company_id,
                    "invoice_repartition_line_ids": [rep],
                })  # fmt: skip
                store.get("account.tax.repartition.line", rep)["tax_id"] = tax_id
            store.insert("account.journal", {"name": "Customer Invoices", "code": "INV", "type": "sale",
                                             "default_account_id": next((ids[c] for c, _, k in accounts if k == "revenue"), False)})  # fmt: skip
            store.insert("account.journal", {"name": "Miscellaneous Operations", "code": "MISC", "type": "general",
                                             "default_account_id": False})  # fmt: skip
            n = 0
            for code, name, _ in accounts:
                if store.get("account.account", ids[code])["account_type"] == "asset_cash":
                    n += 1
                    kind = "cash" if "cash" in name.lower() else "bank"
                    store.insert(
                        "account.journal",
                        {"name": name, "code": f"BNK{n}", "type": kind, "default_account_id": ids[code]},
                    )
            for currency, units in (currencies or {}).items():
                currency_id = self.books.currency_ids[currency]
                store.get("res.currency", currency_id)["active"] = True
                store.insert("res.currency.rate", {"currency_id": currency_id, "name": "2020-01-01", "rate": Decimal(units),
                                                   "company_id": self.books.company_id})  # fmt: skip

    def set_lock_dates(self, **dates: date | None) -> None:
        """Set company lock dates (``fiscalyear_lock_date``, ``period_lock_date`` or, 18+,
        ``sale_lock_date``, ``hard_lock_date``)."""
        with self.lock:
            for name, value in dates.items():
                if name not in self.books.company:
                    raise KeyError(f"Odoo {self.version} has no {name}")
                self.books.company[name] = value.isoformat() if value else False

    def records(self, model: str, domain: list[Any] | None = None) -> list[dict[str, Any]]:
        """Stored records of a model (raw, for assertions)."""
        with self.lock:
            store = self.books.store
            return [dict(store.get(model, i)) for i in store.search(model, domain or [])]

    def requests_inside_retry_after(self) -> list[Request]:
        """Requests that arrived while a 429's Retry-After window was still open."""
        with self.lock:
            windows = list(self.retry_windows)
            requests = list(self.requests)
        return [r for r in requests if any(start < r.received_at < end for start, end in windows)]

    # -- dispatch with per-model faults ------------------------------------------------------------

    def _fault_key(self, path: str, body: bytes) -> str:
        """``<path>#<model>.<method>`` of a call, for per-method fault patterns."""
        try:
            if path == "/xmlrpc/2/object":
                _, params = load_call(body)
                return f"{path}#{params[3]}.{params[4]}"
            if path == "/jsonrpc":
                args = json.loads(body)["params"].get("args") or []
                return f"{path}#{args[3]}.{args[4]}" if len(args) > 4 else path
            if path.startswith("/json/2/"):
                _, _, _, model, method = path.split("/", 4)
                return f"{path}#{model}.{method}"
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        return path

    def _dispatch(self, http: BaseHTTPRequestHandler) -> None:
        """The base dispatch, with faults drawn per model and method and 429 windows recorded."""
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        req = Request(method=http.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
                      headers={k: v for k, v in http.headers.items()}, body=body)  # fmt: skip
        with self.lock:
            self.requests.append(req)
        fault = self.faults.draw(self._fault_key(parts.path, body))
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay)
            self._close(http)
            return
        if fault is not None and fault.kind == "rate_limit":
            with self.lock:
                self.retry_windows.append((req.received_at, req.received_at + fault.retry_after))
            self._write(
                http,
                Response(429, {"error": "Too Many Requests"}, self.rate_limit_headers(fault.retry_after)),
            )
            return
        if fault is not None and fault.kind == "status":
            self._write(http, Response(fault.status, b"<html><body>Internal Server Error</body></html>",
                                       content_type="text/html"))  # fmt: skip
            return
        with self.lock:  # one transaction at a time, like a database with serialised writes
            response = self._call(req)
        if fault is not None and fault.kind == "drop_after_commit":
            self._close(http)
            return
        self._write(http, response)

    # -- running a method ----------------------------------------------------------------------------

    def _execute(
        self, protocol: str, model: str, method: str, args: list[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        self.calls.append((protocol, model, method))
        self.call_log.append((protocol, model, method, list(args), dict(kwargs or {})))
        return self.books.execute(model, method, list(args), dict(kwargs or {}))

    def _check(self, db: Any, uid: Any, key: Any) -> None:
        if db != self.db or int(uid or 0) != self.uid or key != self.api_key:
            raise OdooError("Access Denied", "odoo.exceptions.AccessDenied")

    def _version_info(self) -> dict[str, Any]:
        return {"server_version": f"{self.version}.0", "server_version_info": [self.version, 0, 0, "final", 0, ""],
                "server_serie": f"{self.version}.0", "protocol_version": 1}  # fmt: skip

    def _authenticate(self, db: Any, login: Any, key: Any) -> Any:
        return self.uid if (db, login, key) == (self.db, self.login, self.api_key) else False

    @route("POST", "/xmlrpc/2/common")
    def xmlrpc_common(self, req: Request) -> Response:
        """``version`` and ``authenticate``."""
        method, params = load_call(req.body)
        if method == "version":
            return self._xml(self._version_info())
        if method in ("authenticate", "login"):
            return self._xml(self._authenticate(*params[:3]))
        return self._xml_fault("builtins.NameError", f"Method not available {method}")

    @route("POST", "/xmlrpc/2/object")
    def xmlrpc_object(self, req: Request) -> Response:
        """``execute_kw``: a fault for an exception; None answered as Odoo does (a fault)."""
        method, params = load_call(req.body)
        try:
            if method != "execute_kw":
                raise OdooError(f"Method not available {method}", "builtins.NameError")
            db, uid, key, model, name, args, *rest = params
            self._check(db, uid, key)
            result = self._execute("xmlrpc", model, name, args, rest[0] if rest else {})
        except OdooError as exc:
            return self._xml_fault(exc.name, exc.message)
        if result is None:
            return Response(200, dump_fault(1, "Traceback (most recent call last):\n  ...\nTypeError: cannot marshal "
                                               "None unless allow_none is enabled"), content_type="text/xml")  # fmt: skip
        return self._xml(result)

    def _xml(self, value: Any) -> Response:
        return Response(200, dump_response(value), content_type="text/xml")

    @staticmethod
    def _xml_fault(name: str, message: str) -> Response:
        """A fault as Odoo's XML-RPC layer writes it (message alone for user errors, else a traceback)."""
        code = FAULT_CODES.get(name, 1)
        text = (
            message if code in (2, 3, 4) else f"Traceback (most recent call last):\n  ...\n{name}: {message}"
        )
        return Response(200, dump_fault(code, text), content_type="text/xml")

    @route("POST", "/jsonrpc")
    def jsonrpc(self, req: Request) -> Response:
        """``common`` and ``object`` services over JSON-RPC."""
        body = loads(req.body)
        params = body.get("params") or {}
        args = list(params.get("args") or [])
        try:
            if params.get("service") == "common":
                if params.get("method") == "version":
                    result: Any = self._version_info()
                else:
                    result = self._authenticate(*args[:3])
            else:
                db, uid, key, model, name, call_args, *rest = args
                self._check(db, uid, key)
                result = self._execute("jsonrpc", model, name, call_args, rest[0] if rest else {})
        except OdooError as exc:
            return self._json({"jsonrpc": "2.0", "id": body.get("id"), "error": {
                "code": 200, "message": "Odoo Server Error",
                "data": {"name": exc.name, "message": exc.message, "arguments": [exc.message], "debug": ""}}})  # fmt: skip
        return self._json({"jsonrpc": "2.0", "id": body.get("id"), "result": result})

    @route("POST", "/web/webclient/version_info")
    def version_info(self, req: Request) -> Response:
        """The server's version over JSON-RPC."""
        return self._json({"jsonrpc": "2.0", "id": None, "result": self._version_info()})

    @route("POST", "/json/2/{model}/{method}")
    def json2(self, req: Request) -> Response:
        """JSON-2 (19+): bearer key, named arguments."""
        if self.version < 19:
            return Response(404, b"<html>404: Not Found</html>", content_type="text/html")
        model, method = req.params["model"], req.params["method"]
        try:
            if (
                req.header("Authorization") != f"bearer {self.api_key}"
                or req.header("X-Odoo-Database") != self.db
            ):
                raise OdooError("Invalid apikey", "odoo.exceptions.AccessDenied")
            body = dict(loads(req.body) or {})
            args: list[Any] = []
            if "ids" in body:
                args.append(body.pop("ids"))
            for name in JSON2_POSITIONAL.get(method, ()):
                if name in body:
                    args.append(body.pop(name))
            result = self._execute("json2", model, method, args, body)
        except OdooError as exc:
            status = JSON2_STATUS.get(exc.name, 500)
            return self._json({"name": exc.name, "message": exc.message, "arguments": [exc.message], "context": {},
                               "debug": ""}, status)  # fmt: skip
        return self._json(result)

    @staticmethod
    def _json(value: Any, status: int = 200) -> Response:
        return Response(status, dumps(value))

    def error_body(self, status: int, message: str) -> Any:
        """Odoo answers routing errors with an HTML page."""
        return f"<html><body>{status}: {message}</body></html>".encode()
