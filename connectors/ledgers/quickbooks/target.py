"""The QuickBooks Online ledger target: post, look up, batch, read the company's lists.

Exactly once. Every create carries ``?requestid=<key>`` (QuickBooks answers a repeated request id
with the first answer), derived from the posting's idempotency key (:func:`documents.request_id`).
When the outcome is unknown (:class:`Uncertain`) the core calls :meth:`QuickBooksTarget.lookup`,
which queries the entity by its DocNumber. A duplicate-number answer (6140) is resolved the same
way: the existing document is returned, the number is never changed.

Limits. 500 requests a minute, 10 a second and 10 at once per company (realm), and 40 batch calls
a minute, enforced by the shared :class:`~connectors.http.RateLimiter` of the realm; a 429 blocks
the realm for its ``Retry-After`` (60 s when QuickBooks sends none).

Closed periods. A document dated on or before the company's closing date (``BookCloseDate``, read
by :meth:`fetch_lock_date`, or ``settings["lock_date"]`` given by the core) raises
:class:`ClosedPeriod` before any HTTP call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.auth import LockFactory, OAuth2Client, OAuth2Provider
from connectors.base import (
    AuthExpired,
    ClosedPeriod,
    ConnectionCheck,
    ConnectorError,
    LedgerConfig,
    LedgerTarget,
    Permanent,
    PostingDocument,
    PostResult,
    RemoteAccount,
    RemoteItem,
    RemoteTaxCode,
    SetupField,
    Uncertain,
    connection_failed,
)
from connectors.http import RateLimit, RateLimiter, VendorHTTP
from connectors.jsonwire import dumps, loads
from connectors.ledgers.quickbooks.documents import QboDocument, QboSettings, build_document, request_id
from connectors.ledgers.quickbooks.errors import DuplicateDocument, classify_fault

__all__ = ["PRODUCTION_URL", "QUICKBOOKS_OAUTH", "SANDBOX_URL", "QuickBooksTarget"]

PRODUCTION_URL = "https://quickbooks.api.intuit.com"
SANDBOX_URL = "https://sandbox-quickbooks.api.intuit.com"

# Intuit documents the plain authorization-code flow for its (confidential) web apps; PKCE can be
# switched on per connection with settings["oauth_pkce"] = True.
QUICKBOOKS_OAUTH = OAuth2Provider(
    name="quickbooks",
    authorize_url="https://appcenter.intuit.com/connect/oauth2",
    token_url="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
    pkce=False,
    default_scopes=("com.intuit.quickbooks.accounting",),
)

API_LIMIT = RateLimit(per_second=10, per_minute=500, concurrent=10)
BATCH_LIMIT = RateLimit(per_minute=40)
BATCH_SIZE = 30
QUERY_PAGE = 1000

# The closing date last read per realm, shared by every target of the process (targets are
# built per posting, the lock date outlives them).
_lock_dates: dict[str, date | None] = {}


def _parse_date(value: Any) -> date | None:
    """A date from a date, an ISO string or nothing."""
    if isinstance(value, date):
        return value
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _quote(value: str) -> str:
    """A string literal of QuickBooks' query language (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksTarget(LedgerTarget):
    """Posts PostingDocuments to one QuickBooks Online company.

    Config: ``base_url`` (production :data:`PRODUCTION_URL`, Intuit's sandbox :data:`SANDBOX_URL`,
    or a local sandbox), ``credentials`` (``client_id``, ``client_secret``, ``access_token``,
    ``refresh_token``, ``expires_at``, ``realm_id``), ``settings`` (see
    :class:`~connectors.ledgers.quickbooks.documents.QboSettings`, plus ``minorversion``,
    ``lock_date``, ``token_url``, ``max_wait_seconds``).
    """

    platform = "quickbooks"
    display_name = "QuickBooks Online"
    capabilities = frozenset(
        {"oauth2", "batch", "lookup", "idempotency_key", "lock_date", "multi_currency", "read_lists"}
    )
    max_batch = BATCH_SIZE
    setup_fields = (
        SetupField("base_url", "QuickBooks address", kind="url", default=PRODUCTION_URL, required=True,
                   help=f"{PRODUCTION_URL} for your company; {SANDBOX_URL} for an Intuit sandbox company."),
        SetupField("client_id", "App client id", store="credentials", required=True,
                   help="Intuit Developer > your app > Keys & credentials."),
        SetupField("client_secret", "App client secret", kind="secret", store="credentials", required=True,
                   help="Shown beside the client id. Add this site's /connections/oauth/callback/ address as "
                   "a redirect URI of the app."),
        SetupField("authorize_url", "Authorisation address", kind="url",
                   help="Leave empty for Intuit's own; only a self-hosted test server needs it."),
        SetupField("token_url", "Token address", kind="url",
                   help="Leave empty for Intuit's own; only a self-hosted test server needs it."),
        SetupField("default_customer_ref", "Customer for sales without one",
                   help="The QuickBooks id of the customer (e.g. 'Online sales') that receipts are made out to."),
        SetupField("default_item_ref", "Default product/service",
                   help="The QuickBooks id of the item used when a mapping names none."),
        SetupField("rounding_item_ref", "Rounding item", help="The QuickBooks id of the item rounding lines use."),
        SetupField("tax_rounding", "Tax rounding", kind="choice", default="document",
                   choices=(("document", "Per document (QuickBooks' default)"), ("line", "Per line"))),
        SetupField("tax_mode", "Sales tax", kind="choice", default="codes",
                   choices=(("codes", "Tax codes on each line"), ("none", "No sales tax in this company"))),
        SetupField("payout_document", "Payouts become", kind="choice", default="deposit",
                   choices=(("deposit", "A bank deposit"), ("journal", "A journal entry"))),
    )  # fmt: skip

    def __init__(
        self,
        config: LedgerConfig,
        *,
        oauth: OAuth2Client | None = None,
        lock_factory: LockFactory | None = None,
        load_credentials: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(config)
        self.realm_id = str(config.credentials.get("realm_id") or "")
        self.settings = QboSettings.from_mapping(config.settings)
        self.minorversion = str(config.settings.get("minorversion", "75"))
        key = self.realm_id or config.connection_id
        self.http = VendorHTTP(
            vendor="quickbooks",
            base_url=config.base_url or PRODUCTION_URL,
            connection_key=key,
            rate_limit=API_LIMIT,
            max_wait=float(config.settings.get("max_wait_seconds", 30)),
            default_retry_after=60.0,  # QuickBooks sends no Retry-After: its guidance is to wait 60 s
        )
        self.batch_limiter = RateLimiter.for_connection(f"quickbooks-batch:{key}", BATCH_LIMIT)
        self.oauth = oauth or OAuth2Client.from_config(
            QUICKBOOKS_OAUTH, config, load_credentials=load_credentials, lock_factory=lock_factory
        )

    # -- HTTP ----------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        resource: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        request_key: str = "",
        idempotency_key: str = "",
    ) -> Any:
        """One API call with the bearer token; a 401 refreshes the token once and retries once."""
        if not self.realm_id:
            raise AuthExpired("quickbooks: no company (realm id) is stored; connect QuickBooks again")
        query = {"minorversion": self.minorversion, **(params or {})}
        if request_key:
            query["requestid"] = request_key
        data = dumps(body) if body is not None else None
        token = self.oauth.access_token()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            response = self.http.request(
                method,
                f"/v3/company/{self.realm_id}/{resource}",
                params=query,
                data=data,
                headers=headers,
                idempotency_key=idempotency_key or request_key,
            )
            try:
                parsed = loads(response.content) if response.content else {}
            except ValueError:
                parsed = {}
            if response.status_code < 300:
                return parsed
            error = classify_fault(response.status_code, parsed)
            if isinstance(error, AuthExpired) and attempt == 1:
                token = self.oauth.refresh(rejected_access_token=token)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _query(self, statement: str) -> dict[str, Any]:
        answer = self._request("GET", "query", params={"query": statement})
        return dict(answer.get("QueryResponse") or {})

    def _query_all(self, entity: str) -> list[dict[str, Any]]:
        """Every row of an entity, page by page."""
        rows: list[dict[str, Any]] = []
        start = 1
        while True:
            statement = f"select * from {entity} startposition {start} maxresults {QUERY_PAGE}"  # noqa: S608 - QBO query language; entity is ours, numbers are ints
            page = self._query(statement)
            batch = list(page.get(entity) or [])
            rows.extend(batch)
            if len(batch) < QUERY_PAGE:
                return rows
            start += QUERY_PAGE

    # -- posting -------------------------------------------------------------------------------

    def _known_lock_date(self) -> date | None:
        dates = [
            d
            for d in (_parse_date(self.config.settings.get("lock_date")), _lock_dates.get(self.realm_id))
            if d
        ]
        return max(dates) if dates else None

    def _refuse_closed_period(self, doc: PostingDocument) -> None:
        lock = self._known_lock_date()
        if lock is not None and doc.date <= lock:
            message = f"{doc.reference} is dated {doc.date}, on or before QuickBooks' closing date {lock}"
            raise ClosedPeriod(f"quickbooks: {message}", vendor_code="BookCloseDate", vendor_message=message)

    def plan(self, doc: PostingDocument) -> QboDocument:
        """The entity this document becomes (no HTTP): for previews and contract tests."""
        return build_document(doc, home_currency=self.config.functional_currency, settings=self.settings)

    def post(self, doc: PostingDocument) -> PostResult:
        """Create the document once (see the module docstring)."""
        self._refuse_closed_period(doc)
        plan = self.plan(doc)
        try:
            answer = self._request(
                "POST",
                plan.endpoint,
                body=plan.payload,
                request_key=request_id(doc.idempotency_key),
                idempotency_key=doc.idempotency_key,
            )
        except DuplicateDocument as exc:
            return self._resolve_duplicate(plan, exc)
        return self._result(plan, answer.get(plan.entity))

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The document posted for ``doc.reference``, found by its DocNumber, or None."""
        return self._find(self.plan(doc))

    def _find(self, plan: QboDocument) -> PostResult | None:
        # QuickBooks' query language, not SQL: the entity is ours, the number is quoted by _quote.
        """The entity numbered like the plan, if its total is ours; Permanent if the number holds another total."""
        statement = f"select * from {plan.entity} where DocNumber = {_quote(plan.doc_number)}"  # noqa: S608 - QBO query language, value quoted by _quote
        rows = self._query(statement)
        found = list(rows.get(plan.entity) or [])
        if not found:
            return None
        for row in found:
            if Decimal(str(row.get("TotalAmt", "0"))) == plan.total:
                return self._result(plan, row)
        raise Permanent(
            f"quickbooks: {plan.entity} {plan.doc_number} exists with total {found[0].get('TotalAmt')}, "
            f"not {plan.total}: check it in QuickBooks before posting again",
            vendor_code="total_mismatch",
        )

    def _resolve_duplicate(self, plan: QboDocument, error: DuplicateDocument) -> PostResult:
        """A duplicate-number refusal answered with the existing document (never by renaming)."""
        found = self._find(plan)
        if found is None:
            raise Permanent(
                f"{error.message}; no {plan.entity} numbered {plan.doc_number} was found (another document "
                "type holds the number)",
                vendor_code=error.vendor_code,
                vendor_message=error.vendor_message,
            )
        return found

    @staticmethod
    def _result(plan: QboDocument, entity: Any) -> PostResult:
        """The PostResult of a created or found entity; Uncertain when the answer has no id."""
        if not isinstance(entity, Mapping) or not entity.get("Id"):
            raise Uncertain(f"quickbooks: the answer holds no {plan.entity} id; look it up")
        return PostResult(
            remote_id=str(entity["Id"]),
            remote_number=str(entity.get("DocNumber") or plan.doc_number),
            raw={
                "entity": plan.entity,
                "total": str(entity.get("TotalAmt", "")),
                "expected_total": str(plan.total),
                "sync_token": str(entity.get("SyncToken", "")),
            },
        )

    # -- batch ---------------------------------------------------------------------------------

    def post_batch(self, docs: list[PostingDocument]) -> list[PostResult | ConnectorError]:
        """Post up to :attr:`max_batch` documents per ``/batch`` call; one result per document.

        A closed period or an unbuildable document fails alone, before anything is sent. A call
        that fails as a whole (429, lost answer) gives its error to each of its documents; a lost
        answer makes them :class:`Uncertain`, to be looked up one by one.
        """
        results: list[PostResult | ConnectorError | None] = [None] * len(docs)
        pending: list[tuple[int, PostingDocument, QboDocument]] = []
        for index, doc in enumerate(docs):
            try:
                self._refuse_closed_period(doc)
                pending.append((index, doc, self.plan(doc)))
            except ConnectorError as exc:
                results[index] = exc
        for start in range(0, len(pending), BATCH_SIZE):
            chunk = pending[start : start + BATCH_SIZE]
            try:
                answers = self._send_batch(chunk)
            except Uncertain as exc:
                for index, _, _ in chunk:
                    results[index] = exc
                continue
            except ConnectorError as exc:
                for index, _, _ in pending[start:]:
                    results[index] = exc
                break
            for (index, _, plan), item in zip(chunk, answers, strict=True):
                results[index] = self._batch_item_result(plan, item)
        return [r if r is not None else Uncertain("quickbooks: no result") for r in results]

    def _send_batch(self, chunk: list[tuple[int, PostingDocument, QboDocument]]) -> list[Any]:
        """One ``/batch`` call for a chunk; the item answers in chunk order (matched by bId)."""
        keys = "\n".join(doc.idempotency_key for _, doc, _ in chunk)
        # Always a digest (never a document's own key), at most 36 characters in a batch.
        batch_key = "b" + hashlib.sha256(f"batch\n{keys}".encode()).hexdigest()[:35]
        items = [
            {"bId": str(n), "operation": "create", plan.entity: plan.payload}
            for n, (_, _, plan) in enumerate(chunk)
        ]
        self.batch_limiter.acquire(self.http.max_wait)
        try:
            answer = self._request("POST", "batch", body={"BatchItemRequest": items}, request_key=batch_key)
        finally:
            self.batch_limiter.release()
        by_id = {str(item.get("bId")): item for item in answer.get("BatchItemResponse") or []}
        return [by_id.get(str(n)) for n in range(len(chunk))]

    def _batch_item_result(self, plan: QboDocument, item: Any) -> PostResult | ConnectorError:
        """One batch item's answer as a PostResult or a classified error."""
        if not isinstance(item, Mapping):
            return Uncertain(f"quickbooks: the batch answer has no result for {plan.doc_number}; look it up")
        if plan.entity in item:
            try:
                return self._result(plan, item[plan.entity])
            except ConnectorError as exc:
                return exc
        error = classify_fault(400, item)
        if isinstance(error, DuplicateDocument):
            try:
                return self._resolve_duplicate(plan, error)
            except ConnectorError as exc:
                return exc
        return error

    # -- setting up ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """``GET companyinfo/{realm}`` and ``preferences``: the company's name, home currency and
        closing date (remembered like :meth:`fetch_lock_date`)."""
        if not self.realm_id or not self.config.credentials.get("refresh_token"):
            return ConnectionCheck(
                False, "Not connected yet: press Connect to QuickBooks and choose the company."
            )
        try:
            info = self._request("GET", f"companyinfo/{self.realm_id}").get("CompanyInfo") or {}
            prefs = self._request("GET", "preferences").get("Preferences") or {}
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        home = str(((prefs.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}).get("value") or "")
        lock = _parse_date((prefs.get("AccountingInfoPrefs") or {}).get("BookCloseDate"))
        _lock_dates[self.realm_id] = lock
        name = str(info.get("CompanyName") or self.realm_id)
        details = {"company": name, "realm_id": self.realm_id, "home_currency": home,
                   "lock_date": lock.isoformat() if lock else ""}  # fmt: skip
        if home and home != self.config.functional_currency:
            return ConnectionCheck(
                False,
                f"Connected to {name}, but its home currency is {home} and this connection is set to "
                f"{self.config.functional_currency}: change the connection's currency.",
                details,
            )
        closed = f", books closed to {lock:%d %b %Y}" if lock else ""
        return ConnectionCheck(
            True, f"Connected to {name} (company {self.realm_id}), home currency {home}{closed}.", details
        )

    # -- reading -------------------------------------------------------------------------------

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The chart of accounts; ``code`` is the account number, or the name when numbers are off."""
        return [
            RemoteAccount(
                code=str(row.get("AcctNum") or row.get("Name") or row["Id"]),
                name=str(row.get("FullyQualifiedName") or row.get("Name") or ""),
                type=str(row.get("Classification") or "").lower(),
                remote_id=str(row["Id"]),
                active=bool(row.get("Active", True)),
            )
            for row in self._query_all("Account")
        ]

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """Tax codes with their sales rate (the sum of their sales tax rates, as a fraction)."""
        rates = {str(r["Id"]): Decimal(str(r.get("RateValue") or 0)) for r in self._query_all("TaxRate")}
        codes = []
        for row in self._query_all("TaxCode"):
            details = (row.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
            percent = sum(
                (rates.get(str(d.get("TaxRateRef", {}).get("value")), Decimal(0)) for d in details),
                Decimal(0),
            )
            codes.append(
                RemoteTaxCode(
                    code=str(row.get("Name") or row["Id"]),
                    name=str(row.get("Description") or row.get("Name") or ""),
                    rate=percent / 100,
                    remote_id=str(row["Id"]),
                    active=bool(row.get("Active", True)),
                )
            )
        return codes

    def fetch_items(self) -> list[RemoteItem]:
        """Products and services; ``code`` is the SKU, or the name when there is none."""
        return [
            RemoteItem(
                code=str(row.get("Sku") or row.get("Name") or row["Id"]),
                name=str(row.get("Name") or ""),
                remote_id=str(row["Id"]),
                active=bool(row.get("Active", True)),
            )
            for row in self._query_all("Item")
        ]

    def fetch_contacts(self) -> list[RemoteItem]:
        """Customers, as RemoteItem (``code`` = ``name`` = display name, ``remote_id`` = Id)."""
        return [
            RemoteItem(
                code=str(row.get("DisplayName") or row["Id"]),
                name=str(row.get("DisplayName") or ""),
                remote_id=str(row["Id"]),
                active=bool(row.get("Active", True)),
            )
            for row in self._query_all("Customer")
        ]

    def fetch_lock_date(self) -> date | None:
        """The company's closing date (``Preferences.AccountingInfoPrefs.BookCloseDate``)."""
        answer = self._request("GET", "preferences")
        prefs = (answer.get("Preferences") or {}).get("AccountingInfoPrefs") or {}
        lock = _parse_date(prefs.get("BookCloseDate"))
        _lock_dates[self.realm_id] = lock
        return lock

    def calls_today(self) -> int:
        """Calls this process made to the company in the last 24 hours."""
        return self.http.limiter.calls_last_day()

    def daily_budget_remaining(self) -> int | None:
        """QuickBooks has no daily cap (only per-minute and per-second limits)."""
        return None
