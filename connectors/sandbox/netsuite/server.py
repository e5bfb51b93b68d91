"""A NetSuite account on 127.0.0.1: REST web services (``record/v1``, SuiteQL, asynchronous
requests) and SuiteTalk SOAP (:mod:`.soap`) over one set of books.

What it enforces, as NetSuite does:

* token-based authentication: an OAuth 1.0a header signed with HMAC-SHA256 (``realm`` = account
  id, not in the base string), each nonce used once, timestamps within five minutes; or an
  OAuth 2.0 bearer token it issued; SOAP calls carry a ``tokenPassport`` checked the same way;
* upsert by external id (``PUT .../eid:<id>``, ``?replace=`` sublists), ``X-NetSuite-idempotency-key``
  on asynchronous requests (the same key is the same job), unique ``tranId`` per record type;
* subsidiary, currency, segments, locked posting periods, SuiteTax details, balanced journals;
* sales orders billed by ``POST .../salesOrder/<id>/!transform/invoice`` (SOAP ``initialize``),
  the invoice linked by ``createdFrom``; an order is billed once, then refused
  (``INVALID_INITIALIZE_REF``) and can no longer be changed;
* one concurrency limit per account shared by REST and SOAP (REST 429
  ``CONCURRENCY_LIMIT_EXCEEDED``, SOAP ``WS_CONCUR_SESSION_DISALLWD`` / ``WS_REQUEST_BLOCKED``);
* fault injection from :class:`~connectors.sandbox.base.SandboxServer`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlencode

from connectors.jsonwire import dumps, loads
from connectors.ledgers.netsuite.auth import TbaCredentials, parse_oauth1_header, verify_oauth1
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.netsuite.books import Books, NsError

__all__ = ["REST_PREFIX", "NetSuiteSandbox"]

REST_PREFIX = "/services/rest"
SOAP_PATH = "/services/NetSuitePort_2023_2"
_local = threading.local()


def _error(status: int, code: str, detail: str) -> dict[str, Any]:
    titles = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
              500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip
    return {"type": "https://www.rfc-editor.org/rfc/rfc9110.html", "title": titles.get(status, "Error"),
            "status": status, "o:errorDetails": [{"detail": detail, "o:errorCode": code}]}  # fmt: skip


class NetSuiteSandbox(SandboxServer):
    """A NetSuite account (see the module docstring). ``account_id`` as in the realm
    (``1234567_SB1``); ``concurrency`` the account's limit of simultaneous requests."""

    vendor = "netsuite"

    def __init__(
        self,
        *,
        account_id: str = "1234567_SB1",
        base_currency: str = "GBP",
        currencies: tuple[str, ...] = ("GBP",),
        concurrency: int = 5,
        retry_after: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        self.account_id = account_id
        self.books = Books(base_currency, currencies)
        self.tba = TbaCredentials(account_id, "ck-" + uuid.uuid4().hex, "cs-" + uuid.uuid4().hex,
                                  "tk-" + uuid.uuid4().hex, "ts-" + uuid.uuid4().hex)  # fmt: skip
        self.bearer_tokens: set[str] = set()
        self.concurrency = concurrency
        self.retry_after = retry_after
        self.in_flight = 0
        self.retry_windows: list[tuple[float, float]] = []
        self.nonces: set[tuple[str, str]] = set()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, str] = {}
        self.refused_auth = 0
        self.invalid_messages: list[tuple[str, str]] = []
        self.refresh_tokens: set[str] = set()
        self.token_calls = 0
        #: SOAP answers to drop after their write is committed: (operation, record type) queued by
        #: :meth:`drop_soap_answer` (the fault plan matches paths, and SOAP has one path).
        self.soap_drops: list[tuple[str, str]] = []

    def __enter__(self) -> NetSuiteSandbox:
        self.start()
        return self

    # -- set-up ----------------------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        """Token-based authentication credentials of a connection to this account."""
        return {"account_id": self.account_id, "consumer_key": self.tba.consumer_key,
                "consumer_secret": self.tba.consumer_secret, "token_id": self.tba.token_id,
                "token_secret": self.tba.token_secret}  # fmt: skip

    def issue_bearer(self) -> str:
        """An OAuth 2.0 access token this account accepts."""
        token = "at-" + uuid.uuid4().hex
        with self.lock:
            self.bearer_tokens.add(token)
        return token

    def ledger_settings(self) -> dict[str, Any]:
        """Connection settings for this account (subsidiary and segment defaults)."""
        return {"subsidiary_id": "1", "department_id": "1", "class_id": "1", "location_id": "1"}

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]]) -> None:
        """Our chart as NetSuite accounts (bank, A/R, income ... by name and kind), one SuiteTax
        code per tax code (booked to the first liability account whose name says VAT or TVA), and
        open monthly posting periods around today."""
        with self.lock:
            books = self.books
            books.accounts.clear()
            for code, name, kind in accounts:
                lowered = name.lower()
                acct_type = {
                    "asset": "AcctRec" if "receivable" in lowered
                    else "Bank" if any(w in lowered for w in ("bank", "clearing", "cash", "money")) else "OthCurrAsset",
                    "liability": "OthCurrLiab", "equity": "Equity", "revenue": "Income",
                    "expense": "COGS" if "cost of goods" in lowered else "Expense",
                }[kind]  # fmt: skip
                aid = books.new_id()
                books.accounts[aid] = {"id": aid, "acctnumber": code, "fullname": name, "accttype": acct_type,
                                       "isinactive": False}  # fmt: skip
            books.tax_codes.clear()
            for code, name, rate in tax_codes:
                word = "tva" if code.startswith("SN") else "vat"
                account = next((i for i, a in books.accounts.items()
                                if a["accttype"] == "OthCurrLiab" and word in a["fullname"].lower()), "")  # fmt: skip
                tid = books.new_id()
                books.tax_codes[tid] = {"id": tid, "itemid": code, "description": name, "rate": f"{Decimal(rate) * 100:.2f}%",
                                        "account": account, "isinactive": False}  # fmt: skip
            today = date.today()
            for offset in range(-3, 3):
                month = (today.month - 1 + offset) % 12 + 1
                year = today.year + (today.month - 1 + offset) // 12
                start = date(year, month, 1)
                end = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
                books.add_period(start.strftime("%b %Y"), start, end)

    def lock_period(self, day: date) -> None:
        """Close and lock the posting period holding ``day``."""
        with self.lock:
            for period in self.books.periods.values():
                if period["startdate"] <= day.isoformat() <= period["enddate"]:
                    period.update(closed=True, arlocked=True, aplocked=True, alllocked=True)

    def drop_soap_answer(self, operation: str, record_type: str) -> None:
        """The next SOAP ``operation`` (``upsertList``, ``initialize`` ...) on ``record_type``
        commits, then the connection closes without an answer (a lost answer)."""
        with self.lock:
            self.soap_drops.append((operation, record_type))

    def _write(self, http: Any, response: Response) -> None:  # type: ignore[override]  # needs the thread's drop mark
        if getattr(_local, "drop", False):
            _local.drop = False
            self._close(http)
            return
        super()._write(http, response)

    def records(self, record_type: str) -> list[dict[str, Any]]:
        """Stored records of a type, oldest first."""
        with self.lock:
            return [{**r, "id": i} for i, r in self.books.records[record_type].items()]

    def trial_balance(self) -> dict[tuple[str, str], Decimal]:
        """(currency, account number) -> balance: the books, to compare between accounts."""
        with self.lock:
            return self.books.trial_balance()

    def requests_inside_retry_after(self) -> list[Request]:
        """Requests that arrived while a 429's or a blocked SOAP call's wait window was open."""
        with self.lock:
            windows = list(self.retry_windows)
            calls = [r for r in self.requests if r.path.startswith(("/services/rest/record", SOAP_PATH))]
        return [r for r in calls if any(start < r.received_at < end for start, end in windows)]

    # -- vendor flavour --------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """NetSuite's error body (REST) or fault (SOAP) for an injected or routing error."""
        if getattr(_local, "soap", False):
            from connectors.sandbox.netsuite.soap import soap_fault

            code = "WS_CONCUR_SESSION_DISALLWD" if status == 429 else "UNEXPECTED_ERROR"
            return soap_fault(code, message)
        code = "CONCURRENCY_LIMIT_EXCEEDED" if status == 429 else "UNEXPECTED_ERROR"
        return dumps(_error(status, code, message))

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """A 429's headers; the window is recorded."""
        now = time.time()
        with self.lock:
            self.retry_windows.append((now, now + retry_after))
        return super().rate_limit_headers(retry_after)

    def _dispatch(self, http: Any) -> None:
        _local.soap = http.path.startswith(SOAP_PATH)
        _local.drop = False
        super()._dispatch(http)

    def _call(self, req: Request) -> Response:
        """Authenticate and admit under the concurrency limit, then route."""
        if req.path.startswith(SOAP_PATH):
            from connectors.sandbox.netsuite.soap import handle_soap

            return self._admitted(req, lambda: handle_soap(self, req))
        if not req.path.startswith(REST_PREFIX) or req.path.startswith(f"{REST_PREFIX}/auth/"):
            return super()._call(req)
        refused = self._authenticate(req)
        if refused is not None:
            return refused
        return self._admitted(req, lambda: super(NetSuiteSandbox, self)._call(req))

    def _admitted(self, req: Request, handle: Any) -> Response:
        soap = req.path.startswith(SOAP_PATH)
        with self.lock:
            if self.in_flight >= self.concurrency:
                now = time.time()
                self.retry_windows.append((now, now + self.retry_after))
                refused = True
            else:
                self.in_flight += 1
                refused = False
        if refused:
            if soap:
                from connectors.sandbox.netsuite.soap import soap_fault

                return Response(500, soap_fault("WS_CONCUR_SESSION_DISALLWD", "Concurrent request limit exceeded."),
                                content_type="text/xml; charset=utf-8")  # fmt: skip
            return Response(429, dumps(_error(429, "CONCURRENCY_LIMIT_EXCEEDED", "Concurrency limit exceeded.")),
                            {"Retry-After": str(self.retry_after)})  # fmt: skip
        try:
            response: Response = handle()
            return response
        finally:
            with self.lock:
                self.in_flight -= 1

    def check_tba(self, fields: Mapping[str, str], method: str, url: str, *, passport: bool = False) -> bool:
        """A signed request's fields: right keys, fresh timestamp, unused nonce, right signature."""
        from connectors.ledgers.netsuite.auth import passport_signature

        if fields.get("realm", self.account_id) != self.account_id:
            return False
        if (
            fields.get("oauth_consumer_key") != self.tba.consumer_key
            or fields.get("oauth_token") != self.tba.token_id
        ):
            return False
        stamp = fields.get("oauth_timestamp", "0")
        if not stamp.isdigit() or abs(int(stamp) - time.time()) > 300:
            return False
        if passport:
            ok = passport_signature(self.tba, fields.get("oauth_nonce", ""), int(stamp)) == fields.get(
                "oauth_signature"
            )
        else:
            ok = fields.get("oauth_signature_method") == "HMAC-SHA256" and verify_oauth1(
                dict(fields), self.tba, method, url
            )
        if not ok:
            return False
        key = (fields.get("oauth_nonce", ""), stamp)
        with self.lock:
            if key in self.nonces:
                return False
            self.nonces.add(key)
        return True

    def _authenticate(self, req: Request) -> Response | None:
        header = req.header("Authorization")
        if header.startswith("Bearer "):
            if header[7:].strip() in self.bearer_tokens:
                return None
        else:
            query = urlencode([(k, v) for k, values in req.query.items() for v in values])
            url = self.url + req.path + (f"?{query}" if query else "")
            if self.check_tba(parse_oauth1_header(header), req.method, url):
                return None
        with self.lock:
            self.refused_auth += 1
        return Response(401, dumps(_error(401, "INVALID_LOGIN", "Invalid login attempt.")))

    # -- REST ------------------------------------------------------------------------------------

    def _ns(self, fn: Any) -> Response:
        try:
            with self.lock:
                return fn()
        except NsError as exc:
            return Response(exc.status, dumps(_error(exc.status, exc.code, exc.message)))

    def _async(self, req: Request, fn: Any) -> Response | None:
        """``Prefer: respond-async``: run now, answer 202 with the job; the same
        ``X-NetSuite-idempotency-key`` answers the same job without running again."""
        if "respond-async" not in req.header("Prefer"):
            return None
        key = req.header("X-NetSuite-idempotency-key")
        with self.lock:
            job_id = self.idempotency.get(key) if key else None
            if job_id is None:
                job_id = self.books.new_id()
                response = self._ns(fn)
                self.jobs[job_id] = {"status": response.status, "body": response.body,
                                     "location": response.headers.get("Location", "")}  # fmt: skip
                if key:
                    self.idempotency[key] = job_id
        return Response(202, None, {"Location": f"{self.url}{REST_PREFIX}/async/v1/job/{job_id}"})

    def oauth2_credentials(self) -> dict[str, str]:
        """OAuth 2.0 credentials of a connection: an access token and a refresh token (rotating)."""
        refresh = "rt-" + uuid.uuid4().hex
        with self.lock:
            self.refresh_tokens.add(refresh)
        return {"account_id": self.account_id, "client_id": "netsuite-client", "client_secret": "netsuite-secret",
                "access_token": self.issue_bearer(), "refresh_token": refresh, "expires_at": "2999-01-01T00:00:00+00:00"}  # fmt: skip

    def revoke_bearers(self) -> None:
        """Every access token stops working (as after their hour)."""
        with self.lock:
            self.bearer_tokens.clear()

    @route("POST", "/services/rest/auth/oauth2/v1/token")
    def token(self, req: Request) -> Response:
        """The refresh-token grant: a new access token and a new refresh token (the old one is spent)."""
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        refresh = form.get("refresh_token", "")
        with self.lock:
            self.token_calls += 1
            if form.get("grant_type") != "refresh_token" or refresh not in self.refresh_tokens:
                return Response(400, {"error": "invalid_grant"})
            self.refresh_tokens.discard(refresh)
            new_refresh = "rt-" + uuid.uuid4().hex
            self.refresh_tokens.add(new_refresh)
        return Response(200, {"access_token": self.issue_bearer(), "refresh_token": new_refresh,
                              "token_type": "Bearer", "expires_in": 3600})  # fmt: skip

    @route("PUT", "/services/rest/record/v1/{rtype}/{key}")
    def put_record(self, req: Request) -> Response:
        """Upsert by external id; ``replace`` names the sublists the body replaces."""
        key = unquote(req.params["key"])
        if not key.startswith("eid:"):
            return Response(400, dumps(_error(400, "INVALID_REQUEST", "Use eid:<external id> to upsert.")))
        body = _rest_record(loads(req.body or b"{}"))
        replace = tuple(x for x in req.arg("replace").split(",") if x)

        def upsert() -> Response:
            rid = self.books.upsert(req.params["rtype"], key[4:], body, replace=replace)
            location = f"{self.url}{REST_PREFIX}/record/v1/{req.params['rtype']}/{rid}"
            return Response(204, None, {"Location": location})

        return self._async(req, upsert) or self._ns(upsert)

    @route("POST", "/services/rest/record/v1/{rtype}")
    def post_record(self, req: Request) -> Response:
        """Create (an ``externalId`` in the body is required here: the books key on it)."""
        body = _rest_record(loads(req.body or b"{}"))

        def create() -> Response:
            external = str(body.get("externalId") or "")
            if (req.params["rtype"], external) in self.books.external:
                raise NsError("DUP_RCRD", f"A record with external id {external} already exists.")
            rid = self.books.upsert(req.params["rtype"], external, body)
            return Response(
                204, None, {"Location": f"{self.url}{REST_PREFIX}/record/v1/{req.params['rtype']}/{rid}"}
            )

        return self._async(req, create) or self._ns(create)

    @route("POST", "/services/rest/record/v1/{rtype}/{key}/!transform/{target}")
    def transform(self, req: Request) -> Response:
        """Bill a sales order: the invoice made from it, completed with the body (its
        ``externalId`` required here: the books key on it), linked by ``createdFrom``."""
        body = _rest_record(loads(req.body or b"{}"))

        def bill() -> Response:
            if req.params["rtype"] != "salesOrder":
                raise NsError(
                    "INVALID_INITIALIZE_REF", f"A {req.params['rtype']} cannot be transformed here."
                )
            made = self.books.transform(unquote(req.params["key"]), req.params["target"])
            external = str(body.pop("externalId", "") or "")
            if (req.params["target"], external) in self.books.external:
                raise NsError("DUP_RCRD", f"A record with external id {external} already exists.")
            made.update({k: v for k, v in body.items() if k != "item"})
            rid = self.books.upsert(req.params["target"], external, made)
            return Response(
                204, None, {"Location": f"{self.url}{REST_PREFIX}/record/v1/{req.params['target']}/{rid}"}
            )

        return self._ns(bill)

    @route("GET", "/services/rest/record/v1/{rtype}/{key}")
    def get_record(self, req: Request) -> Response:
        """A record; sublists inline with ``expandSubResources=true``."""
        expand = req.arg("expandSubResources") == "true"

        def read() -> Response:
            rec = self.books.get(req.params["rtype"], unquote(req.params["key"]))
            out: dict[str, Any] = {}
            for k, v in rec.items():
                if isinstance(v, list):
                    out[k] = {"items": v} if expand else {"links": [{"rel": "self", "href": f"{k}"}]}
                else:
                    out[k] = v
            if req.params["rtype"] in ("cashSale", "invoice", "creditMemo", "customerPayment", "customerRefund",
                                       "deposit", "journalEntry", "salesOrder"):  # fmt: skip
                out["total"] = self.books.total(req.params["rtype"], rec)
            return Response(200, dumps(out))

        return self._ns(read)

    @route("POST", "/services/rest/query/v1/suiteql")
    def suiteql(self, req: Request) -> Response:
        """A small SuiteQL: ``SELECT cols|* FROM table [WHERE col = 'v' [AND ...]] [ORDER BY col]``."""
        statement = str((loads(req.body or b"{}") or {}).get("q") or "")
        limit = int(req.arg("limit", "1000"))
        offset = int(req.arg("offset", "0"))

        def query() -> Response:
            match = re.fullmatch(
                r"\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<table>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
                r"(?:\s+ORDER\s+BY\s+(?P<order>\w+))?\s*",
                statement,
                re.IGNORECASE | re.DOTALL,
            )
            if not match:
                raise NsError("INVALID_SEARCH", f"Invalid search query: {statement[:200]}")
            rows = self.books.table(match["table"])
            for cond in re.split(r"\s+AND\s+", match["where"] or "", flags=re.IGNORECASE):
                if not cond.strip():
                    continue
                c = re.fullmatch(r"\s*(\w+)\s*=\s*(?:'((?:[^']|'')*)'|(\d+)|(T|F))\s*", cond)
                if not c:
                    raise NsError("INVALID_SEARCH", f"Unsupported condition: {cond}")
                value = c[2].replace("''", "'") if c[2] is not None else c[3] or c[4]
                rows = [r for r in rows if _match(r.get(c[1].lower()), value)]
            if match["order"]:
                rows.sort(key=lambda r: str(r.get(match["order"].lower(), "")))
            cols = [x.strip().lower() for x in match["cols"].split(",")]
            if cols != ["*"]:
                rows = [{k: r.get(k) for k in cols} for r in rows]
            page = rows[offset : offset + limit]
            return Response(200, dumps({"links": [], "count": len(page), "hasMore": offset + limit < len(rows),
                                        "items": page, "offset": offset, "totalResults": len(rows)}))  # fmt: skip

        return self._ns(query)

    @route("GET", "/services/rest/async/v1/job/{job}")
    def job(self, req: Request) -> Response:
        """An asynchronous job's state (always finished here)."""
        with self.lock:
            job = self.jobs.get(req.params["job"])
        if job is None:
            return Response(404, dumps(_error(404, "NONEXISTENT_ID", "No such job.")))
        ok = job["status"] < 300
        return Response(200, dumps({"id": req.params["job"], "completed": True,
                                    "progress": "succeeded" if ok else "failed"}))  # fmt: skip

    @route("GET", "/services/rest/async/v1/job/{job}/task/{task}/result")
    def job_result(self, req: Request) -> Response:
        """The answer the job's request would have had (``Location`` of the record, or the error)."""
        with self.lock:
            job = self.jobs.get(req.params["job"])
        if job is None:
            return Response(404, dumps(_error(404, "NONEXISTENT_ID", "No such job.")))
        if job["status"] >= 300:
            return Response(job["status"], job["body"])
        return Response(204, None, {"Location": job["location"]})


def _rest_record(body: Any) -> dict[str, Any]:
    """A REST body in the books' normal form: sublists ``{"items": [...]}`` as lists of rows."""
    if not isinstance(body, Mapping):
        raise NsError("INVALID_REQUEST", "The request body must be a JSON object.")
    return {k: list(v["items"]) if isinstance(v, Mapping) and "items" in v else v for k, v in body.items()}


def _match(actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        return actual == (wanted == "T")
    return str(actual if actual is not None else "") == wanted
