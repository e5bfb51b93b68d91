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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    LedgerView,
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
from connectors.ledgers.common import (
    CustomerIdentity,
    CustomerPayment,
    JournalPlan,
    PlannedDocument,
    PlanOptions,
    SalesDocument,
    customer_identity,
    expected_view,
    make_view,
    plan_document,
)
from connectors.ledgers.quickbooks.documents import (
    NUMBER_RULES,
    QboEntity,
    QboPlan,
    QboRefs,
    QboSettings,
    check_items,
    render,
    request_id,
)
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

# A little under the published 10/s and 500/min: our window and the vendor's never line up exactly.
API_LIMIT = RateLimit(per_second=8, per_minute=480, concurrent=10)
BATCH_LIMIT = RateLimit(per_minute=40)
BATCH_SIZE = 30
QUERY_PAGE = 1000

COMPANY_TTL_SECONDS = 600

# The closing date last read per realm, shared by every target of the process (targets are
# built per posting, the lock date outlives them).
_lock_dates: dict[str, date | None] = {}


@dataclass
class QboCompanyFacts:
    """What the target reads once per realm (and again after 10 minutes or on a miss)."""

    home_currency: str
    currencies: frozenset[str]
    accounts: dict[str, dict[str, Any]]
    tax_rates: dict[str, tuple[tuple[str, Decimal], ...]]
    item_income: dict[str, str] = field(default_factory=dict)


_companies: dict[str, tuple[float, QboCompanyFacts]] = {}


