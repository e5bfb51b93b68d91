"""Odoo's three external APIs behind one call: XML-RPC, JSON-RPC and JSON-2.

* **XML-RPC** (every version; deprecated from 19, to be removed in 22): ``/xmlrpc/2/common``
  ``authenticate(db, login, key, {})`` gives the user id, then ``/xmlrpc/2/object``
  ``execute_kw(db, uid, key, model, method, args, kwargs)``.
* **JSON-RPC**: the same ``execute_kw`` at ``/jsonrpc`` (``service: "object"``).
* **JSON-2** (19.0 and later): ``POST /json/2/<model>/<method>`` with ``Authorization: bearer
  <key>`` and ``X-Odoo-Database``; the body names every argument (``ids``, ``domain``,
  ``vals_list``, ``vals`` ...).

:class:`OdooRPC` asks the server its version (``/web/webclient/version_info``, else XML-RPC
``common.version``) and uses JSON-2 where it exists, XML-RPC before; ``settings["protocol"]``
forces one. :meth:`OdooRPC.call` takes the ``execute_kw`` shape (records' ids first, then the
method's positional arguments, then keyword arguments) and translates it for JSON-2.

Exact amounts: Decimals go out as exact numbers and come back as Decimals on every protocol. The
API key never reaches the integration log: each call hands the log a copy of its body without it.

Two behaviours of real servers are absorbed here: over XML-RPC a method that returns None (Odoo
commits, then cannot marshal the answer) answers a ``cannot marshal None`` fault, which is a
success; and ``create`` takes its values positionally (``vals_list``), never by keyword.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal

from connectors.base import AuthExpired, Permanent, Retryable, Uncertain
from connectors.http import VendorHTTP
from connectors.jsonwire import dumps, loads
from connectors.ledgers.odoo.errors import classify_fault, is_marshal_none
from connectors.ledgers.odoo.xmlrpc import XmlRpcFault, dump_call, load_response

__all__ = ["PROTOCOLS", "OdooRPC", "Protocol"]

Protocol = Literal["xmlrpc", "jsonrpc", "json2"]
PROTOCOLS: tuple[str, ...] = ("auto", "xmlrpc", "jsonrpc", "json2")
READ_METHODS = frozenset({"search_read", "read", "search", "search_count", "fields_get", "read_group"})
#: Positional parameter names of the methods this connector calls, for JSON-2 (which names them).
POSITIONAL = {"create": ("vals_list",), "write": ("vals",), "js_assign_outstanding_line": ("line_id",),
              "search_read": ("domain", "fields"), "search": ("domain",), "read": ("fields",),
              "search_count": ("domain",)}  # fmt: skip


class OdooRPC:
    """One Odoo database reached as one user, over the protocol the server speaks best."""

    def __init__(
        self, http: VendorHTTP, *, db: str, login: str, api_key: str, protocol: str = "auto"
    ) -> None:
        if protocol not in PROTOCOLS:
            raise Permanent(f"odoo: unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
        self.http = http
        self.db = db
        self.login = login
        self._key = api_key
        self._forced = protocol
        self._protocol: Protocol | None = None if protocol == "auto" else protocol  # type: ignore[assignment]
        self._version: tuple[int, int] | None = None
        self._uid: int | None = None
        self._ids = itertools.count(1)

    # -- the server ----------------------------------------------------------------------------

    def version(self) -> tuple[int, int]:
        """The server's (major, minor) version, asked once."""
        if self._version is None:
            info: Any
            try:
                info = self._jsonrpc_raw("/web/webclient/version_info", {})
            except (Permanent, Retryable):
                info = self._xmlrpc("/xmlrpc/2/common", "version", [], log={"method": "version"})
            numbers = list((info or {}).get("server_version_info") or [])
            try:
                self._version = (int(numbers[0]), int(numbers[1]) if len(numbers) > 1 else 0)
            except (IndexError, TypeError, ValueError) as exc:
                raise Permanent(f"odoo: the server did not say its version ({info!r})") from exc
        return self._version

    @property
    def protocol(self) -> Protocol:
        """The protocol in use: JSON-2 on 19 and later, XML-RPC before (unless forced)."""
        if self._protocol is None:
            self._protocol = "json2" if self.version()[0] >= 19 else "xmlrpc"
        return self._protocol

    def uid(self) -> int:
        """The user id for ``execute_kw`` (authenticated once)."""
        if self._uid is None:
            args = [self.db, self.login, self._key, {}]
            log = {"service": "common", "method": "authenticate", "db": self.db, "login": self.login}
            if self.protocol == "jsonrpc":
                uid = self._jsonrpc_raw(
                    "/jsonrpc", {"service": "common", "method": "authenticate", "args": args}, log
                )
            else:
                uid = self._xmlrpc("/xmlrpc/2/common", "authenticate", args, log=log)
            if not uid:
                raise AuthExpired(
                    f"odoo: {self.login} could not sign in to {self.db}: check the user and API key"
                )
            self._uid = int(uid)
        return self._uid

    # -- one call --------------------------------------------------------------------------------

    def call(self, model: str, method: str, *args: Any, ids: list[int] | None = None, **kwargs: Any) -> Any:
        """``model.method`` on ``ids`` (None: a model method) with positional ``args`` and keyword
        ``kwargs``; the answer with Decimals for amounts. A read whose answer was lost is
        :class:`Retryable` (nothing changed); a write's is :class:`Uncertain`."""
        try:
            if self.protocol == "json2":
                return self._json2(model, method, list(args), ids, kwargs)
            full = ([list(ids)] if ids is not None else []) + list(args)
            log = {"model": model, "method": method, "args": full, "kwargs": kwargs}
            execute = [self.db, self.uid(), self._key, model, method, full, kwargs]
            if self.protocol == "jsonrpc":
                body = {"service": "object", "method": "execute_kw", "args": execute}
                return self._jsonrpc_raw("/jsonrpc", body, log)
            return self._xmlrpc("/xmlrpc/2/object", "execute_kw", execute, log=log)
        except Uncertain as exc:
            if method in READ_METHODS:
                raise Retryable(exc.message) from exc
            raise

    def _xmlrpc(self, path: str, method: str, params: list[Any], *, log: Mapping[str, Any]) -> Any:
        """One XML-RPC call; a fault is classified, except the marshal-None one (a success)."""
        response = self.http.request(
            "POST",
            path,
            data=dump_call(method, params),
            headers={"Content-Type": "text/xml"},
            log_body=dumps(dict(log)),
        )
        if response.status_code >= 400:
            raise classify_fault("", response.text[:500], status=response.status_code)
        try:
            return load_response(response.content)
        except XmlRpcFault as fault:
            if is_marshal_none(fault.string):
                return None
            raise classify_fault("", fault.string) from fault
        except ValueError as exc:
            raise Uncertain(f"odoo: unreadable XML-RPC answer ({exc})") from exc

    def _jsonrpc_raw(self, path: str, params: Mapping[str, Any], log: Mapping[str, Any] | None = None) -> Any:
        """One JSON-RPC call (``/jsonrpc`` or a JSON route); an ``error`` is classified."""
        body = {"jsonrpc": "2.0", "method": "call", "params": dict(params), "id": next(self._ids)}
        response = self.http.request(
            "POST", path, data=dumps(body), headers={"Content-Type": "application/json"},
            log_body=dumps({"jsonrpc": "2.0", "method": "call", "params": dict(log or params)}),
        )  # fmt: skip
        if response.status_code >= 400:
            raise classify_fault("", response.text[:500], status=response.status_code)
        try:
            answer = loads(response.content)
        except ValueError as exc:
            raise Uncertain(f"odoo: unreadable JSON-RPC answer ({exc})") from exc
        error = answer.get("error") if isinstance(answer, Mapping) else None
        if error:
            data = error.get("data") or {}
            return self._raise(
                str(data.get("name") or ""), str(data.get("message") or error.get("message") or "")
            )
        return answer.get("result") if isinstance(answer, Mapping) else None

    def _json2(
        self, model: str, method: str, args: list[Any], ids: list[int] | None, kwargs: Mapping[str, Any]
    ) -> Any:
        """One JSON-2 call: positional arguments named, errors by status and exception name."""
        names = POSITIONAL.get(method, ())
        if len(args) > len(names):
            raise Permanent(f"odoo: {method} has no JSON-2 names for {len(args)} positional arguments")
        body: dict[str, Any] = dict(zip(names, args, strict=False))
        if ids is not None:
            body["ids"] = list(ids)
        body.update(kwargs)
        response = self.http.request(
            "POST", f"/json/2/{model}/{method}", data=dumps(body),
            headers={"Content-Type": "application/json", "Authorization": f"bearer {self._key}",
                     "X-Odoo-Database": self.db},
        )  # fmt: skip
        try:
            answer = loads(response.content) if response.content else None
        except ValueError as exc:
            if response.status_code < 300:
                raise Uncertain(f"odoo: unreadable JSON-2 answer ({exc})") from exc
            answer = None
        if response.status_code < 300:
            return answer
        detail = answer if isinstance(answer, Mapping) else {}
        raise classify_fault(
            str(detail.get("name") or ""),
            str(detail.get("message") or response.text[:500]),
            status=response.status_code,
        )

    @staticmethod
    def _raise(name: str, message: str) -> Any:
        if is_marshal_none(message):
            return None
        raise classify_fault(name, message)
