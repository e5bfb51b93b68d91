"""The Zoho Books ledger target: post, look up, read the organisation's lists.

Exactly once without keys. Zoho Books takes no idempotency key, so every document carries our
number where Zoho lets it be searched: invoices and credit notes by their own number (sent with
``ignore_auto_number_generation=true``, so Zoho refuses a second one: "already exists" is resolved
by looking it up), customer payments, refunds, journals, transfers and expenses by
``reference_number``. Documents without a unique number are looked up *before* they are created,
and the parts of a document (its "sent" status, payments, refunds, application, fee expenses) are
each checked on Zoho before they are sent. :meth:`ZohoBooksTarget.lookup` returns a document only
when all its parts are there, so an outcome lost half-way is finished by the next :meth:`post`.

Limits. 100 calls a minute per organisation and a daily allowance that depends on the plan
(``daily_limit``, default 1,000), through the organisation's shared
:class:`~connectors.http.RateLimiter`. Zoho sends no Retry-After: a per-minute 429 pauses the
organisation for ``rate_limit_pause_seconds`` (60), a 429 about the day's allowance until
tomorrow. :meth:`daily_budget_remaining` says what is left today.

Closed periods. Zoho's transaction locking locks modules separately (sales: invoices, credit
notes and customer payments; purchases: expenses; banking: deposits and transfers; accountant:
journals). The locks are read from the organisation (``GET /transactionlocks``, see
:mod:`~connectors.ledgers.zoho_books.locks`) and kept ``LOCKS_TTL_SECONDS`` per organisation; the
connection may add its own floor (``settings["lock_date"]``, ``settings["lock_dates"]`` per
module). A document dated on or before the lock of any module it would write to raises
:class:`ClosedPeriod` before the first write (customers and items included). When Zoho refuses with
its lock error anyway (a lock set since the last read), the locks are read again at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import requests

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
    RateLimited,
    RemoteAccount,
    RemoteItem,
    RemoteTaxCode,
    SetupField,
    Uncertain,
    connection_failed,
)
from connectors.http import RateLimit, VendorHTTP
from connectors.jsonwire import dumps, loads
from connectors.ledgers.common import (
    CustomerIdentity,
    CustomerPayment,
    PlanOptions,
    SalesDocument,
    expected_view,
    plan_document,
)
from connectors.ledgers.zoho_books.datacentres import api_base_url, token_url_for
from connectors.ledgers.zoho_books.documents import (
    NUMBER_RULES,
    ZohoDocument,
    ZohoFacts,
    ZohoPlan,
    ZohoSettings,
    payment_body,
    refund_body,
    render,
)
from connectors.ledgers.zoho_books.errors import (
    DAY_SECONDS,
    DAY_TEXT,
    DuplicateDocument,
    classify_error,
    is_success,
)
from connectors.ledgers.zoho_books.locks import ALL, locks_in_force
from connectors.ledgers.zoho_books.readback import read_back_view

__all__ = ["ZOHO_OAUTH", "ZohoBooksTarget"]

ZOHO_OAUTH = OAuth2Provider(
    name="zoho_books",
    authorize_url="https://accounts.zoho.com/oauth/v2/auth",
    token_url="https://accounts.zoho.com/oauth/v2/token",
    pkce=False,
    default_scopes=("ZohoBooks.invoices.ALL", "ZohoBooks.creditnotes.ALL", "ZohoBooks.customerpayments.ALL",
                    "ZohoBooks.accountants.ALL", "ZohoBooks.banking.ALL", "ZohoBooks.expenses.ALL",
                    "ZohoBooks.contacts.ALL", "ZohoBooks.settings.ALL", "ZohoBooks.salesorders.ALL"),
    client_auth="post",
    answer_fields=("api_domain",),
    authorize_params=(("access_type", "offline"), ("prompt", "consent")),
)  # fmt: skip
PER_MINUTE = 100
DEFAULT_DAILY_LIMIT = 1000
FACTS_TTL_SECONDS = 600
LOCKS_TTL_SECONDS = 300
POSTING_MODULES = ("sales", "purchases", "banking", "accountant")
LOCK_PAGES = 20
MODULES = {"invoice": "sales", "salesorder": "sales", "creditnote": "sales", "customerpayment": "sales", "banktransaction": "banking",
           "expense": "purchases", "journal": "accountant"}  # fmt: skip
_ID_KEYS = {"invoice": "invoice_id", "salesorder": "salesorder_id", "creditnote": "creditnote_id", "customerpayment": "payment_id",
            "journal": "journal_id", "banktransaction": "transaction_id", "expense": "expense_id"}  # fmt: skip
_ANSWER_KEYS = {"invoice": "invoice", "salesorder": "salesorder", "creditnote": "creditnote", "customerpayment": "payment",
                "journal": "journal", "banktransaction": "banktransaction", "expense": "expense"}  # fmt: skip
_LIST_KEYS = {"invoices": "invoices", "salesorders": "salesorders", "creditnotes": "creditnotes", "customerpayments": "customer_payments",
              "journals": "journals", "banktransactions": "banktransactions", "expenses": "expenses"}  # fmt: skip

_facts: dict[str, tuple[float, ZohoFacts, dict[str, Any]]] = {}
_day_exhausted: dict[str, float] = {}
_locks: dict[str, tuple[float, dict[str, date]]] = {}


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or 0))


@dataclass
class _LastLimitAnswer(threading.local):
    """The body of the last 429 this thread received (VendorHTTP raises before we see it)."""

    text: str = ""


class ZohoBooksTarget(LedgerTarget):
    """Posts PostingDocuments to one Zoho Books organisation.

    Config: ``base_url`` (empty: the data centre's API domain stored at connect time; a sandbox in
    tests), ``credentials`` (``client_id``, ``client_secret``, ``access_token``, ``refresh_token``,
    ``expires_at``, ``accounts_server``, ``api_domain``, ``tenant_id`` = the organisation id),
    ``settings`` (see :class:`~connectors.ledgers.zoho_books.documents.ZohoSettings`, plus
    ``lock_date``, ``lock_dates``, ``daily_limit``, ``calls_per_minute``, ``token_url``,
    ``rate_limit_pause_seconds``, ``max_wait_seconds``).
    """

    platform = "zoho_books"
    display_name = "Zoho Books"
    capabilities = frozenset({"oauth2", "lookup", "lock_date", "multi_currency", "read_lists", "daily_budget",
                              "read_back", "customers", "tenants"})  # fmt: skip
    max_batch = 1
    setup_fields = (
        SetupField("client_id", "Client ID", store="credentials", required=True,
                   help="api-console.zoho.com > your server-based client. Add this site's "
                   "/connections/oauth/callback/ address as its redirect URI."),
        SetupField("client_secret", "Client secret", kind="secret", store="credentials", required=True),
        SetupField("base_url", "API address", kind="url",
                   help="Leave empty: the address of your organisation's data centre is learnt when you connect."),
        SetupField("authorize_url", "Authorisation address", kind="url",
                   help="Leave empty for Zoho's own; only a self-hosted test server needs it."),
        SetupField("token_url", "Token address", kind="url",
                   help="Leave empty: Zoho names its accounts server when you connect."),
        SetupField("daily_limit", "API calls a day (your plan's limit)", kind="int", default=DEFAULT_DAILY_LIMIT,
                   help="Free 1,000; Standard 2,000; Professional 5,000; Premium and above 10,000."),
        SetupField("tax_rounding", "Tax rounding", kind="choice", default="line",
                   choices=(("line", "Per line item"), ("document", "On the total"))),
        SetupField("payment_mode", "Payment mode of customer payments", default="banktransfer"),
        SetupField("payout_document", "Payouts become", kind="choice", default="auto",
                   choices=(("auto", "A transfer and fee expenses"), ("journal", "A journal"))),
        SetupField("order_to_invoice", "B2B invoices through sales orders", kind="bool", default=False,
                   help="For businesses that work order-to-invoice: each B2B invoice bills a confirmed sales order."),
        SetupField("lock_date", "Transactions locked up to", kind="date",
                   help="Optional: Zoho's own transaction locks are read from the organisation; "
                   "a date here holds every module up to it as well."),
        SetupField("due_days", "Invoice due in (days)", kind="int", default=0),
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
        credentials, settings = config.credentials, config.settings
        self.organization_id = str(credentials.get("tenant_id") or credentials.get("organization_id") or "")
        self.settings = ZohoSettings.from_mapping(settings)
        self.daily_limit = int(settings.get("daily_limit") or DEFAULT_DAILY_LIMIT)
        self.pause = float(settings.get("rate_limit_pause_seconds", 60))
        per_minute = int(settings.get("calls_per_minute") or PER_MINUTE)
        self._last_limit = _LastLimitAnswer()
        session = requests.Session()
        session.hooks["response"].append(self._remember_limit_answer)
        self.http = VendorHTTP(
            vendor="zoho_books",
            base_url=api_base_url(credentials, config.base_url),
            connection_key=self.organization_id or config.connection_id,
            rate_limit=RateLimit(per_minute=per_minute, per_day=self.daily_limit),
            max_wait=float(settings.get("max_wait_seconds", 30)),
            session=session,
            default_retry_after=self.pause,
        )
        self.oauth = oauth or OAuth2Client.from_config(
            ZOHO_OAUTH, config, load_credentials=load_credentials, lock_factory=lock_factory
        )
        if not settings.get("token_url") and credentials.get("accounts_server"):
            self.oauth.token_url = token_url_for(str(credentials["accounts_server"]), settings)
        self._items: dict[str, str] = {}  # item id -> account id

    # -- HTTP ----------------------------------------------------------------------------------

    def _remember_limit_answer(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code == 429:
            self._last_limit.text = response.text[:500]

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        organisation: bool = True,
    ) -> dict[str, Any]:
        """One call with the Zoho token and organisation; a 401 refreshes once and retries once.
        Any answer whose ``code`` is not 0 is an error, whatever the HTTP status."""
        if organisation and not self.organization_id:
            raise AuthExpired("zoho_books: no organisation is chosen; connect Zoho Books again")
        blocked = _day_exhausted.get(self.organization_id, 0.0)
        if blocked > time.time():
            raise RateLimited("zoho_books: the day's API allowance is used up", retry_after=blocked - time.time(),
                              vendor_code="day")  # fmt: skip
        query = dict(params or {})
        if organisation:
            query["organization_id"] = self.organization_id
        data = dumps(body) if body is not None else None
        token = self.oauth.access_token()
        for attempt in (1, 2):
            headers = {"Authorization": f"Zoho-oauthtoken {token}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = self.http.request(method, path, params=query, data=data, headers=headers)
            except RateLimited as exc:
                raise self._limited(exc) from exc
            try:
                parsed = loads(response.content) if response.content else {}
            except ValueError:
                parsed = {}
            if is_success(response.status_code, parsed):
                return dict(parsed)
            error = classify_error(response.status_code, parsed, pause=self.pause)
            if isinstance(error, AuthExpired) and response.status_code == 401 and attempt == 1:
                token = self.oauth.refresh(rejected_access_token=token)
                continue
            if isinstance(error, RateLimited):
                raise self._limited(error)
            if response.status_code < 300 and method != "GET" and not isinstance(error, Permanent):
                raise Uncertain(f"zoho_books: unreadable answer to {method} {path}: {error.message}")
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _limited(self, exc: RateLimited) -> RateLimited:
        """A 429 named after the limit it hit: the day's allowance pauses the organisation until tomorrow."""
        text, self._last_limit.text = self._last_limit.text, ""
        if exc.vendor_code == "day" or DAY_TEXT.search(text):
            _day_exhausted[self.organization_id] = time.time() + DAY_SECONDS
            self.http.limiter.block_for(DAY_SECONDS)
            return RateLimited("zoho_books: the day's API allowance is used up", retry_after=DAY_SECONDS,
                               vendor_code="day", vendor_message=text or exc.vendor_message)  # fmt: skip
        return RateLimited(f"zoho_books: rate limited ({exc.message})", retry_after=exc.retry_after or self.pause,
                           vendor_code="minute", vendor_message=text or exc.vendor_message)  # fmt: skip

    # -- what the organisation holds (cached per organisation) ---------------------------------

    def facts(self, *, refresh: bool = False) -> ZohoFacts:
        """Base currency, currencies, chart of accounts and taxes."""
        cached = _facts.get(self.organization_id)
        if cached is not None and not refresh and cached[0] > time.monotonic():
            return cached[1]
        organisation = (
            self._request("GET", f"/organizations/{self.organization_id}").get("organization") or {}
        )
        base = str(organisation.get("currency_code") or self.config.functional_currency)
        accounts = {
            str(a.get("account_code") or a.get("account_id")): dict(a)
            for a in self._request("GET", "/chartofaccounts").get("chartofaccounts") or []
        }
        taxes = {
            str(t["tax_id"]): dict(t) for t in self._request("GET", "/settings/taxes").get("taxes") or []
        }
        currencies = {
            str(c.get("currency_code")): str(c.get("currency_id"))
            for c in self._request("GET", "/settings/currencies").get("currencies") or []
        }
        facts = ZohoFacts(base, accounts, taxes, currencies)
        _facts[self.organization_id] = (time.monotonic() + FACTS_TTL_SECONDS, facts, organisation)
        return facts

    def _tax_rounding(self) -> str:
        """The organisation's rounding as learnt from Zoho's own answers, else the setting."""
        return self.config.refs.get("setting", "tax_rounding") or self.settings.tax_rounding

    def options(self) -> PlanOptions:
        """What the layer may plan for this organisation (journals may be in a foreign currency)."""
        facts = self.facts()
        return PlanOptions(
            functional_currency=facts.base_currency,
            currencies=frozenset(facts.currencies),
            foreign_journals=True,
            receipt_single_account=False,
            refund_single_account=False,
            numbers=NUMBER_RULES,
            walk_in_name=self.settings.walk_in_name,
            default_due_days=self.settings.due_days,
        )

    def _customer(self, identity: CustomerIdentity) -> str:
        """The organisation's customer for a source customer: found by name or created, once."""
        stored = self.config.refs.get("customer", identity.key)
        if stored:
            return stored
        rows = self._request("GET", "/contacts", params={"contact_name": identity.name}).get("contacts") or []
        rows = [
            r
            for r in rows
            if r.get("contact_name") == identity.name and r.get("contact_type", "customer") == "customer"
        ]
        if rows:
            remote = str(rows[0].get("contact_id") or "")
        else:
            body: dict[str, Any] = {"contact_name": identity.name, "contact_type": "customer"}
            if identity.company:
                body["company_name"] = identity.company[:200]
            if identity.email:
                body["contact_persons"] = [{"email": identity.email, "is_primary_contact": True}]
            made = self._request("POST", "/contacts", body=body).get("contact") or {}
            remote = str(made.get("contact_id") or "")
            if not remote:
                raise Uncertain(f"zoho_books: creating customer {identity.name!r} gave no id")
        self.config.refs.put("customer", identity.key, remote, identity.name)
        return remote

    def _item_of(self, account_id: str) -> str:
        """The item whose sales account is ``account_id`` (found by name or created, once)."""
        key = f"account:{account_id}"
        stored = self.config.refs.get("item", key)
        if stored:
            self._items[stored] = account_id
            return stored
        facts = self.facts()
        row = next((a for a in facts.accounts.values() if str(a.get("account_id")) == account_id), {})
        name = f"{row.get('account_code') or account_id} {row.get('account_name') or ''}".strip()[:100]
        found = [r for r in self._request("GET", "/items", params={"name": name}).get("items") or []
                 if r.get("name") == name]  # fmt: skip
        if found:
            remote = str(found[0].get("item_id") or "")
        else:
            body = {
                "name": name,
                "rate": 0,
                "account_id": account_id,
                "description": f"Sales to {name}"[:200],
            }
            remote = str((self._request("POST", "/items", body=body).get("item") or {}).get("item_id") or "")
            if not remote:
                raise Uncertain(f"zoho_books: creating item {name!r} gave no id")
        self.config.refs.put("item", key, remote, name)
        self._items[remote] = account_id
        return remote

    def item_account(self, item_id: str) -> str:
        """The account of an item (for reading invoice lines back)."""
        if item_id not in self._items:
            item = self._request("GET", f"/items/{item_id}").get("item") or {}
            self._items[item_id] = str(item.get("account_id") or "")
        return self._items[item_id]

    # -- closed periods ------------------------------------------------------------------------

    def _lock_dates(self) -> tuple[date | None, dict[str, date]]:
        """The connection's own floor: every module (``lock_date``) and per module (``lock_dates``)."""
        settings = self.config.settings
        modules = {k: d for k, v in dict(settings.get("lock_dates") or {}).items() if (d := _date(v))}
        return _date(settings.get("lock_date")), modules

    def zoho_locks(self, *, refresh: bool = False) -> dict[str, date]:
        """Zoho's transaction locks in force, the latest date per module (``all``: every module),
        from ``GET /transactionlocks``; kept ``LOCKS_TTL_SECONDS`` per organisation. An
        organisation whose plan has no transaction locking (Zoho refuses the read) has none."""
        cached = _locks.get(self.organization_id)
        if cached is not None and not refresh and cached[0] > time.monotonic():
            return dict(cached[1])
        rows: list[dict[str, Any]] = []
        try:
            for page in range(1, LOCK_PAGES + 1):
                answer = self._request(
                    "GET", "/transactionlocks", params={"page": str(page), "per_page": "200"}
                )
                rows += [dict(r) for r in answer.get("transaction_locks") or []]
                if not (answer.get("page_context") or {}).get("has_more_page"):
                    break
        except Permanent as exc:
            if isinstance(exc, ClosedPeriod):
                raise
            rows = []
        found = locks_in_force(rows)
        _locks[self.organization_id] = (time.monotonic() + LOCKS_TTL_SECONDS, found)
        return dict(found)

    def _module_lock(self, module: str, *, zoho: bool = True) -> tuple[date | None, str]:
        """The latest lock holding ``module`` and where it comes from."""
        overall, modules = self._lock_dates()
        found: list[tuple[date, str]] = []
        if overall:
            found.append((overall, "the connection's lock date"))
        if module in modules:
            found.append((modules[module], f"the connection's {module} lock date"))
        if zoho:
            locks = self.zoho_locks()
            if ALL in locks:
                found.append((locks[ALL], "Zoho's transaction lock of all modules"))
            if module in locks:
                found.append((locks[module], f"Zoho's transaction lock of the {module} module"))
        if not found:
            return None, ""
        return max(found)

    def _refuse_closed_period(self, doc: PostingDocument, modules: set[str] | None = None) -> None:
        """ClosedPeriod when the document falls on or before the lock of a module it writes to.
        Without ``modules`` only the connection's every-module date is checked (no call at all)."""
        for module in sorted(modules or {ALL}):
            lock, source = self._module_lock(module, zoho=modules is not None)
            if lock is not None and doc.date <= lock:
                message = (f"{doc.reference} is dated {doc.date}, on or before the {module} module's lock date "
                           f"{lock} ({source}): the period is locked")  # fmt: skip
                raise ClosedPeriod(
                    f"zoho_books: {message}", vendor_code="transaction_lock", vendor_message=message
                )

    def _modules_of(self, doc: PostingDocument) -> set[str]:
        """The modules the document's Zoho documents belong to, known before any write."""
        planned = plan_document(doc, self.options())
        if isinstance(planned, SalesDocument | CustomerPayment):
            return {"sales"}  # invoices, credit notes, their payments and refunds
        rendered = render(
            planned, customer_id="", item_of=_no_item, facts=self.facts(), settings=self.settings
        )
        return _modules_of_plan(rendered)

    # -- posting -------------------------------------------------------------------------------

    def plan(self, doc: PostingDocument, *, rounding: str = "") -> ZohoPlan:
        """The Zoho documents this becomes (resolving the customer and items in the organisation)."""
        planned = plan_document(doc, self.options())
        customer_id = ""
        if isinstance(planned, SalesDocument):
            customer_id = self._customer(planned.customer)
        elif isinstance(planned, CustomerPayment) and planned.invoice_remote_id:
            # Zoho applies a payment only to an invoice of the same customer: take the invoice's.
            customer_id = str(
                self.get(f"invoices/{planned.invoice_remote_id}", "invoice").get("customer_id") or ""
            )
        settings = ZohoSettings(
            **{**self.settings.__dict__, "tax_rounding": rounding or self._tax_rounding()}
        )
        return render(
            planned, customer_id=customer_id, item_of=self._item_of, facts=self.facts(), settings=settings
        )

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as Zoho should hold it (tax per tax id, accounts per line)."""
        view = expected_view(doc, plan_document(doc, self.options()))
        facts = self.facts()
        per_tax = {facts.tax_id(code, code): amount for code, amount in view.per_tax_code.items()}
        return LedgerView(view.currency, view.per_account, per_tax, view.total, view.documents)

    def post(self, doc: PostingDocument) -> PostResult:
        """Create the document (after looking it up where its number is not unique), then each
        missing part: sent status, payments or refunds, application, fee expenses."""
        self._refuse_closed_period(doc)
        self._refuse_closed_period(doc, self._modules_of(doc))
        plan = self.plan(doc)
        self._refuse_closed_period(doc, _modules_of_plan(plan))
        try:
            entity = None if plan.main.kind in ("invoice", "creditnote") else self._find(plan.main)
            if entity is None and plan.order is not None:
                entity = self._find(plan.main)  # billed already? then its order is done too
                if entity is None:
                    plan = self._bill_order(plan)
            if entity is None:
                entity = self._create(plan.main)
            return self._complete(doc, plan, entity, post=True)
        except ClosedPeriod:
            _locks.pop(self.organization_id, None)  # Zoho holds a lock we have not read yet
            self.zoho_locks(refresh=True)
            raise

    def _bill_order(self, plan: ZohoPlan) -> ZohoPlan:
        """Make (or find) and confirm the sales order; the invoice's lines then bill its lines."""
        assert plan.order is not None
        order = self._create(plan.order)  # numbers are unique: a re-send is resolved by look-up
        order_id = str(order["salesorder_id"])
        if order.get("status") == "draft":
            self._request("POST", f"/salesorders/{order_id}/status/confirmed")
        lines = list(order.get("line_items") or [])
        if len(lines) != len(plan.main.payload["line_items"]):
            order = self.get(f"salesorders/{order_id}", "salesorder")
            lines = list(order.get("line_items") or [])
        billed = [{**row, "salesorder_item_id": str(line["line_item_id"])}
                  for row, line in zip(plan.main.payload["line_items"], lines, strict=True)]  # fmt: skip
        main = ZohoDocument(plan.main.kind, plan.main.path, {**plan.main.payload, "line_items": billed},
                            plan.main.param, plan.main.number, plan.main.total, plan.main.query)  # fmt: skip
        return ZohoPlan(plan.plan, main, plan.settlements, plan.application, plan.extra, plan.mark_sent,
                        plan.expected_tax, plan.order)  # fmt: skip

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The complete document posted for ``doc``, or None (also when a part is missing: the next
        :meth:`post` finishes it)."""
        plan = self.plan(doc)
        entity = self._find(plan.main)
        if entity is None:
            return None
        try:
            return self._complete(doc, plan, entity, post=False)
        except _Incomplete:
            return None

    def _create(self, document: ZohoDocument) -> dict[str, Any]:
        """POST one document; "already exists" is resolved by looking it up."""
        try:
            answer = self._request("POST", f"/{document.path}", params=document.query, body=document.payload)
        except DuplicateDocument as exc:
            found = self._find(document)
            if found is None:
                raise Permanent(f"{exc.message}; but no {document.kind} {document.number} was found",
                                vendor_code=exc.vendor_code, vendor_message=exc.vendor_message) from exc  # fmt: skip
            return found
        entity = answer.get(_ANSWER_KEYS[document.kind]) or {}
        if not entity.get(_ID_KEYS[document.kind]):
            raise Uncertain(f"zoho_books: the answer holds no {document.kind}; look it up")
        return {**entity, "_fresh": True}

    def _find(self, document: ZohoDocument) -> dict[str, Any] | None:
        """The live document with our number, if its total is ours; Permanent if it holds another."""
        rows = (
            self._request("GET", f"/{document.path}", params={document.param: document.number}).get(
                _LIST_KEYS[document.path]
            )
            or []
        )
        rows = [
            r for r in rows if str(r.get(document.param)) == document.number and r.get("status") != "void"
        ]
        if not rows:
            return None
        for row in rows:
            if _dec(row.get("total", row.get("amount"))) == document.total:
                full = self._request("GET", f"/{document.path}/{row[_ID_KEYS[document.kind]]}")
                return dict(full.get(_ANSWER_KEYS[document.kind]) or row)
        raise Permanent(
            f"zoho_books: {document.kind} {document.number} exists with total {rows[0].get('total')}, not "
            f"{document.total}: check it in Zoho Books before posting again",
            vendor_code="total_mismatch",
        )

    def _complete(
        self, doc: PostingDocument, plan: ZohoPlan, entity: dict[str, Any], *, post: bool
    ) -> PostResult:
        """Check (and, when posting, send) every part the main document still needs. A document
        this very post created has no parts yet: they are sent without reading them first."""
        fresh = bool(entity.pop("_fresh", False))
        kind = plan.main.kind
        main_id = str(entity[_ID_KEYS[kind]])
        raw: dict[str, Any] = {"entity": kind, "total": str(plan.main.total)}
        if kind == "invoice":
            entity = self._settle_tax(doc, plan, entity, post=post)
            if entity.get("status") == "draft":
                _need(post)
                self._request("POST", f"/invoices/{main_id}/status/sent")
            raw["payment_ids"] = self._payments(plan, main_id, post=post, fresh=fresh)
        elif kind == "creditnote":
            raw["refund_ids"] = self._refunds(plan, main_id, post=post, fresh=fresh)
            if plan.application is not None:
                self._apply(plan, main_id, post=post, fresh=fresh)
        extra_ids = []
        for document in plan.extra:
            found = None if fresh else self._find(document)
            if found is None:
                _need(post)
                found = self._create(document)
            extra_ids.append(str(found[_ID_KEYS[document.kind]]))
        raw["extra_ids"] = extra_ids
        number = str(entity.get("invoice_number") or entity.get("creditnote_number") or plan.main.number)
        return PostResult(remote_id=main_id, remote_number=number, raw=raw)

    def _settle_tax(
        self, doc: PostingDocument, plan: ZohoPlan, entity: dict[str, Any], *, post: bool
    ) -> dict[str, Any]:
        """When Zoho computed another tax than ours, the organisation rounds the other way: send the
        invoice again with the other rounding lines (once) and remember how it rounds."""
        if self._taxes_of(entity) == dict(plan.expected_tax):
            return entity
        _need(post)
        other = "document" if self._tax_rounding() == "line" else "line"
        again = self.plan(doc, rounding=other)
        answer = self._request("PUT", f"/invoices/{entity['invoice_id']}", body=again.main.payload)
        updated = dict(answer.get("invoice") or {})
        if self._taxes_of(updated) != dict(again.expected_tax):
            raise Permanent(f"zoho_books: invoice {plan.main.number} holds tax {self._taxes_of(updated)}, "
                            f"not {dict(plan.expected_tax)}", vendor_code="tax_mismatch")  # fmt: skip
        self.config.refs.put("setting", "tax_rounding", other, "tax rounding learnt from Zoho")
        return updated

    def _taxes_of(self, entity: Mapping[str, Any]) -> dict[str, Decimal]:
        """Tax per tax id of an invoice or credit note as Zoho computed it."""
        by_name = {str(t.get("tax_name")): tid for tid, t in self.facts().taxes.items()}
        out: dict[str, Decimal] = {}
        for row in entity.get("taxes") or []:
            tax_id = str(row.get("tax_id") or by_name.get(str(row.get("tax_name")), row.get("tax_name")))
            out[tax_id] = out.get(tax_id, Decimal(0)) + _dec(row.get("tax_amount"))
        return {k: v for k, v in out.items() if v}

    def _payments(self, plan: ZohoPlan, invoice_id: str, *, post: bool, fresh: bool = False) -> list[str]:
        """The invoice's payments by reference; missing ones are made (when posting)."""
        rows = [] if fresh else self._request("GET", f"/invoices/{invoice_id}/payments").get("payments") or []
        made = {str(r.get("reference_number")): str(r.get("payment_id")) for r in rows}
        data = plan.main.payload
        for settlement in plan.settlements:
            if settlement.reference in made:
                continue
            _need(post)
            body = payment_body(str(data["customer_id"]), invoice_id, settlement, str(data["date"]),
                                self.settings.payment_mode, data.get("exchange_rate"))  # fmt: skip
            answer = self._request("POST", "/customerpayments", body=body).get("payment") or {}
            made[settlement.reference] = str(answer.get("payment_id") or "")
        return [made[s.reference] for s in plan.settlements]

    def _refunds(self, plan: ZohoPlan, creditnote_id: str, *, post: bool, fresh: bool = False) -> list[str]:
        """The credit note's refunds by reference; missing ones are made (when posting)."""
        path = f"/creditnotes/{creditnote_id}/refunds"
        rows = [] if fresh else self._request("GET", path).get("creditnote_refunds") or []
        made = {str(r.get("reference_number")): str(r.get("creditnote_refund_id")) for r in rows}
        data = plan.main.payload
        for settlement in plan.settlements:
            if settlement.reference in made:
                continue
            _need(post)
            body = refund_body(
                settlement, str(data["date"]), self.settings.payment_mode, data.get("exchange_rate")
            )
            answer = self._request("POST", f"/creditnotes/{creditnote_id}/refunds", body=body)
            made[settlement.reference] = str(
                (answer.get("creditnote_refund") or {}).get("creditnote_refund_id") or ""
            )
        return [made[s.reference] for s in plan.settlements]

    def _apply(self, plan: ZohoPlan, creditnote_id: str, *, post: bool, fresh: bool = False) -> None:
        """Apply the credit note to the invoice it undoes, unless Zoho shows it applied."""
        assert plan.application is not None
        invoice_id, amount = plan.application
        path = f"/creditnotes/{creditnote_id}/invoices"
        rows = [] if fresh else self._request("GET", path).get("invoices_credited") or []
        if any(str(r.get("invoice_id")) == invoice_id for r in rows):
            return
        _need(post)
        self._request("POST", f"/creditnotes/{creditnote_id}/invoices",
                      body={"invoices": [{"invoice_id": invoice_id, "amount_applied": amount}]})  # fmt: skip

    # -- read-back -----------------------------------------------------------------------------

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """What Zoho recorded for the posting, per account and per tax id."""
        return read_back_view(self, result)

    def get(self, path: str, key: str) -> dict[str, Any]:
        """One resource (``invoices/<id>`` ...), the object under ``key`` of the answer."""
        found = self._request("GET", f"/{path}").get(key)
        if not found:
            raise Permanent(f"zoho_books: {path} could not be read back")
        return dict(found)

    # -- setting up ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """The organisation's name and base currency, with the calls left in today's allowance."""
        if not self.config.credentials.get("refresh_token"):
            return ConnectionCheck(False, "Not connected yet: press Connect to Zoho Books.")
        if not self.organization_id:
            return ConnectionCheck(False, "Connected, but no organisation is chosen: press Connect again.")
        try:
            self.facts(refresh=True)
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        organisation = _facts[self.organization_id][2]
        name = str(organisation.get("name") or self.organization_id)
        base = str(organisation.get("currency_code") or "")
        details = {"organisation": name, "organization_id": self.organization_id, "base_currency": base,
                   "calls_left_today": self.daily_budget_remaining()}  # fmt: skip
        if base and base != self.config.functional_currency:
            return ConnectionCheck(False, f"Connected to {name}, but its base currency is {base} and this "
                                   f"connection is set to {self.config.functional_currency}.", details)  # fmt: skip
        return ConnectionCheck(True, f"Connected to {name}, base currency {base}; "
                               f"{details['calls_left_today']} calls left today.", details)  # fmt: skip

    def list_tenants(self) -> list[dict[str, str]]:
        """The organisations this token may use (``GET /organizations``), for the Connect flow."""
        rows = self._request("GET", "/organizations", organisation=False).get("organizations") or []
        return [{"tenant_id": str(r.get("organization_id", "")), "tenant_name": str(r.get("name", "")),
                 "tenant_type": "ORGANIZATION"} for r in rows]  # fmt: skip

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The chart of accounts (``code`` = the account code, else its id)."""
        kinds = {"income": "revenue", "other_income": "revenue", "expense": "expense", "other_expense": "expense",
                 "cost_of_goods_sold": "expense", "equity": "equity"}  # fmt: skip
        out = []
        for row in self._request("GET", "/chartofaccounts").get("chartofaccounts") or []:
            kind = str(row.get("account_type") or "")
            type_ = kinds.get(kind) or ("liability" if "liabilit" in kind or "payable" in kind else "asset")
            out.append(RemoteAccount(code=str(row.get("account_code") or row.get("account_id")),
                                     name=str(row.get("account_name") or ""), type=type_,
                                     remote_id=str(row.get("account_id") or ""), active=bool(row.get("is_active", True))))  # fmt: skip
        return out

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """Taxes (``code`` = the tax name, ``remote_id`` = the tax id lines carry)."""
        return [
            RemoteTaxCode(code=str(r.get("tax_name") or ""), name=str(r.get("tax_name") or ""),
                          rate=_dec(r.get("tax_percentage")) / 100, remote_id=str(r.get("tax_id") or ""))
            for r in self._request("GET", "/settings/taxes").get("taxes") or []
        ]  # fmt: skip

    def fetch_items(self) -> list[RemoteItem]:
        """Items (``code`` = ``name``)."""
        return [
            RemoteItem(code=str(r.get("name") or ""), name=str(r.get("name") or ""), remote_id=str(r.get("item_id") or ""),
                       active=r.get("status", "active") == "active")
            for r in self._request("GET", "/items").get("items") or []
        ]  # fmt: skip

    def fetch_contacts(self) -> list[RemoteItem]:
        """Customers, as RemoteItem (``remote_id`` = the contact id)."""
        rows = self._request("GET", "/contacts", params={"contact_type": "customer"}).get("contacts") or []
        return [RemoteItem(code=str(r.get("contact_name") or ""), name=str(r.get("contact_name") or ""),
                           remote_id=str(r.get("contact_id") or "")) for r in rows]  # fmt: skip

    def fetch_lock_date(self) -> date | None:
        """The last day on or before which every module we post to is locked (Zoho's locks read
        afresh, and the connection's); None while a module is open. Modules are locked separately:
        a later lock of one module holds only its own documents, which :meth:`post` checks."""
        self.zoho_locks(refresh=True)
        dates = [self._module_lock(module)[0] for module in POSTING_MODULES]
        return min(d for d in dates if d is not None) if all(dates) else None

    def calls_today(self) -> int:
        """Calls this process made to the organisation in the last 24 hours."""
        return self.http.limiter.calls_last_day()

    def daily_budget_remaining(self) -> int:
        """Calls left today: 0 after Zoho said the day's allowance is used, else the plan's limit
        minus the local count."""
        if _day_exhausted.get(self.organization_id, 0.0) > time.time():
            return 0
        return max(0, self.daily_limit - self.calls_today())


def _no_item(account_id: str) -> str:
    """Items are made only for sales documents, which are not rendered before their module is known."""
    raise AssertionError(f"no item is needed to know the module of a document (account {account_id})")


def _modules_of_plan(plan: ZohoPlan) -> set[str]:
    """The transaction-locking modules of a plan's documents (main, order and extras)."""
    parts = (plan.main, *plan.extra, *((plan.order,) if plan.order is not None else ()))
    return {MODULES[d.kind] for d in parts}


class _Incomplete(Exception):
    """A look-up found the document but a part of it is missing."""


def _need(post: bool) -> None:
    """Stop a look-up at the first missing part (a post goes on and makes it)."""
    if not post:
        raise _Incomplete
