"""The Xero ledger target: post, look up, batch, read the organisation's lists.

Exactly once. Every PUT carries an ``Idempotency-Key`` (the posting's key; the payments of a
document use the key + ``:pay``). An invoice or credit note is complete when Xero shows it paid as
far as the document's money lines say: :meth:`XeroTarget.lookup` returns it only then, so an
outcome lost between the invoice and its payment is finished by the next :meth:`post` (which finds
the invoice by its number and pays what is missing) instead of being recorded as done. A "must be
unique" answer is resolved by that look-up, never by renaming.

Limits. 60 calls a minute, 5,000 a day and 5 at once per organisation (tenant), through the
tenant's shared :class:`~connectors.http.RateLimiter`; a 429 blocks the tenant for its
``Retry-After``. :meth:`daily_budget_remaining` reports Xero's own ``X-DayLimit-Remaining`` when it
has been seen, else the local count.

Closed periods. A document dated on or before the later of ``PeriodLockDate`` and
``EndOfYearLockDate`` (:meth:`fetch_lock_date`) or ``settings["lock_date"]`` raises
:class:`ClosedPeriod` before any HTTP call.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
    PlanOptions,
    SalesDocument,
    expected_view,
    make_view,
    plan_document,
)
from connectors.ledgers.xero.documents import (
    NUMBER_RULES,
    XeroDocument,
    XeroPlan,
    XeroSettings,
    narration_prefix,
    render,
)
from connectors.ledgers.xero.errors import DuplicateDocument, classify_error, classify_messages, item_messages

__all__ = ["API_URL", "XERO_OAUTH", "XeroTarget"]

API_URL = "https://api.xero.com"
XERO_OAUTH = OAuth2Provider(
    name="xero",
    authorize_url="https://login.xero.com/identity/connect/authorize",
    token_url="https://identity.xero.com/connect/token",
    pkce=True,
    default_scopes=("openid", "profile", "email", "offline_access", "accounting.transactions", "accounting.settings",
                    "accounting.contacts"),
)  # fmt: skip
API_LIMIT = RateLimit(per_minute=60, per_day=5000, concurrent=5)
DAILY_LIMIT = 5000
BATCH_SIZE = 50
KEY_MAX = 128

FACTS_TTL_SECONDS = 600
_ID_KEYS = {"Invoice": "InvoiceID", "CreditNote": "CreditNoteID", "ManualJournal": "ManualJournalID",
            "BankTransfer": "BankTransferID", "BankTransaction": "BankTransactionID", "Payment": "PaymentID"}  # fmt: skip


@dataclass(frozen=True)
class XeroFacts:
    """What the target reads once per organisation (and again after 10 minutes)."""

    base_currency: str
    currencies: frozenset[str]
    accounts: dict[str, dict[str, Any]]


_facts: dict[str, tuple[float, XeroFacts]] = {}

# Xero's own count of what is left today, per tenant, as last seen in X-DayLimit-Remaining.
_day_remaining: dict[str, int] = {}
_lock_dates: dict[str, date | None] = {}


def _xero_date(value: Any) -> date | None:
    """A date as Xero writes it: ``/Date(1546214400000+0000)/`` or ISO-8601."""
    if not value:
        return None
    match = re.fullmatch(r"/Date\((-?\d+)([+-]\d{4})?\)/", str(value))
    if match:
        return datetime.fromtimestamp(int(match[1]) / 1000, UTC).date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _key(base: str, suffix: str = "") -> str:
    """An Idempotency-Key of at most 128 characters (a digest when the key is longer)."""
    key = base + suffix
    return key if len(key) <= KEY_MAX else "h" + hashlib.sha256(key.encode()).hexdigest()


def _literal(value: str) -> str:
    """A string literal of Xero's ``where`` filter."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _with_problem(exc: RateLimited) -> RateLimited:
    """A 429 named after Xero's ``X-Rate-Limit-Problem`` (minute, day, concurrent, appminute)."""
    problem = exc.vendor_message if exc.vendor_message != exc.message else ""
    if not problem:
        problem = "local" if exc.message.startswith("local") else "429"
    return RateLimited(f"xero: rate limited ({problem})", retry_after=exc.retry_after, vendor_code=problem,
                       vendor_message=exc.vendor_message)  # fmt: skip


