"""The HTTP face of the SAP Business One sandbox: the Service Layer, versions 1 and 2.

Like the Service Layer it

* logs in with ``POST /b1s/{v1|v2}/Login {CompanyDB, UserName, Password}``, answering the
  ``SessionId`` and ``SessionTimeout`` (minutes) and the cookies ``B1SESSION`` and ``ROUTEID``; a
  request without a live session is ``401`` with error ``301`` ("Invalid session or session
  already timeout."); a session dies after its timeout of idleness (and, for tests, after
  ``session_requests`` requests);
* answers errors in the shape of each version: v1 (OData v3) ``{"error": {"code": -4013,
  "message": {"lang": "en-us", "value": "..."}}}``, v2 (OData v4) ``{"error": {"code": "-4013",
  "message": "..."}}``; dates as ``2026-10-05`` (v1) or ``2026-10-05T00:00:00Z`` (v2);
* serves entity sets with ``$filter`` (``eq`` joined by ``and``), entities by key, and
  ``CompanyService_GetFinancePeriods``;
* takes a multipart ``$batch`` whose change sets are all-or-nothing.

:meth:`SapB1Sandbox.requests_inside_retry_after` lists any request that came inside a
Retry-After window the sandbox gave (429 is injected as a fault: the Service Layer itself is
self-hosted and publishes no limit).
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.jsonwire import dumps, loads
from connectors.ledgers.sap_b1.multipart import Part, decode_request, encode_response
from connectors.sandbox.base import Request, Response, SandboxServer
from connectors.sandbox.sap_b1.company import B1Error, Company

__all__ = ["SapB1Sandbox"]

ENTITY = re.compile(r"^/b1s/(?P<version>v1|v2)/(?P<set>[\w$]+)(?:\((?P<key>[^)]*)\))?$")
DATE_KEYS = re.compile(r"(Date|Effectivefrom|DateFrom|DateTo)$")


def _filter(rows: list[dict[str, Any]], expression: str) -> list[dict[str, Any]]:
    """Rows matching ``field eq value`` clauses joined by ``and``."""
    if not expression:
        return rows
    clauses = []
    for part in re.split(r"\s+and\s+", expression.strip()):
        m = re.fullmatch(r"(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|([\w.:-]+))", part.strip())
        if not m:
            raise B1Error(400, -1, f"Unsupported filter '{part}'")
        clauses.append((m[1], m[2].replace("''", "'") if m[2] is not None else m[3]))
    return [r for r in rows if all(str(r.get(f, "")) == v for f, v in clauses)]


class SapB1Sandbox(SandboxServer):
    """One company database behind a Service Layer; see the module docstring."""

    vendor = "sap_b1"

    def __init__(
        self,
        *,
        company_db: str = "SBODEMOGB",
        user: str = "manager",
        password: str = "b1-password",  # noqa: S107 - a fake server's fake password
        currency: str = "GBP",
        session_timeout_minutes: int = 30,
        session_requests: int | None = None,
        unique_references: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        """One company database; sessions time out after ``session_timeout_minutes`` idle."""
        super().__init__(host, port, seed)
        self.company_db, self.user, self.password = company_db, user, password
        self.session_timeout = session_timeout_minutes
        self.session_requests = session_requests
        self.company = Company(currency=currency, unique_references=unique_references)
        self.sessions: dict[str, dict[str, float]] = {}
        self.logins = 0
        self.retry_windows: list[tuple[float, float]] = []

    # -- helpers for tests and the demo --------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        """User and password of the Service Layer user."""
        return {"user": self.user, "password": self.password}

    def ledger_settings(self, version: str = "v1") -> dict[str, Any]:
        """Connection settings for this company database."""
        return {
            "company_db": self.company_db,
            "service_layer_version": version,
            "receivable_account": self.company.receivable_account,
        }

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]]) -> None:
        """Replace the company's chart, VAT groups and periods (see :meth:`Company.seed`)."""
        with self.lock:
            self.company.seed(accounts, tax_codes)

    def expire_sessions(self) -> None:
        """Every session times out now."""
        with self.lock:
            self.sessions.clear()

    def requests_inside_retry_after(self) -> list[Request]:
        """Requests that arrived while a 429's Retry-After window was still open."""
        with self.lock:
            windows = list(self.retry_windows)
            api = [r for r in self.requests if r.path.startswith("/b1s/")]
        return [r for r in api if any(start < r.received_at < end for start, end in windows)]

    # -- vendor flavour ------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """The v1 error shape (the path's version is not known here; both parse as an error)."""
        return {
            "error": {"code": -1 if status != 429 else -429, "message": {"lang": "en-us", "value": message}}
        }

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Headers of a 429; the window is recorded for :meth:`requests_inside_retry_after`."""
        now = time.time()
        with self.lock:
            self.retry_windows.append((now, now + retry_after))
        return super().rate_limit_headers(retry_after)

    @staticmethod
    def _error(version: str, status: int, code: int, message: str) -> Response:
        if version == "v2":
            return Response(status, {"error": {"code": str(code), "message": message}})
        return Response(status, {"error": {"code": code, "message": {"lang": "en-us", "value": message}}})

    def _out(self, version: str, value: Any) -> Any:
        """A row in the version's JSON: v2 writes dates with a time and zone."""
        if isinstance(value, dict):
            # PaidToDate is a v2 property; the v1 metadata's Document has none.
            return {k: (f"{v}T00:00:00Z" if version == "v2" and isinstance(v, str) and DATE_KEYS.search(k) and len(v) == 10
                        else self._out(version, v)) for k, v in value.items() if version == "v2" or k != "PaidToDate"}  # fmt: skip
        if isinstance(value, list):
            return [self._out(version, v) for v in value]
        return value

    # -- the gate ------------------------------------------------------------------------------------

    def _call(self, req: Request) -> Response:
        """Login, the session check, then the API or ``$batch``."""
        m = re.match(r"^/b1s/(v1|v2)/", req.path)
        if not m:
            return Response(404, self.error_body(404, f"no route for {req.path}"))
        version = m[1]
        if req.path.endswith("/Login") and req.method == "POST":
            return self._login(req, version)
        cookie = req.header("Cookie")
        found = re.search(r"B1SESSION=([\w-]+)", cookie)
        session = found[1] if found else ""
        now = time.time()
        with self.lock:
            state = self.sessions.get(session)
            alive = state is not None and now - state["used"] < self.session_timeout * 60
            if alive and self.session_requests is not None and state is not None:
                state["count"] += 1
                alive = state["count"] <= self.session_requests
            if not alive:
                self.sessions.pop(session, None)
                return self._error(version, 401, 301, "Invalid session or session already timeout.")
            assert state is not None
            state["used"] = now
        if req.path.endswith("/Logout"):
            with self.lock:
                self.sessions.pop(session, None)
            return Response(204)
        if req.path.endswith("/$batch") and req.method == "POST":
            return self._batch(req, version)
        with self.lock:
            return self._api(version, req.method, req.path, req.query, req.body)

    def _login(self, req: Request, version: str) -> Response:
        """Check the company, user and password; open a session."""
        body = loads(req.body or b"{}")
        if (body.get("CompanyDB"), body.get("UserName"), body.get("Password")) != (
            self.company_db,
            self.user,
            self.password,
        ):
            return self._error(version, 401, 100000027, "Login failed")
        session = str(uuid.uuid4())
        with self.lock:
            self.sessions[session] = {"used": time.time(), "count": 0}
            self.logins += 1
        cookies = f"B1SESSION={session}; path=/b1s/{version}; HttpOnly"
        return Response(200, {"odata.metadata": f"{self.url}/b1s/{version}/$metadata#B1Sessions/@Element", "SessionId": session,
                              "Version": "1000230", "SessionTimeout": self.session_timeout},
                        {"Set-Cookie": cookies})  # fmt: skip

    # -- $batch --------------------------------------------------------------------------------------

    def _batch(self, req: Request, version: str) -> Response:
        """A multipart ``$batch``: reads answered alone, change sets applied all-or-nothing."""
        groups = decode_request(req.body, req.header("Content-Type"))
        answers: list[tuple[bool, list[Part]]] = []
        with self.lock:
            for changeset, parts in groups:
                saved = copy.deepcopy(self.company) if changeset else None
                done: list[Part] = []
                for part in parts:
                    url = urlsplit(part.url)
                    result = self._api(
                        version, part.method, unquote(url.path), parse_qs(url.query), part.body
                    )
                    answer = Part(status=result.status, headers={"Content-Type": "application/json"},
                                  body=result.encoded())  # fmt: skip
                    if changeset and result.status >= 400:
                        self.company = saved  # type: ignore[assignment]
                        done = [answer]  # a failed change set answers with its error alone
                        break
                    done.append(answer)
                answers.append((changeset and len(done) == len(parts), done))
        boundary = f"batchresponse_{uuid.uuid4()}"
        return Response(
            200, encode_response(answers, boundary), content_type=f"multipart/mixed;boundary={boundary}"
        )

    # -- resources -----------------------------------------------------------------------------------

    def _api(self, version: str, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> Response:
        """One request on an entity set, answered in the version's error shape."""
        m = ENTITY.match(path)
        if not m:
            return self._error(version, 404, -1, f"Resource not found for the segment '{path}'")
        name, key = m["set"], (m["key"] or "").strip("'")
        try:
            body = loads(raw) if raw else {}
            return self._resource(version, method, name, key, {k: v[0] for k, v in query.items()}, body)
        except B1Error as exc:
            return self._error(version, exc.status, exc.code, exc.message)
        except (ValueError, KeyError, TypeError) as exc:
            return self._error(version, 400, -1, f"Invalid request: {exc}")

    def _resource(
        self, version: str, method: str, name: str, key: str, arg: dict[str, str], body: Any
    ) -> Response:
        """Route one request on the company to its rule."""
        c = self.company
        sets: dict[str, list[dict[str, Any]]] = {"ChartOfAccounts": c.accounts, "VatGroups": c.vat_groups, "BusinessPartners": c.partners,
                                                 "JournalEntries": c.journals, **c.documents, **c.payments}  # fmt: skip
        if name == "CompanyService_GetFinancePeriods" and method == "POST":
            return Response(200, {"value": self._out(version, c.periods)})
        if name not in sets:
            return self._error(version, 404, -1, f"Resource not found for the segment '{name}'")
        if method == "POST" and not key:
            if name in c.documents:
                row = c.add_document(name, body)
            elif name in c.payments:
                row = c.add_payment(name, body)
            elif name == "JournalEntries":
                row = c.add_journal(body)
            elif name == "BusinessPartners":
                row = c.add_partner(body)
            else:
                return self._error(version, 405, -1, f"{name} cannot be created here")
            return Response(201, dumps(self._out(version, row)))
        if method == "GET" and key:
            key_field = {
                "ChartOfAccounts": "Code",
                "VatGroups": "Code",
                "BusinessPartners": "CardCode",
                "JournalEntries": "JdtNum",
            }.get(name, "DocEntry")
            found = [r for r in sets[name] if str(r[key_field]) == key]
            if not found:
                return self._error(version, 404, -2028, "No matching records found (ODBC -2028)")
            return Response(200, dumps(self._out(version, found[0])))
        if method == "GET":
            rows = _filter(sets[name], arg.get("$filter", ""))
            return Response(200, dumps({"value": self._out(version, rows)}))
        return self._error(version, 405, -1, f"{method} is not supported on {name} here")