def _linked(payload: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
    """A payment body with its ``LinkedTxn`` pointing at the invoice just created."""
    body = dict(payload)
    body["Line"] = [
        {**line, "LinkedTxn": [{**link, "TxnId": invoice_id} for link in line.get("LinkedTxn") or []]}
        for line in payload.get("Line") or []
    ]
    return body


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
        {"oauth2", "batch", "lookup", "idempotency_key", "lock_date", "multi_currency", "read_lists",
         "read_back", "exchange_rates", "customers", "items"}
    )  # fmt: skip
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

    def _select(self, entity: str, field_name: str, value: str) -> list[dict[str, Any]]:
        """Rows of ``entity`` whose ``field_name`` equals ``value`` (QuickBooks' query language: the
        entity and field are ours, the value is quoted by :func:`_quote`)."""
        statement = f"select * from {entity} where {field_name} = {_quote(value)}"  # noqa: S608 - QBO query language, value quoted  # nosec B608 - same
        return list(self._query(statement).get(entity) or [])

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

    # -- what the company holds (cached per realm: targets are built per posting) ---------------

    def company(self, *, refresh: bool = False) -> QboCompanyFacts:
        """Home currency, currencies, accounts, tax codes' rates and items' income accounts."""
        cached = _companies.get(self.realm_id)
        if cached is not None and not refresh and cached[0] > time.monotonic():
            return cached[1]
        prefs = self._request("GET", "preferences").get("Preferences") or {}
        currency_prefs = prefs.get("CurrencyPrefs") or {}
        home = str((currency_prefs.get("HomeCurrency") or {}).get("value") or self.config.functional_currency)
        currencies: set[str] = set()
        if currency_prefs.get("MultiCurrencyEnabled"):
            currencies = {str(r.get("Code") or r.get("Name")) for r in self._query_all("CompanyCurrency")
                          if r.get("Active", True)}  # fmt: skip
        accounts = {str(r["Id"]): r for r in self._query_all("Account")}
        rates = {str(r["Id"]): Decimal(str(r.get("RateValue") or 0)) for r in self._query_all("TaxRate")}
        tax_rates: dict[str, tuple[tuple[str, Decimal], ...]] = {}
        for row in self._query_all("TaxCode"):
            details = (row.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
            ids = [str((d.get("TaxRateRef") or {}).get("value")) for d in details]
            tax_rates[str(row["Id"])] = tuple((i, rates.get(i, Decimal(0))) for i in ids if i in rates)
        items = {
            str(r["Id"]): str((r.get("IncomeAccountRef") or {}).get("value") or "")
            for r in self._query_all("Item")
        }
        facts = QboCompanyFacts(home, frozenset(currencies), accounts, tax_rates, items)
        _companies[self.realm_id] = (time.monotonic() + COMPANY_TTL_SECONDS, facts)
        return facts

    def options(self) -> PlanOptions:
        """What the layer may plan for this company."""
        facts = self.company()
        return PlanOptions(
            functional_currency=facts.home_currency,
            currencies=facts.currencies,
            foreign_journals=True,
            receipt_single_account=True,
            refund_single_account=True,
            numbers=NUMBER_RULES,
            walk_in_name=self.settings.walk_in_name,
            default_due_days=self.settings.due_days,
        )

    # -- customers and items -------------------------------------------------------------------

    def _customer_ref(self, identity: CustomerIdentity, currency: str = "") -> str:
        """The company's customer for a source customer: found by name or created, once.

        QuickBooks keeps one currency per customer, so a customer billed in another currency than
        the company's is a customer of its own, named with the currency."""
        home = self.company().home_currency
        foreign = bool(currency) and currency.upper() != home.upper()
        if identity.walk_in and self.settings.default_customer_ref and not foreign:
            return self.settings.default_customer_ref
        if foreign:
            identity = CustomerIdentity(
                key=f"{identity.key}@{currency.upper()}", name=f"{identity.name} ({currency.upper()})"[:100],
                email=identity.email, company=identity.company, tax_number=identity.tax_number,
                source_id=identity.source_id,
            )  # fmt: skip
        stored = self.config.refs.get("customer", identity.key)
        if stored:
            return stored
        rows = self._select("Customer", "DisplayName", identity.name)
        if rows:
            remote = str(rows[0]["Id"])
        else:
            body: dict[str, Any] = {"DisplayName": identity.name}
            if identity.company:
                body["CompanyName"] = identity.company[:100]
            if identity.email:
                body["PrimaryEmailAddr"] = {"Address": identity.email[:100]}
            if identity.source_id:
                body["Notes"] = f"Source customer id {identity.source_id}"
            if foreign:
                body["CurrencyRef"] = {"value": currency.upper()}
            key = request_id(f"customer:{self.realm_id}:{identity.key}", prefix="c")
            answer = self._request("POST", "customer", body=body, request_key=key)
            remote = str((answer.get("Customer") or {}).get("Id") or "")
            if not remote:
                raise Uncertain(f"quickbooks: creating customer {identity.name!r} gave no id")
        self.config.refs.put("customer", identity.key, remote, identity.name)
        return remote

    def _item_for_account(self, account_ref: str, account_code: str) -> str:
        """The item that books to ``account_ref``: found by our name for it, or created, once."""
        stored = self.config.refs.get("item", account_ref)
        if stored:
            return stored
        facts = self.company()
        account = facts.accounts.get(account_ref) or {}
        name = f"{account.get('Name') or account_code} ({account_code})"[:100]
        rows = self._select("Item", "Name", name)
        if rows:
            income = str((rows[0].get("IncomeAccountRef") or {}).get("value") or "")
            if income != account_ref:
                raise Permanent(
                    f"QuickBooks item {name!r} exists but books to account {income}, not {account_code}: rename it"
                )
            remote = str(rows[0]["Id"])
        else:
            body = {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": account_ref},
                    "Description": f"Sales booked by the integrator to {account_code}"}  # fmt: skip
            key = request_id(f"item:{self.realm_id}:{account_ref}", prefix="i")
            answer = self._request("POST", "item", body=body, request_key=key)
            remote = str((answer.get("Item") or {}).get("Id") or "")
            if not remote:
                raise Uncertain(f"quickbooks: creating item {name!r} gave no id")
        facts.item_income[remote] = account_ref
        self.config.refs.put("item", account_ref, remote, name)
        return remote

    def _refs_for(self, planned: PlannedDocument) -> QboRefs:
        """Resolve the customer, items and tax rates the rendering needs (may call QuickBooks)."""
        facts = self.company()
        customer = ""
        if isinstance(planned, SalesDocument | CustomerPayment):
            customer = self._customer_ref(planned.customer, planned.currency)
        elif isinstance(planned, JournalPlan) and any(ln.role == "receivable" for ln in planned.lines):
            who = planned.customer or customer_identity(None, walk_in_name=self.settings.walk_in_name)
            customer = self._customer_ref(who, planned.currency)
        items: dict[str, str] = {}
        if isinstance(planned, SalesDocument):
            mapped = [ln.item_ref for ln in planned.lines if ln.item_ref]
            if any(i not in facts.item_income for i in mapped):
                facts = self.company(refresh=True)
            check_items(planned, facts.item_income)
            for line in planned.lines:
                if not line.item_ref and line.account_ref not in items:
                    items[line.account_ref] = self._item_for_account(line.account_ref, line.account_code)
            if any(t.tax_code_ref not in facts.tax_rates for t in planned.taxes if t.tax_code_ref):
                facts = self.company(refresh=True)
        return QboRefs(customer_ref=customer, items=items, tax_rates=facts.tax_rates)

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

    def plan(self, doc: PostingDocument) -> QboPlan:
        """The entities this document becomes (resolving customers and items in the company)."""
        planned = plan_document(doc, self.options())
        return render(
            planned, self._refs_for(planned), self.settings, home_currency=self.company().home_currency
        )

    def post(self, doc: PostingDocument) -> PostResult:
        """Create the document once, then the payments that settle it (see the module docstring)."""
        self._refuse_closed_period(doc)
        plan = self.plan(doc)
        try:
            answer = self._request(
                "POST",
                plan.main.endpoint,
                body=plan.main.payload,
                request_key=request_id(doc.idempotency_key),
                idempotency_key=doc.idempotency_key,
            )
            main = self._entity_or_uncertain(plan.main, answer.get(plan.main.entity))
        except DuplicateDocument as exc:
            main = self._resolve_duplicate(plan.main, exc)
        payments = self._settle(plan, main, doc.idempotency_key)
        return self._result(plan, main, payments)

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The complete document posted for ``doc``: its main entity found by number and every
        payment it needs; None when anything is missing (:meth:`post` then finishes it)."""
        plan = self.plan(doc)
        main = self._find(plan.main)
        if main is None:
            return None
        found: list[Mapping[str, Any]] = []
        for payment in plan.payments:
            row = self._find(payment)
            if row is None:
                return None
            found.append(row)
        return self._result(plan, main, found)

    def _settle(self, plan: QboPlan, main: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        """Create the payments linked to ``main`` that QuickBooks does not hold yet."""
        made: list[Mapping[str, Any]] = []
        for n, payment in enumerate(plan.payments, start=1):
            existing = self._find(payment)
            if existing is not None:
                made.append(existing)
                continue
            body = _linked(payment.payload, str(main["Id"]))
            try:
                answer = self._request("POST", "payment", body=body, request_key=request_id(f"{key}:pay:{n}", prefix="p"),
                                       idempotency_key=f"{key}:pay:{n}")  # fmt: skip
                made.append(self._entity_or_uncertain(payment, answer.get("Payment")))
            except DuplicateDocument as exc:
                made.append(self._resolve_duplicate(payment, exc))
        return made

    def _find(self, entity: QboEntity) -> dict[str, Any] | None:
        """The entity holding the number, if its total is ours; Permanent if it holds another total."""
        found = self._select(entity.entity, entity.number_field, entity.number)
        if not found:
            return None
        for row in found:
            if Decimal(str(row.get("TotalAmt", "0"))) == entity.total:
                return dict(row)
        raise Permanent(
            f"quickbooks: {entity.entity} {entity.number} exists with total {found[0].get('TotalAmt')}, "
            f"not {entity.total}: check it in QuickBooks before posting again",
            vendor_code="total_mismatch",
        )

    def _resolve_duplicate(self, entity: QboEntity, error: DuplicateDocument) -> dict[str, Any]:
        """A duplicate-number refusal answered with the existing document (never by renaming)."""
        found = self._find(entity)
        if found is None:
            raise Permanent(
                f"{error.message}; no {entity.entity} numbered {entity.number} was found (another document "
                "type holds the number)",
                vendor_code=error.vendor_code,
                vendor_message=error.vendor_message,
            )
        return found

    @staticmethod
    def _entity_or_uncertain(entity: QboEntity, row: Any) -> dict[str, Any]:
        if not isinstance(row, Mapping) or not row.get("Id"):
            raise Uncertain(f"quickbooks: the answer holds no {entity.entity} id; look it up")
        return dict(row)

    @staticmethod
    def _result(plan: QboPlan, main: Mapping[str, Any], payments: list[Mapping[str, Any]]) -> PostResult:
        """The PostResult of a created or found document and its payments."""
        if not main.get("Id"):
            raise Uncertain(f"quickbooks: the answer holds no {plan.main.entity} id; look it up")
        return PostResult(
            remote_id=str(main["Id"]),
            remote_number=str(main.get(plan.main.number_field) or plan.main.number),
            raw={
                "entity": plan.main.entity,
                "total": str(main.get("TotalAmt", "")),
                "expected_total": str(plan.main.total),
                "payment_ids": [str(p.get("Id")) for p in payments],
                "customer_ref": str((main.get("CustomerRef") or {}).get("value") or ""),
            },
        )

    # -- batch ---------------------------------------------------------------------------------

    def post_batch(self, docs: list[PostingDocument]) -> list[PostResult | ConnectorError]:
        """Post up to :attr:`max_batch` documents per ``/batch`` call, then their payments in a
        second batch; one result per document.

        A closed period or an unbuildable document fails alone, before anything is sent. A call
        that fails as a whole (429, lost answer) gives its error to each of its documents; a lost
        answer makes them :class:`Uncertain`, to be looked up one by one.
        """
        results: list[PostResult | ConnectorError | None] = [None] * len(docs)
        pending: list[tuple[int, PostingDocument, QboPlan]] = []
        for index, doc in enumerate(docs):
            try:
                self._refuse_closed_period(doc)
                pending.append((index, doc, self.plan(doc)))
            except ConnectorError as exc:
                results[index] = exc
        created: list[tuple[int, PostingDocument, QboPlan, dict[str, Any]]] = []
        for start in range(0, len(pending), BATCH_SIZE):
            chunk = pending[start : start + BATCH_SIZE]
            try:
                answers = self._send_batch([(doc.idempotency_key, plan.main) for _, doc, plan in chunk], "b")
            except Uncertain as exc:
                for index, _, _ in chunk:
                    results[index] = exc
                continue
            except ConnectorError as exc:
                for index, _, _ in pending[start:]:
                    results[index] = exc
                break
            for (index, doc, plan), item in zip(chunk, answers, strict=True):
                outcome = self._batch_item(plan.main, item)
                if isinstance(outcome, ConnectorError):
                    results[index] = outcome
                elif plan.payments:
                    created.append((index, doc, plan, outcome))
                else:
                    results[index] = self._result(plan, outcome, [])
        for index, doc, plan, main in created:
            # Payments follow one by one: few documents have them, and each must see its invoice.
            try:
                results[index] = self._result(plan, main, self._settle(plan, main, doc.idempotency_key))
            except ConnectorError as exc:
                results[index] = exc
        return [r if r is not None else Uncertain("quickbooks: no result") for r in results]

    def _send_batch(self, chunk: list[tuple[str, QboEntity]], prefix: str) -> list[Any]:
        """One ``/batch`` call; the item answers in chunk order (matched by bId)."""
        keys = "\n".join(key for key, _ in chunk)
        # Always a digest (never a document's own key), at most 36 characters in a batch.
        batch_key = prefix + hashlib.sha256(f"batch\n{keys}".encode()).hexdigest()[:35]
        items = [
            {"bId": str(n), "operation": "create", e.entity: e.payload} for n, (_, e) in enumerate(chunk)
        ]
        self.batch_limiter.acquire(self.http.max_wait)
        try:
            answer = self._request("POST", "batch", body={"BatchItemRequest": items}, request_key=batch_key)
        finally:
            self.batch_limiter.release()
        by_id = {str(item.get("bId")): item for item in answer.get("BatchItemResponse") or []}
        return [by_id.get(str(n)) for n in range(len(chunk))]

    def _batch_item(self, entity: QboEntity, item: Any) -> dict[str, Any] | ConnectorError:
        """One batch item's answer as the entity or a classified error."""
        if not isinstance(item, Mapping):
            return Uncertain(f"quickbooks: the batch answer has no result for {entity.number}; look it up")
        try:
            if entity.entity in item:
                return self._entity_or_uncertain(entity, item[entity.entity])
            error = classify_fault(400, item)
            if isinstance(error, DuplicateDocument):
                return self._resolve_duplicate(entity, error)
            return error
        except ConnectorError as exc:
            return exc

    # -- read-back -----------------------------------------------------------------------------

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """What QuickBooks recorded for the posting: revenue per item income account, tax per tax
        code (from the rates of ``TxnTaxDetail``), money and A/R per account, payments included."""
        entity = str(result.raw.get("entity") or self.plan(doc).main.entity)
        main = self._read(entity, result.remote_id)
        facts = self.company()
        code_of = {i: str(r.get("AcctNum") or r.get("Name") or i) for i, r in facts.accounts.items()}
        ar = next((i for i, r in facts.accounts.items() if r.get("AccountType") == "Accounts Receivable"), "")
        accounts: list[tuple[str, Decimal]] = []
        taxes: list[tuple[str, Decimal]] = []
        currency = str((main.get("CurrencyRef") or {}).get("value") or facts.home_currency)
        total = Decimal(str(main.get("TotalAmt") or 0))

        def account(ref: Any) -> str:
            value = str((ref or {}).get("value") or "")
            return code_of.get(value, value)

        if entity in ("SalesReceipt", "Invoice", "RefundReceipt", "CreditMemo"):
            sign = Decimal(-1) if entity in ("SalesReceipt", "Invoice") else Decimal(1)
            codes_used: set[str] = set()
            for line in main.get("Line") or []:
                detail = line.get("SalesItemLineDetail")
                if line.get("DetailType") != "SalesItemLineDetail" or not detail:
                    continue
                item = str((detail.get("ItemRef") or {}).get("value") or "")
                income = facts.item_income.get(item) or self.company(refresh=True).item_income.get(item, "")
                accounts.append((code_of.get(income, income), sign * Decimal(str(line.get("Amount") or 0))))
                codes_used.add(str((detail.get("TaxCodeRef") or {}).get("value") or ""))
            for tax_line in (main.get("TxnTaxDetail") or {}).get("TaxLine") or []:
                rate = str(((tax_line.get("TaxLineDetail") or {}).get("TaxRateRef") or {}).get("value") or "")
                code = next(
                    (c for c in sorted(codes_used) if rate in {r for r, _ in facts.tax_rates.get(c, ())}),
                    rate,
                )
                taxes.append((code, sign * Decimal(str(tax_line.get("Amount") or 0))))
            if entity in ("SalesReceipt", "RefundReceipt"):
                accounts.append((account(main.get("DepositToAccountRef")), -sign * total))
            else:
                accounts.append((code_of.get(ar, ar), -sign * total))
            for payment_id in result.raw.get("payment_ids") or []:
                payment = self._read("Payment", str(payment_id))
                amount = Decimal(str(payment.get("TotalAmt") or 0))
                accounts += [
                    (account(payment.get("DepositToAccountRef")), amount),
                    (code_of.get(ar, ar), -amount),
                ]
        elif entity == "Payment":
            accounts += [(account(main.get("DepositToAccountRef")), total), (code_of.get(ar, ar), -total)]
        elif entity == "Deposit":
            accounts.append((account(main.get("DepositToAccountRef")), total))
            for line in main.get("Line") or []:
                ref = (line.get("DepositLineDetail") or {}).get("AccountRef")
                accounts.append((account(ref), -Decimal(str(line.get("Amount") or 0))))
        else:
            for line in main.get("Line") or []:
                detail = line.get("JournalEntryLineDetail") or {}
                amount = Decimal(str(line.get("Amount") or 0))
                accounts.append(
                    (
                        account(detail.get("AccountRef")),
                        amount if detail.get("PostingType") == "Debit" else -amount,
                    )
                )
        return make_view(currency, accounts, taxes, (f"{entity} {result.remote_id}",))

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as QuickBooks should hold it (the plan's tax per code, accounts per line)."""
        return expected_view(doc, plan_document(doc, self.options()))

    def _read(self, entity: str, remote_id: str) -> dict[str, Any]:
        answer = self._request("GET", f"{entity.lower()}/{remote_id}")
        row = answer.get(entity)
        if not isinstance(row, Mapping):
            raise Permanent(f"quickbooks: {entity} {remote_id} could not be read back")
        return dict(row)

    def fetch_exchange_rate(self, currency: str, on: date) -> Decimal | None:
        """QuickBooks' own rate for ``currency`` on ``on`` (home units per unit), if it has one."""
        answer = self._request(
            "GET", "exchangerate", params={"sourcecurrencycode": currency.upper(), "asofdate": on.isoformat()}
        )
        rate = (answer.get("ExchangeRate") or {}).get("Rate")
        return Decimal(str(rate)) if rate not in (None, "", 0) else None

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