def _errors_of(item: Any) -> list[str]:
    flagged = isinstance(item, Mapping) and (
        item.get("HasErrors") or item.get("StatusAttributeString") == "ERROR"
    )
    messages = item_messages(item)
    return messages or (["Xero flagged the document as an error"] if flagged else [])


class XeroTarget(LedgerTarget):
    """Posts PostingDocuments to one Xero organisation.

    Config: ``base_url`` (default :data:`API_URL`; a local sandbox in tests), ``credentials``
    (``client_id``, ``client_secret``, ``access_token``, ``refresh_token``, ``expires_at``,
    ``tenant_id``), ``settings`` (see :class:`~connectors.ledgers.xero.documents.XeroSettings`,
    plus ``lock_date``, ``token_url``, ``max_wait_seconds``).
    """

    platform = "xero"
    display_name = "Xero"
    capabilities = frozenset(
        {
            "oauth2",
            "batch",
            "lookup",
            "idempotency_key",
            "lock_date",
            "multi_currency",
            "read_lists",
            "daily_budget",
            "read_back",
            "customers",
        }
    )
    max_batch = BATCH_SIZE
    setup_fields = (
        SetupField("base_url", "Xero API address", kind="url", default=API_URL, required=True,
                   help="Leave as it is: Xero has no separate sandbox (use a demo company)."),
        SetupField("client_id", "App client id", store="credentials", required=True,
                   help="developer.xero.com > My Apps > your app > Configuration."),
        SetupField("client_secret", "App client secret", kind="secret", store="credentials", required=True,
                   help="Generated on the same page. Add this site's /connections/oauth/callback/ address "
                   "as a redirect URI of the app."),
        SetupField("authorize_url", "Authorisation address", kind="url",
                   help="Leave empty for Xero's own; only a self-hosted test server needs it."),
        SetupField("token_url", "Token address", kind="url",
                   help="Leave empty for Xero's own; only a self-hosted test server needs it."),
        SetupField("default_contact_name", "Contact for sales without one", default="Sales",
                   help="Invoices for sales without a known customer are made out to this contact."),
        SetupField("rounding_account_code", "Rounding account", help="The account code rounding lines go to."),
        SetupField("tax_rounding", "Tax rounding", kind="choice", default="line",
                   choices=(("line", "Per line (Xero's default)"), ("document", "Per document"))),
        SetupField("tax_mode", "Tax", kind="choice", default="codes",
                   choices=(("codes", "Tax types on each line"), ("none", "No tax in this organisation"))),
        SetupField("payout_document", "Payouts become", kind="choice", default="auto",
                   choices=(("auto", "A transfer, or a journal when fees need one"), ("transfer", "A bank transfer"),
                            ("journal", "A manual journal"))),
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
        self.tenant_id = str(config.credentials.get("tenant_id") or "")
        self.settings = XeroSettings.from_mapping(config.settings)
        limit = API_LIMIT
        if config.settings.get("calls_per_minute"):
            # Xero's limit is 60 a minute per organisation; a sandbox or a test may allow more.
            limit = RateLimit(per_minute=int(config.settings["calls_per_minute"]), per_day=5000, concurrent=5)
        self.http = VendorHTTP(
            vendor="xero",
            base_url=config.base_url or API_URL,
            connection_key=self.tenant_id or config.connection_id,
            rate_limit=limit,
            max_wait=float(config.settings.get("max_wait_seconds", 30)),
        )
        self.oauth = oauth or OAuth2Client.from_config(
            XERO_OAUTH, config, load_credentials=load_credentials, lock_factory=lock_factory
        )

    # -- HTTP ----------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotency_key: str = "",
        tenant: bool = True,
    ) -> Any:
        """One call with the bearer token and tenant; a 401 refreshes once and retries once."""
        if tenant and not self.tenant_id:
            raise AuthExpired("xero: no organisation (tenant id) is stored; connect Xero again")
        data = dumps(body) if body is not None else None
        token = self.oauth.access_token()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if tenant:
                headers["xero-tenant-id"] = self.tenant_id
            if data is not None:
                headers["Content-Type"] = "application/json"
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            try:
                response = self.http.request(
                    method, path, params=params, data=data, headers=headers, idempotency_key=idempotency_key
                )
            except RateLimited as exc:
                raise _with_problem(exc) from exc
            remaining = response.headers.get("X-DayLimit-Remaining")
            if remaining and remaining.isdigit():
                _day_remaining[self.tenant_id] = int(remaining)
            try:
                parsed = loads(response.content) if response.content else {}
            except ValueError:
                parsed = {}
            if response.status_code < 300:
                return parsed
            error = classify_error(response.status_code, parsed, response.headers)
            if isinstance(error, AuthExpired) and response.status_code == 401 and attempt == 1:
                token = self.oauth.refresh(rejected_access_token=token)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _api(self, method: str, resource: str, **kw: Any) -> Any:
        return self._request(method, f"/api.xro/2.0/{resource}", **kw)

    # -- what the organisation holds (cached per tenant) ---------------------------------------

    def organisation_facts(self, *, refresh: bool = False) -> XeroFacts:
        """Base currency, enabled currencies and the chart (codes, types, system accounts)."""
        cached = _facts.get(self.tenant_id)
        if cached is not None and not refresh and cached[0] > time.monotonic():
            return cached[1]
        organisation = (self._api("GET", "Organisation").get("Organisations") or [{}])[0]
        base = str(organisation.get("BaseCurrency") or self.config.functional_currency)
        currencies = {str(c.get("Code")) for c in self._api("GET", "Currencies").get("Currencies") or []}
        accounts = {
            str(a.get("Code") or a.get("AccountID")): dict(a)
            for a in self._api("GET", "Accounts").get("Accounts") or []
        }
        facts = XeroFacts(base, frozenset(currencies | {base}), accounts)
        _facts[self.tenant_id] = (time.monotonic() + FACTS_TTL_SECONDS, facts)
        return facts

    def options(self) -> PlanOptions:
        """What the layer may plan for this organisation (manual journals are base-currency only)."""
        facts = self.organisation_facts()
        return PlanOptions(
            functional_currency=facts.base_currency,
            currencies=facts.currencies,
            foreign_journals=False,
            receipt_single_account=False,
            refund_single_account=False,
            numbers=NUMBER_RULES,
            walk_in_name=self.settings.walk_in_name,
            default_due_days=self.settings.due_days,
        )

    def _contact(self, identity: CustomerIdentity) -> dict[str, str]:
        """The organisation's contact for a source customer: found by name or created, once."""
        if identity.walk_in and self.settings.default_contact_id:
            return {"ContactID": self.settings.default_contact_id}
        stored = self.config.refs.get("customer", identity.key)
        if stored:
            return {"ContactID": stored}
        rows = (
            self._api("GET", "Contacts", params={"where": f"Name=={_literal(identity.name)}"}).get("Contacts")
            or []
        )
        if rows:
            remote = str(rows[0].get("ContactID") or "")
        else:
            body: dict[str, Any] = {"Name": identity.name, "IsCustomer": True}
            if identity.email:
                body["EmailAddress"] = identity.email
            if identity.tax_number:
                body["TaxNumber"] = identity.tax_number
            if identity.source_id:
                body["AccountNumber"] = identity.source_id[:50]
            answer = self._api("PUT", "Contacts", body={"Contacts": [body]},
                               idempotency_key=_key(f"contact:{self.tenant_id}:{identity.key}"))  # fmt: skip
            made = (answer.get("Contacts") or [{}])[0]
            remote = str(made.get("ContactID") or "")
            if not remote:
                raise Uncertain(f"xero: creating contact {identity.name!r} gave no id")
        self.config.refs.put("customer", identity.key, remote, identity.name)
        return {"ContactID": remote}

    # -- posting -------------------------------------------------------------------------------

    def _known_lock_date(self) -> date | None:
        configured = _xero_date(self.config.settings.get("lock_date"))
        dates = [d for d in (configured, _lock_dates.get(self.tenant_id)) if d]
        return max(dates) if dates else None

    def _refuse_closed_period(self, doc: PostingDocument) -> None:
        lock = self._known_lock_date()
        if lock is not None and doc.date <= lock:
            message = f"{doc.reference} is dated {doc.date}, on or before Xero's lock date {lock}"
            raise ClosedPeriod(f"xero: {message}", vendor_code="LockDate", vendor_message=message)

    def plan(self, doc: PostingDocument) -> XeroPlan:
        """The Xero documents this becomes (resolving the contact in the organisation)."""
        planned = plan_document(doc, self.options())
        contact = self._contact(planned.customer) if isinstance(planned, SalesDocument) else {}
        return render(planned, contact, self.settings, base_currency=self.organisation_facts().base_currency)

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as Xero should hold it (the plan's tax per tax type, accounts per line)."""
        return expected_view(doc, plan_document(doc, self.options()))

    def post(self, doc: PostingDocument) -> PostResult:
        """Create the document, then its payments, allocation and fee transactions, once each."""
        self._refuse_closed_period(doc)
        plan = self.plan(doc)
        entity = self._create(plan.main, doc.idempotency_key)
        return self._complete(plan, entity, doc.idempotency_key)

    def _complete(self, plan: XeroPlan, entity: dict[str, Any], key: str) -> PostResult:
        """Everything the main document needs after it exists (each step skipped when Xero has it)."""
        if plan.payments:
            settled = self._settle([(plan, key, entity)])[0]
            if isinstance(settled, ConnectorError):
                raise settled
            entity = settled
        if plan.allocation is not None and Decimal(str(entity.get("RemainingCredit", 0))) > 0:
            invoice_id, amount = plan.allocation
            self._api("PUT", f"CreditNotes/{entity['CreditNoteID']}/Allocations",
                      body={"Allocations": [{"Invoice": {"InvoiceID": invoice_id}, "Amount": amount,
                                             "Date": plan.main.payload["Date"]}]},
                      idempotency_key=_key(key, ":alloc"))  # fmt: skip
        extra_ids = []
        for n, document in enumerate(plan.extra, start=1):
            found = self._find(document)
            made = found if found is not None else self._create(document, key + f":x{n}")
            extra_ids.append(str(made.get(_ID_KEYS[document.kind]) or ""))
        return self._result(plan.main, entity, extra_ids)

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The complete document posted for ``doc``, or None (also when a payment or a fee
        transaction is still missing: :meth:`post` then finishes it)."""
        plan = self.plan(doc)
        entity = self._find(plan.main)
        if entity is None or (plan.payments and self._paid(plan.main, entity) < plan.paid_total):
            return None
        made = {
            str(p.get("Reference", "")): str(p.get("PaymentID", "")) for p in entity.get("Payments") or []
        }
        entity["_payment_ids"] = [made[p.reference] for p in plan.payments if p.reference in made]
        if plan.allocation is not None and Decimal(str(entity.get("RemainingCredit", 0))) > 0:
            return None
        extra_ids = []
        for document in plan.extra:
            found = self._find(document)
            if found is None:
                return None
            extra_ids.append(str(found.get(_ID_KEYS[document.kind]) or ""))
        return self._result(plan.main, entity, extra_ids)

    def _create(self, document: XeroDocument, key: str) -> dict[str, Any]:
        """PUT one document (per-item errors); a duplicate number is resolved by look-up."""
        try:
            answer = self._api(
                "PUT",
                document.collection,
                params={"summarizeErrors": "false", "unitdp": "4"},
                body={document.collection: [document.payload]},
                idempotency_key=_key(key),
            )
        except DuplicateDocument as exc:
            return self._resolve_duplicate(document, exc)
        items = answer.get(document.collection) or []
        if not items:
            raise Uncertain(f"xero: the answer holds no {document.kind}; look it up")
        return self._item_or_raise(document, items[0])

    def _item_or_raise(self, document: XeroDocument, item: Any) -> dict[str, Any]:
        """The document of an answer item, or its classified validation error."""
        messages = _errors_of(item)
        if not messages:
            return dict(item)
        error = classify_messages(messages)
        if isinstance(error, DuplicateDocument):
            return self._resolve_duplicate(document, error)
        raise error

    def _resolve_duplicate(self, document: XeroDocument, error: DuplicateDocument) -> dict[str, Any]:
        found = self._find(document)
        if found is None:
            raise Permanent(f"{error.message}; but no {document.kind} {document.number} was found",
                            vendor_code=error.vendor_code, vendor_message=error.vendor_message)  # fmt: skip
        return found

    def _find(self, document: XeroDocument) -> dict[str, Any] | None:
        """The live document for the number, if its total is ours; Permanent if it holds another total."""
        number = _literal(document.number)
        where = {
            "Invoice": f'Type=="ACCREC" AND InvoiceNumber=={number}',
            "CreditNote": f'Type=="ACCRECCREDIT" AND CreditNoteNumber=={number}',
            "ManualJournal": f"Narration.StartsWith({_literal(narration_prefix(document.number))})",
            "BankTransfer": f"Reference=={number}",
            "BankTransaction": f"Reference=={number}",
            "Payment": f"Reference=={number}",
        }[document.kind]
        rows = list(
            self._api("GET", document.collection, params={"where": where}).get(document.collection) or []
        )
        live = [r for r in rows if r.get("Status") not in ("DELETED", "VOIDED")] or rows
        if not live:
            return None
        for row in live:
            if self._total(document, row) == document.total:
                return dict(row)
        raise Permanent(
            f"xero: {document.kind} {document.number} exists with total {self._total(document, live[0])}, "
            f"not {document.total}: check it in Xero before posting again",
            vendor_code="total_mismatch",
        )

    @staticmethod
    def _total(document: XeroDocument, row: Mapping[str, Any]) -> Decimal:
        if document.kind == "ManualJournal":
            amounts = (Decimal(str(ln.get("LineAmount", 0))) for ln in row.get("JournalLines") or [])
            return sum((a for a in amounts if a > 0), Decimal(0))
        return Decimal(str(row.get("Amount" if document.kind in ("BankTransfer", "Payment") else "Total", 0)))

    @staticmethod
    def _paid(document: XeroDocument, row: Mapping[str, Any]) -> Decimal:
        if document.kind == "CreditNote":
            return Decimal(str(row.get("Total", 0))) - Decimal(str(row.get("RemainingCredit", 0)))
        return Decimal(str(row.get("AmountPaid", 0)))

    def _settle(
        self, entries: list[tuple[XeroPlan, str, dict[str, Any]]]
    ) -> list[dict[str, Any] | ConnectorError]:
        """Apply the missing payments of invoices / credit notes in one PUT. Returns, per entry,
        the entity (with ``_payment_ids`` added) or the error that kept it unpaid."""
        payments: list[dict[str, Any]] = []
        owners: list[int] = []
        for index, (plan, _, entity) in enumerate(entries):
            main = plan.main
            made = {
                str(p.get("Reference", "")): str(p.get("PaymentID", "")) for p in entity.get("Payments") or []
            }
            entity["_payment_ids"] = [made[p.reference] for p in plan.payments if p.reference in made]
            if self._paid(main, entity) >= plan.paid_total:
                continue
            id_key = "InvoiceID" if main.kind == "Invoice" else "CreditNoteID"
            for payment in plan.payments:
                if payment.reference in made:
                    continue
                body: dict[str, Any] = {
                    main.kind: {id_key: entity[id_key]},
                    "Account": payment.account,
                    "Date": main.payload["Date"],
                    "Amount": payment.amount,
                    "Reference": payment.reference,
                }
                if "CurrencyRate" in main.payload:
                    body["CurrencyRate"] = main.payload["CurrencyRate"]
                payments.append(body)
                owners.append(index)
        results: list[dict[str, Any] | ConnectorError] = [dict(entity) for _, _, entity in entries]
        if not payments:
            return results
        if len(entries) == 1:
            key = _key(entries[0][1], ":pay")
        else:
            keys = "\n".join(entries[i][1] for i in sorted(set(owners)))
            key = "p" + hashlib.sha256(keys.encode()).hexdigest()
        answer = self._api(
            "PUT",
            "Payments",
            params={"summarizeErrors": "false"},
            body={"Payments": payments},
            idempotency_key=key,
        )
        items = list(answer.get("Payments") or [])
        if len(items) != len(payments):
            raise Uncertain("xero: the payments answer does not match the request; look the documents up")
        for owner, item in zip(owners, items, strict=True):
            result = results[owner]
            if isinstance(result, ConnectorError):
                continue
            messages = _errors_of(item)
            if not messages:
                result.setdefault("_payment_ids", []).append(str(item.get("PaymentID", "")))
                continue
            plan = entries[owner][0]
            fresh = self._find(plan.main)  # refused as a repeat because it is paid already?
            if fresh is None or self._paid(plan.main, fresh) < plan.paid_total:
                results[owner] = classify_messages(messages)
            else:
                results[owner] = {
                    **fresh,
                    "_payment_ids": [str(p.get("PaymentID", "")) for p in fresh.get("Payments") or []],
                }
        return results

    @staticmethod
    def _result(
        document: XeroDocument, entity: Mapping[str, Any], extra_ids: list[str] | None = None
    ) -> PostResult:
        """The PostResult of a created or found document; Uncertain when the answer has no id."""
        id_key = _ID_KEYS[document.kind]
        if not entity.get(id_key):
            raise Uncertain(f"xero: the answer holds no {id_key}; look it up")
        number = {"Invoice": "InvoiceNumber", "CreditNote": "CreditNoteNumber"}.get(document.kind, "")
        return PostResult(
            remote_id=str(entity[id_key]),
            remote_number=str(entity.get(number) or document.number) if number else document.number,
            raw={
                "entity": document.kind,
                "total": str(XeroTarget._total(document, entity)),
                "expected_total": str(document.total),
                "payment_ids": list(entity.get("_payment_ids") or []),
                "extra_ids": list(extra_ids or []),
            },
        )

    # -- batch ---------------------------------------------------------------------------------

    def post_batch(self, docs: list[PostingDocument]) -> list[PostResult | ConnectorError]:
        """Post many documents with one PUT per collection and chunk of :attr:`max_batch`
        (``summarizeErrors=false``: one result per item), one PUT of all their payments, then
        whatever each still needs (allocations, fee transactions) one by one."""
        results: list[PostResult | ConnectorError | None] = [None] * len(docs)
        groups: dict[str, list[tuple[int, PostingDocument, XeroPlan]]] = {}
        for index, doc in enumerate(docs):
            try:
                self._refuse_closed_period(doc)
                plan = self.plan(doc)
            except ConnectorError as exc:
                results[index] = exc
                continue
            groups.setdefault(plan.main.collection, []).append((index, doc, plan))
        chunks = [
            group[i : i + BATCH_SIZE] for group in groups.values() for i in range(0, len(group), BATCH_SIZE)
        ]
        for number, chunk in enumerate(chunks):
            try:
                self._post_chunk(chunk, results)
            except Uncertain as exc:
                for index, _, _ in chunk:
                    results[index] = results[index] or exc
            except ConnectorError as exc:
                for later in chunks[number:]:
                    for index, _, _ in later:
                        results[index] = results[index] or exc
                break
        return [r if r is not None else Uncertain("xero: no result") for r in results]

    def _post_chunk(
        self,
        chunk: list[tuple[int, PostingDocument, XeroPlan]],
        results: list[PostResult | ConnectorError | None],
    ) -> None:
        """One PUT for a chunk of one collection, then one PUT for the payments it needs."""
        collection = chunk[0][2].main.collection
        keys = "\n".join(doc.idempotency_key for _, doc, _ in chunk)
        answer = self._api(
            "PUT",
            collection,
            params={"summarizeErrors": "false", "unitdp": "4"},
            body={collection: [plan.main.payload for _, _, plan in chunk]},
            idempotency_key="b" + hashlib.sha256(keys.encode()).hexdigest(),
        )
        items = list(answer.get(collection) or [])
        if len(items) != len(chunk):
            raise Uncertain("xero: the batch answer does not match the request; look the documents up")
        to_settle: list[tuple[int, tuple[XeroPlan, str, dict[str, Any]]]] = []
        created: list[tuple[int, XeroPlan, str, dict[str, Any]]] = []
        for (index, doc, plan), item in zip(chunk, items, strict=True):
            try:
                entity = self._item_or_raise(plan.main, item)
            except ConnectorError as exc:
                results[index] = exc
                continue
            if plan.payments:
                to_settle.append((index, (plan, doc.idempotency_key, entity)))
            else:
                created.append((index, plan, doc.idempotency_key, entity))
        if to_settle:
            settled = self._settle([entry for _, entry in to_settle])
            for (index, (plan, key, _)), outcome in zip(to_settle, settled, strict=True):
                if isinstance(outcome, ConnectorError):
                    results[index] = outcome
                else:
                    created.append((index, plan, key, outcome))
        for index, plan, key, entity in created:
            try:
                results[index] = self._complete(XeroPlan(plan.plan, plan.main, (), plan.allocation, plan.extra),
                                                entity, key)  # fmt: skip
            except ConnectorError as exc:
                results[index] = exc

    # -- read-back -----------------------------------------------------------------------------

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """What Xero recorded for the posting: line amounts per account, tax per tax type, the
        receivable and the money accounts of payments, transfers and fee transactions."""
        kind = str(result.raw.get("entity") or "")
        facts = self.organisation_facts()
        ar = next((c for c, a in facts.accounts.items() if a.get("SystemAccount") == "DEBTORS"), "AR")
        accounts: list[tuple[str, Decimal]] = []
        taxes: list[tuple[str, Decimal]] = []
        currency = facts.base_currency

        def code_of(ref: Mapping[str, Any] | None) -> str:
            ref = ref or {}
            code = str(ref.get("Code") or "")
            if code:
                return code
            found = next(
                (c for c, a in facts.accounts.items() if a.get("AccountID") == ref.get("AccountID")), ""
            )
            return found or str(ref.get("AccountID") or "")

        if kind in ("Invoice", "CreditNote"):
            collection = "Invoices" if kind == "Invoice" else "CreditNotes"
            row = self._one(collection, result.remote_id)
            currency = str(row.get("CurrencyCode") or currency)
            sign = Decimal(-1) if kind == "Invoice" else Decimal(1)
            exclusive = row.get("LineAmountTypes") != "Inclusive"
            for line in row.get("LineItems") or []:
                amount = Decimal(str(line.get("LineAmount") or 0))
                tax = Decimal(str(line.get("TaxAmount") or 0))
                accounts.append(
                    (str(line.get("AccountCode") or ""), sign * (amount if exclusive else amount - tax))
                )
                if tax:
                    taxes.append((str(line.get("TaxType") or ""), sign * tax))
            accounts.append((ar, -sign * Decimal(str(row.get("Total") or 0))))
            for payment_id in result.raw.get("payment_ids") or []:
                payment = self._one("Payments", str(payment_id))
                amount = Decimal(str(payment.get("Amount") or 0))
                accounts += [(code_of(payment.get("Account")), -sign * amount), (ar, sign * amount)]
            if kind == "CreditNote":
                # An allocation moves credit to the invoice: the receivable is settled, no money moves.
                allocated = sum(
                    (Decimal(str(a.get("Amount") or 0)) for a in row.get("Allocations") or []), Decimal(0)
                )
                accounts.append((ar, -allocated))
                accounts.append((ar, allocated))
        elif kind == "Payment":
            payment = self._one("Payments", result.remote_id)
            amount = Decimal(str(payment.get("Amount") or 0))
            accounts += [(code_of(payment.get("Account")), amount), (ar, -amount)]
        elif kind == "BankTransfer":
            transfer = self._one("BankTransfers", result.remote_id)
            amount = Decimal(str(transfer.get("Amount") or 0))
            accounts += [
                (code_of(transfer.get("ToBankAccount")), amount),
                (code_of(transfer.get("FromBankAccount")), -amount),
            ]
            for extra_id in result.raw.get("extra_ids") or []:
                txn = self._one("BankTransactions", str(extra_id))
                sign = Decimal(1) if txn.get("Type") == "SPEND" else Decimal(-1)
                for line in txn.get("LineItems") or []:
                    line_amount = Decimal(str(line.get("LineAmount") or 0))
                    accounts += [(str(line.get("AccountCode") or ""), sign * line_amount),
                                 (code_of(txn.get("BankAccount")), -sign * line_amount)]  # fmt: skip
        else:
            journal = self._one("ManualJournals", result.remote_id)
            for line in journal.get("JournalLines") or []:
                accounts.append(
                    (str(line.get("AccountCode") or ""), Decimal(str(line.get("LineAmount") or 0)))
                )
        return make_view(currency, accounts, taxes, (f"{kind} {result.remote_id}",))

    def _one(self, collection: str, remote_id: str) -> dict[str, Any]:
        rows = self._api("GET", f"{collection}/{remote_id}").get(collection) or []
        if not rows:
            raise Permanent(f"xero: {collection} {remote_id} could not be read back")
        return dict(rows[0])

    # -- setting up ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """``GET Organisation``: the organisation's name, base currency and lock dates, with the
        calls left in today's budget."""
        if not self.config.credentials.get("refresh_token"):
            return ConnectionCheck(
                False, "Not connected yet: press Connect to Xero and choose the organisation."
            )
        if not self.tenant_id:
            return ConnectionCheck(
                False, "Connected, but no organisation is chosen: press Connect to Xero again."
            )
        try:
            organisation = (self._api("GET", "Organisation").get("Organisations") or [{}])[0]
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        dates = [
            d for d in (_xero_date(organisation.get(k)) for k in ("PeriodLockDate", "EndOfYearLockDate")) if d
        ]
        lock = max(dates) if dates else None
        _lock_dates[self.tenant_id] = lock
        name = str(organisation.get("Name") or self.tenant_id)
        base = str(organisation.get("BaseCurrency") or "")
        details = {"organisation": name, "tenant_id": self.tenant_id, "base_currency": base,
                   "lock_date": lock.isoformat() if lock else "", "calls_left_today": self.daily_budget_remaining()}  # fmt: skip
        if base and base != self.config.functional_currency:
            return ConnectionCheck(
                False,
                f"Connected to {name}, but its base currency is {base} and this connection is set to "
                f"{self.config.functional_currency}: change the connection's currency.",
                details,
            )
        closed = f", locked to {lock:%d %b %Y}" if lock else ""
        return ConnectionCheck(
            True,
            f"Connected to {name}, base currency {base}{closed}; {details['calls_left_today']} calls left today.",
            details,
        )

    # -- reading -------------------------------------------------------------------------------

    def list_tenants(self) -> list[dict[str, str]]:
        """The organisations this token may use (``GET /connections``), for the Connect flow."""
        rows = self._request("GET", "/connections", tenant=False) or []
        return [
            {"tenant_id": str(r.get("tenantId", "")), "tenant_name": str(r.get("tenantName", "")),
             "tenant_type": str(r.get("tenantType", ""))}
            for r in rows
        ]  # fmt: skip

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The chart of accounts (``code`` = Xero's code, or its id for a bank account without one)."""
        return [
            RemoteAccount(
                code=str(row.get("Code") or row.get("AccountID")),
                name=str(row.get("Name") or ""),
                type=str(row.get("Class") or "").lower(),
                remote_id=str(row.get("AccountID") or ""),
                active=row.get("Status", "ACTIVE") == "ACTIVE",
            )
            for row in self._api("GET", "Accounts").get("Accounts") or []
        ]

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """Tax rates (``code`` = the TaxType used on lines; ``rate`` as a fraction)."""
        return [
            RemoteTaxCode(
                code=str(row.get("TaxType") or ""),
                name=str(row.get("Name") or ""),
                rate=Decimal(str(row.get("EffectiveRate") or row.get("DisplayTaxRate") or 0)) / 100,
                remote_id=str(row.get("TaxType") or ""),
                active=row.get("Status", "ACTIVE") == "ACTIVE",
            )
            for row in self._api("GET", "TaxRates").get("TaxRates") or []
        ]

    def fetch_items(self) -> list[RemoteItem]:
        """Items (``code`` = the ItemCode used on lines)."""
        return [
            RemoteItem(
                code=str(row.get("Code") or ""),
                name=str(row.get("Name") or ""),
                remote_id=str(row.get("ItemID") or ""),
            )
            for row in self._api("GET", "Items").get("Items") or []
        ]

    def fetch_contacts(self) -> list[RemoteItem]:
        """Customers, as RemoteItem (``code`` = ``name`` = the contact's name, ``remote_id`` = ContactID)."""
        rows = self._api("GET", "Contacts", params={"where": "IsCustomer==true"}).get("Contacts") or []
        return [
            RemoteItem(code=str(r.get("Name") or ""), name=str(r.get("Name") or ""), remote_id=str(r.get("ContactID") or ""),
                       active=r.get("ContactStatus", "ACTIVE") == "ACTIVE")
            for r in rows
        ]  # fmt: skip

    def fetch_lock_date(self) -> date | None:
        """The later of the organisation's ``PeriodLockDate`` and ``EndOfYearLockDate``."""
        organisation = (self._api("GET", "Organisation").get("Organisations") or [{}])[0]
        dates = [
            d for d in (_xero_date(organisation.get(k)) for k in ("PeriodLockDate", "EndOfYearLockDate")) if d
        ]
        lock = max(dates) if dates else None
        _lock_dates[self.tenant_id] = lock
        return lock

    def calls_today(self) -> int:
        """Calls this process made to the organisation in the last 24 hours."""
        return self.http.limiter.calls_last_day()

    def daily_budget_remaining(self) -> int:
        """Calls left today: Xero's own figure when seen, else 5,000 minus the local count."""
        seen = _day_remaining.get(self.tenant_id)
        return seen if seen is not None else max(0, DAILY_LIMIT - self.calls_today())
