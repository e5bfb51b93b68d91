"""The Sage Business Cloud Accounting (API v3.1) ledger target: post, look up, read back, read lists.

Exactly once. Every step of a posting (the invoice, each receipt, the allocation, the fee
payment) carries its own ``idempotency_id`` inside the resource, the same on every attempt
(:func:`~connectors.ledgers.sage.documents.idempotency_id`), so a re-sent step gives back the
resource Sage already holds. :meth:`SageTarget.post` sends every step in order (a step Sage has is
answered, not repeated); :meth:`SageTarget.lookup` returns a document only when every step is
found, so an outcome lost between the invoice and its receipt is finished by the next post.

Limits. About 200 calls a minute per business, through the business's shared
:class:`~connectors.http.RateLimiter`; a 429 blocks the business for its ``Retry-After``.

Closed periods. A document dated on or before the later of the year-end lockdown date, the day
before the accounts start date (``financial_settings``) and the connection's own ``lock_date``
raises :class:`ClosedPeriod` before anything is written.

Tokens. Sage's access tokens live 5 minutes, so the OAuth client refreshes 60 seconds before
expiry; the token endpoint takes the app's id and secret in the form body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
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
from connectors.http import RateLimit, VendorHTTP
from connectors.jsonwire import dumps, loads
from connectors.ledgers.common import (
    CustomerIdentity,
    CustomerPayment,
    PlanOptions,
    SalesDocument,
    expected_view,
    make_view,
    plan_document,
)
from connectors.ledgers.sage.documents import NUMBER_RULES, SageAccounts, SageStep, plan_steps, step_body
from connectors.ledgers.sage.errors import classify_error

__all__ = ["API_URL", "SAGE_OAUTH", "SageTarget"]

API_URL = "https://api.accounting.sage.com/v3.1"
SAGE_OAUTH = OAuth2Provider(
    name="sage",
    authorize_url="https://www.sageone.com/oauth2/auth/central?filter=apiv3.1",
    token_url="https://oauth.accounting.sage.com/token",
    pkce=False,
    default_scopes=("full_access",),
    client_auth="post",
)
API_LIMIT = RateLimit(per_minute=200)
REFRESH_MARGIN = timedelta(seconds=60)
FACTS_TTL_SECONDS = 600
TYPES = {"BANK": "asset", "CURRENT_ASSETS": "asset", "FIXED_ASSETS": "asset", "FUTURE_ASSETS": "asset",
         "CURRENT_LIABILITY": "liability", "FUTURE_LIABILITY": "liability", "EQUITY": "equity",
         "LIABILITY": "liability", "SALES": "revenue", "OTHER_INCOME": "revenue", "DIRECT_EXPENSES": "expense",
         "OVERHEADS": "expense", "DEPRECIATION": "expense", "OTHER_EXPENSE": "expense"}  # fmt: skip
ENTITIES = {"sales_invoices": "SalesInvoice", "sales_credit_notes": "SalesCreditNote",
            "contact_payments": "ContactPayment", "bank_transfers": "BankTransfer", "journals": "Journal"}  # fmt: skip


@dataclass(frozen=True)
class SageFacts:
    """What the target reads once per business (and again after 10 minutes)."""

    base_currency: str
    ledger_ids: dict[str, str]  # nominal code -> ledger account id
    codes: dict[str, str]  # ledger account id -> nominal code
    bank_ids: dict[str, str]  # nominal code of a bank account's ledger account -> bank account id
    bank_ledgers: dict[str, str]  # bank account id -> nominal code of its ledger account
    debtors: str  # nominal code of the debtors control account
    lock_date: date | None


_facts: dict[str, tuple[float, SageFacts]] = {}


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _id(ref: Any) -> str:
    return str(ref.get("id") or "") if isinstance(ref, Mapping) else str(ref or "")


class SageTarget(LedgerTarget):
    """Posts PostingDocuments to one Sage business.

    Config: ``base_url`` (default :data:`API_URL`), ``credentials`` (``client_id``,
    ``client_secret``, ``access_token``, ``refresh_token``, ``expires_at``, ``business_id``),
    ``settings`` (``lock_date``, ``default_contact_id``, ``no_tax_rate_id``, ``token_url``,
    ``authorize_url``, ``calls_per_minute``, ``max_wait_seconds``).
    """

    platform = "sage"
    display_name = "Sage Business Cloud Accounting"
    capabilities = frozenset(
        {"oauth2", "lookup", "idempotency_key", "lock_date", "read_lists", "read_back", "customers"}
    )
    setup_fields = (
        SetupField("base_url", "Sage API address", kind="url", default=API_URL, required=True,
                   help="Leave as it is (Sage's v3.1 API)."),
        SetupField("client_id", "App client id", store="credentials", required=True,
                   help="developerselfservice.sageone.com > your app."),
        SetupField("client_secret", "App client secret", kind="secret", store="credentials", required=True,
                   help="Add this site's /connections/oauth/callback/ address as a callback URL of the app."),
        SetupField("authorize_url", "Authorisation address", kind="url",
                   help="Leave empty for Sage's own; only a self-hosted test server needs it."),
        SetupField("token_url", "Token address", kind="url",
                   help="Leave empty for Sage's own; only a self-hosted test server needs it."),
        SetupField("default_contact_id", "Contact for sales without one",
                   help="Sage's id of the customer contact for anonymous sales (else one is created)."),
        SetupField("no_tax_rate_id", "Tax rate for untaxed lines", default="GB_NO_TAX"),
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
        self.business_id = str(config.credentials.get("business_id") or "")
        per_minute = int(config.settings.get("calls_per_minute") or API_LIMIT.per_minute or 200)
        self.http = VendorHTTP(
            vendor="sage",
            base_url=config.base_url or API_URL,
            connection_key=self.business_id or config.connection_id,
            rate_limit=RateLimit(per_minute=per_minute),
            max_wait=float(config.settings.get("max_wait_seconds", 30)),
        )
        self.oauth = oauth or OAuth2Client.from_config(
            SAGE_OAUTH, config, load_credentials=load_credentials, lock_factory=lock_factory
        )
        self.oauth.refresh_margin = REFRESH_MARGIN

    # -- HTTP ----------------------------------------------------------------------------------

    def _api(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> Any:
        """One call with the bearer token and ``X-Business``; a 401 refreshes once and retries once."""
        data = dumps(body) if body is not None else None
        token = self.oauth.access_token()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if self.business_id:
                headers["X-Business"] = self.business_id
            if data is not None:
                headers["Content-Type"] = "application/json"
            response = self.http.request(method, path, params=params, data=data, headers=headers)
            try:
                parsed = loads(response.content) if response.content else {}
            except ValueError:
                parsed = {}
            if response.status_code < 300:
                return parsed
            if response.status_code == 401 and attempt == 1:
                token = self.oauth.refresh(rejected_access_token=token)
                continue
            raise classify_error(response.status_code, parsed)
        raise AssertionError("unreachable")  # pragma: no cover

    def _list(self, collection: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a collection (``attributes=all``), page by page."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._api("GET", collection, params={**(params or {}), "attributes": "all",
                                                          "items_per_page": "200", "page": str(page)})  # fmt: skip
            rows.extend(dict(r) for r in answer.get("$items") or [])
            if not answer.get("$next"):
                return rows
            page += 1

    # -- what the business holds (cached) ------------------------------------------------------

    def business_facts(self, *, refresh: bool = False) -> SageFacts:
        """Base currency, the chart (nominal code <-> id), bank accounts, debtors control, lock date."""
        cached = _facts.get(self.business_id or self.config.connection_id)
        if cached is not None and not refresh and cached[0] > time.monotonic():
            return cached[1]
        settings = self._api("GET", "financial_settings")
        ledgers = self._list("ledger_accounts")
        codes = {str(r.get("id")): str(r.get("nominal_code") or r.get("id")) for r in ledgers}
        debtors = next(
            (codes[str(r["id"])] for r in ledgers if str(r.get("control_name") or "").upper() == "DEBTORS"),
            "",
        )
        banks = self._list("bank_accounts")
        bank_ledgers = {str(b.get("id")): codes.get(_id(b.get("ledger_account")), "") for b in banks}
        facts = SageFacts(
            base_currency=_id(settings.get("base_currency")) or self.config.functional_currency,
            ledger_ids={code: ledger_id for ledger_id, code in codes.items()},
            codes=codes,
            bank_ids={code: bank_id for bank_id, code in bank_ledgers.items() if code},
            bank_ledgers=bank_ledgers,
            debtors=debtors,
            lock_date=self._sage_lock_date(settings),
        )
        _facts[self.business_id or self.config.connection_id] = (time.monotonic() + FACTS_TTL_SECONDS, facts)
        return facts

    @staticmethod
    def _sage_lock_date(settings: Mapping[str, Any]) -> date | None:
        """The later of the year-end lockdown date and the day before the accounts start date."""
        start = _date(settings.get("accounts_start_date"))
        dates = [
            d
            for d in (
                _date(settings.get("year_end_lockdown_date")),
                start - timedelta(days=1) if start else None,
            )
            if d
        ]
        return max(dates) if dates else None

    def options(self) -> PlanOptions:
        """Sales documents in the base currency; everything else a base-currency journal."""
        return PlanOptions(
            functional_currency=self.business_facts().base_currency,
            foreign_journals=False,
            receipt_single_account=False,
            refund_single_account=False,
            numbers=NUMBER_RULES,
        )

    def _accounts(self) -> SageAccounts:
        facts = self.business_facts()
        return SageAccounts(
            facts.ledger_ids, facts.bank_ids, str(self.config.settings.get("no_tax_rate_id") or "")
        )

    def _contact(self, identity: CustomerIdentity) -> str:
        """The business's customer contact for a source customer: found by name or created, once."""
        if identity.walk_in and self.config.settings.get("default_contact_id"):
            return str(self.config.settings["default_contact_id"])
        stored = self.config.refs.get("customer", identity.key)
        if stored:
            return stored
        rows = self._list("contacts", {"search": identity.name, "contact_type_id": "CUSTOMER"})
        found = next((r for r in rows if str(r.get("name") or "") == identity.name), None)
        if found is not None:
            remote = str(found.get("id") or "")
        else:
            body: dict[str, Any] = {"name": identity.name, "contact_type_ids": ["CUSTOMER"]}
            if identity.email:
                body["email"] = identity.email
            if identity.source_id:
                body["reference"] = identity.source_id[:50]
            remote = str(self._api("POST", "contacts", body={"contact": body}).get("id") or "")
            if not remote:
                raise Uncertain(f"sage: creating contact {identity.name!r} gave no id")
        self.config.refs.put("customer", identity.key, remote, identity.name)
        return remote

    # -- posting -------------------------------------------------------------------------------

    def _refuse_closed_period(self, doc: PostingDocument, *, read_sage: bool = True) -> None:
        """ClosedPeriod when the document is dated on or before a lock date (before any write)."""
        dates = [_date(self.config.settings.get("lock_date"))]
        if read_sage:
            dates.append(self.business_facts().lock_date)
        known = [d for d in dates if d]
        lock = max(known) if known else None
        if lock is not None and doc.date <= lock:
            message = f"{doc.reference} is dated {doc.date}, on or before Sage's lock date {lock}"
            raise ClosedPeriod(f"sage: {message}", vendor_code="LockDate", vendor_message=message)

    def steps(self, doc: PostingDocument) -> list[SageStep]:
        """The Sage resources this document becomes (resolving the customer contact)."""
        planned = plan_document(doc, self.options())
        contact = (
            self._contact(planned.customer) if isinstance(planned, SalesDocument | CustomerPayment) else ""
        )
        return plan_steps(planned, self._accounts(), contact)

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as Sage should hold it (the plan's tax per tax rate, accounts per line)."""
        return expected_view(doc, plan_document(doc, self.options()))

    def post(self, doc: PostingDocument) -> PostResult:
        """Send every step in order, each with its idempotency id (Sage answers a repeat with the
        resource it holds, so a retry finishes what an earlier attempt began)."""
        self._refuse_closed_period(doc, read_sage=False)
        self._refuse_closed_period(doc)
        made: dict[str, str] = {}
        steps = self.steps(doc)
        for step in steps:
            answer = self._api("POST", step.collection, body=step_body(step, doc.idempotency_key, made))
            if not answer.get("id"):
                raise Uncertain(f"sage: the answer to {step.collection} holds no id; look it up")
            made[step.name] = str(answer["id"])
        return self._result(steps, made)

    @staticmethod
    def _result(steps: list[SageStep], made: Mapping[str, str]) -> PostResult:
        first = steps[0]
        return PostResult(
            remote_id=made["doc"],
            remote_number=first.reference,
            raw={"entity": ENTITIES.get(first.collection, first.collection),
                 "steps": {s.name: [s.collection, made[s.name]] for s in steps}},
        )  # fmt: skip

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The complete posting for ``doc`` (every step found by its reference), or None."""
        steps = self.steps(doc)
        made: dict[str, str] = {}
        for step in steps:
            found = self._find(step, doc)
            if found is None:
                return None
            made[step.name] = found
        return self._result(steps, made)

    def _find(self, step: SageStep, doc: PostingDocument) -> str | None:
        """Sage's id of a step's resource, found by its reference and amount on the document's date."""
        day = doc.date.isoformat()
        params: dict[str, str] = {}
        if step.collection in ("sales_invoices", "sales_credit_notes"):
            params = {"search": step.reference, "from_date": day, "to_date": day}
        elif step.collection in ("contact_payments", "other_payments", "bank_transfers"):
            params = {"from_date": day, "to_date": day}
        elif step.collection == "contact_allocations":
            params = {"contact_id": str(step.data.get("contact_id") or "")}
        rows = self._list(step.collection, params)
        for row in rows:
            if step.collection == "contact_allocations":
                artefacts = {_id(a.get("artefact")) for a in row.get("allocated_artefacts") or []}
                if str(step.data.get("invoice_id")) in artefacts:
                    return str(row["id"])
                continue
            if str(row.get("reference") or "") != step.reference:
                continue
            total = row.get("total_amount", row.get("amount", row.get("total")))
            if _dec(total) != step.amount:
                raise Permanent(
                    f"sage: {step.collection} {step.reference} exists with total {total}, not {step.amount}: "
                    "check it in Sage before posting again",
                    vendor_code="total_mismatch",
                )
            return str(row["id"])
        return None

    # -- read-back -----------------------------------------------------------------------------

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """What Sage recorded for every step: lines per ledger account, tax per tax rate, the
        debtors control account, bank accounts of receipts, transfers and payments."""
        facts = self.business_facts()
        accounts: list[tuple[str, Decimal]] = []
        taxes: list[tuple[str, Decimal]] = []
        steps = result.raw.get("steps") or {"doc": ["journals", result.remote_id]}
        currency = facts.base_currency
        for name, (collection, remote_id) in steps.items():
            row = self._api("GET", f"{collection}/{remote_id}")
            if name == "doc":
                currency = _id(row.get("currency")) or currency
            if collection in ("sales_invoices", "sales_credit_notes"):
                sign = Decimal(-1) if collection == "sales_invoices" else Decimal(1)
                key = "invoice_lines" if collection == "sales_invoices" else "credit_note_lines"
                for line in row.get(key) or []:
                    accounts.append(
                        (
                            facts.codes.get(_id(line.get("ledger_account")), ""),
                            sign * _dec(line.get("net_amount")),
                        )
                    )
                    if _dec(line.get("tax_amount")):
                        taxes.append((_id(line.get("tax_rate")), sign * _dec(line.get("tax_amount"))))
                accounts.append((facts.debtors, -sign * _dec(row.get("total_amount"))))
            elif collection == "contact_payments":
                sign = Decimal(1) if _id(row.get("transaction_type")) == "CUSTOMER_RECEIPT" else Decimal(-1)
                amount = _dec(row.get("total_amount"))
                accounts += [(facts.bank_ledgers.get(_id(row.get("bank_account")), ""), sign * amount),
                             (facts.debtors, -sign * amount)]  # fmt: skip
            elif collection == "bank_transfers":
                amount = _dec(row.get("amount"))
                accounts += [(facts.bank_ledgers.get(_id(row.get("to_bank_account")), ""), amount),
                             (facts.bank_ledgers.get(_id(row.get("from_bank_account")), ""), -amount)]  # fmt: skip
            elif collection == "other_payments":
                for line in row.get("payment_lines") or []:
                    accounts.append(
                        (facts.codes.get(_id(line.get("ledger_account")), ""), _dec(line.get("total_amount")))
                    )
                accounts.append(
                    (facts.bank_ledgers.get(_id(row.get("bank_account")), ""), -_dec(row.get("total_amount")))
                )
            elif collection == "journals":
                for line in row.get("journal_lines") or []:
                    accounts.append((facts.codes.get(_id(line.get("ledger_account")), ""),
                                     _dec(line.get("debit")) - _dec(line.get("credit"))))  # fmt: skip
            # contact_allocations move nothing between accounts: credit set against the invoice.
        return make_view(currency, accounts, taxes, (f"{result.raw.get('entity')} {result.remote_id}",))

    # -- setting up ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """``GET financial_settings``: base currency and lock date of the business."""
        if not self.config.credentials.get("refresh_token"):
            return ConnectionCheck(False, "Not connected yet: press Connect to Sage and choose the business.")
        try:
            if not self.business_id:
                self.business_id = self.lead_business()
            facts = self.business_facts(refresh=True)
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        details = {"business_id": self.business_id, "base_currency": facts.base_currency,
                   "lock_date": facts.lock_date.isoformat() if facts.lock_date else ""}  # fmt: skip
        if facts.base_currency != self.config.functional_currency:
            return ConnectionCheck(False, f"Connected, but the business's base currency is {facts.base_currency}, "
                                   f"not {self.config.functional_currency}.", details)  # fmt: skip
        closed = f", locked to {facts.lock_date:%d %b %Y}" if facts.lock_date else ""
        return ConnectionCheck(
            True, f"Connected to Sage, base currency {facts.base_currency}{closed}.", details
        )

    def lead_business(self) -> str:
        """The id of the user's lead business (``GET businesses``), for a connection without one."""
        rows = self._api("GET", "businesses")
        items = rows.get("$items") if isinstance(rows, Mapping) else rows
        lead = next((b for b in items or [] if b.get("is_lead")), (items or [{}])[0])
        if not lead.get("id"):
            raise AuthExpired("sage: the user has no business; connect Sage again")
        return str(lead["id"])

    # -- reading -------------------------------------------------------------------------------

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The chart (``code`` = nominal code, ``remote_id`` = Sage's id)."""
        return [
            RemoteAccount(
                code=str(r.get("nominal_code") or r.get("id")),
                name=str(r.get("name") or r.get("displayed_as") or ""),
                type=TYPES.get(_id(r.get("ledger_account_type")), "asset"),
                remote_id=str(r.get("id") or ""),
            )
            for r in self._list("ledger_accounts")
        ]

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """Tax rates (``code`` = ``remote_id`` = Sage's id, used on lines; ``rate`` a fraction)."""
        return [
            RemoteTaxCode(code=str(r.get("id")), name=str(r.get("name") or r.get("displayed_as") or ""),
                          rate=_dec(r.get("percentage")) / 100, remote_id=str(r.get("id")),
                          active=bool(r.get("is_visible", True)))
            for r in self._list("tax_rates")
        ]  # fmt: skip

    def fetch_items(self) -> list[RemoteItem]:
        """Products (``code`` = item code)."""
        return [
            RemoteItem(code=str(r.get("item_code") or r.get("id")), name=str(r.get("description") or ""),
                       remote_id=str(r.get("id")))
            for r in self._list("products")
        ]  # fmt: skip

    def fetch_contacts(self) -> list[RemoteItem]:
        """Customer contacts (``code`` = ``name``, ``remote_id`` = Sage's id)."""
        return [
            RemoteItem(
                code=str(r.get("name") or ""), name=str(r.get("name") or ""), remote_id=str(r.get("id"))
            )
            for r in self._list("contacts", {"contact_type_id": "CUSTOMER"})
        ]

    def fetch_lock_date(self) -> date | None:
        """The later of the year-end lockdown date and the day before the accounts start date."""
        return self.business_facts(refresh=True).lock_date
