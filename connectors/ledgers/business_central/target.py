"""The Dynamics 365 Business Central ledger target (API v2.0): post, look up, batch, read back.

Exactly once without an idempotency key. Every document is first looked up by our reference in
``externalDocumentNumber``; what is missing is made, what is made is finished: a draft left by a
lost answer is fitted and posted by the next attempt, a payment line is added only when no line
carries its reference. A duplicate refusal is resolved by the same look-up, never by renaming.
The steps are flows (``connectors.ledgers.common.flows``), so :meth:`post` runs one document
call by call and :meth:`post_batch` runs up to 100 documents' steps together in JSON ``$batch``
requests.

VAT. Business Central computes VAT itself; the API takes no VAT amount. After the draft is made
the target reads the VAT per code that Business Central computed and, where its rounding differs
from ours, moves a few pence of taxable base from the largest line of that code to an untaxed
line on the same account (``PATCH`` with the line's etag), until the draft's VAT per code is ours
(``connectors.ledgers.common.taxfit``). Revenue per account is unchanged and the read-back proves
the VAT.

Closed periods. A date outside the allowed posting range (the general ledger setup's
``allowPostingFrom`` / ``allowPostingTo``, read and kept for ten minutes, and the user's range in
``settings["allow_posting_from"]`` / ``["allow_posting_to"]``) raises :class:`ClosedPeriod`
before any request; Business Central's own refusal is classified the same way.

Limits: 6,000 requests per 5 minutes per user and 100 at once; a ``$batch`` carries at most 100.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from connectors.base import (
    AuthExpired,
    ClosedPeriod,
    ConnectionCheck,
    ConnectorError,
    Deferred,
    LedgerConfig,
    LedgerTarget,
    LedgerView,
    Permanent,
    PostingDocument,
    PostResult,
    RemoteAccount,
    RemoteTaxCode,
    SetupField,
    Uncertain,
    connection_failed,
)
from connectors.http import RateLimit, VendorHTTP
from connectors.jsonwire import dumps, loads
from connectors.ledgers.business_central.documents import (
    NUMBER_RULES,
    BCJournal,
    BCPayment,
    BCRendered,
    BCSales,
    BCSettings,
    journal_code_for,
    render,
)
from connectors.ledgers.business_central.errors import DuplicateDocument, classify_error
from connectors.ledgers.business_central.reading import accounts_of, read_back_view, tax_codes_of
from connectors.ledgers.common import CustomerIdentity, PlanOptions, expected_view, plan_document
from connectors.ledgers.common.flows import Answer, Call, Flow, run_flow, run_flows
from connectors.ledgers.common.taxfit import differences, shift_for

__all__ = ["API_URL", "BusinessCentralTarget"]

API_URL = "https://api.businesscentral.dynamics.com"
LOGIN_URL = "https://login.microsoftonline.com"
SCOPE = "https://api.businesscentral.dynamics.com/.default"
API_LIMIT = RateLimit(per_minute=1200, concurrent=20)
BATCH_SIZE = 100
FACTS_TTL = 600.0
FIT_ATTEMPTS = 4
ZERO = Decimal(0)
BLANK = "0001-01-01"

_tokens: dict[str, tuple[float, str]] = {}
_ranges: dict[str, tuple[float, date | None, date | None]] = {}
_journal_ids: dict[tuple[str, str], str] = {}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _filter(collection: str, field: str, value: str, expand: str = "") -> str:
    query = "$filter=" + quote(f"{field} eq {_literal(value)}", safe="'")
    return f"{collection}?{query}" + (f"&$expand={expand}" if expand else "")


def _date(value: Any) -> date | None:
    text = str(value or "")
    return None if not text or text.startswith(BLANK) else date.fromisoformat(text[:10])


def _rows(answer: Answer) -> list[dict[str, Any]]:
    return list((answer.body or {}).get("value") or []) if isinstance(answer.body, Mapping) else []


class BusinessCentralTarget(LedgerTarget):
    """Posts PostingDocuments to one Business Central company.

    Config: ``base_url`` (default :data:`API_URL`), ``credentials`` (``client_id``,
    ``client_secret`` of the Entra ID app registration), ``settings``: ``tenant_id``,
    ``environment``, ``company_id``, ``receivable_account`` (the customer posting group's
    receivables account, for the read-back), ``tax_rates`` (VAT code -> rate; the API lists VAT
    posting groups without their percentages), ``token_url``, the user's ``allow_posting_from`` /
    ``allow_posting_to``, and those of :class:`BCSettings`.
    """

    platform = "business_central"
    display_name = "Dynamics 365 Business Central"
    capabilities = frozenset({"oauth2_client_credentials", "batch", "lookup", "lock_date", "read_lists", "read_back",
                              "customers", "orders"})  # fmt: skip
    max_batch = BATCH_SIZE
    setup_fields = (
        SetupField("base_url", "API address", kind="url", default=API_URL, required=True),
        SetupField("tenant_id", "Entra ID tenant (directory) id", required=True),
        SetupField("environment", "Environment", default="production", required=True),
        SetupField("company_id", "Company id", required=True, help="GET companies lists them."),
        SetupField("client_id", "App registration client id", store="credentials", required=True),
        SetupField("client_secret", "App registration secret", kind="secret", store="credentials", required=True),
        SetupField("receivable_account", "Receivables account of the customer posting group", default="1200"),
        SetupField("no_tax_code", "VAT code of untaxed lines", default="NONE"),
        SetupField("allow_posting_from", "Allow posting from (this user)", kind="date"),
        SetupField("allow_posting_to", "Allow posting to (this user)", kind="date"),
        SetupField("order_to_invoice", "Invoices on terms go through sales orders", kind="bool", default=False),
        SetupField("order_post_after", "Ship and invoice waiting orders after (HH:MM UTC)", default=""),
        SetupField("tax_rates", "VAT rates of the VAT codes", help="UK-VAT20=0.20; UK-ZERO=0 (the API lists codes without rates)"),
        SetupField("shortcut_dimension_1", "Global dimension 1 default (e.g. a department)"),
        SetupField("shortcut_dimension_2", "Global dimension 2 default (e.g. a project)"),
    )  # fmt: skip

    def __init__(self, config: LedgerConfig) -> None:
        """Read the connection: tenant, environment, company, receivables account, limits."""
        super().__init__(config)
        s = config.settings
        self.settings = BCSettings.from_mapping(s)
        self.tenant = str(s.get("tenant_id") or "")
        self.environment = str(s.get("environment") or "production")
        self.company_id = str(s.get("company_id") or "")
        self.receivable = str(s.get("receivable_account") or "1200")
        self.local_currency = config.functional_currency
        self.root = f"/v2.0/{self.tenant}/{self.environment}/api/v2.0"
        self.http = VendorHTTP(vendor="business_central", base_url=config.base_url or API_URL,
                               connection_key=f"{self.tenant}:{self.company_id}", rate_limit=API_LIMIT,
                               max_wait=float(s.get("max_wait_seconds", 30)))  # fmt: skip
        self.token_url = str(s.get("token_url") or f"{LOGIN_URL}/{self.tenant}/oauth2/v2.0/token")

    # -- HTTP ----------------------------------------------------------------------------------------

    def _token(self, *, renew: bool = False) -> str:
        """An Entra ID access token by the client-credentials grant, kept until shortly before expiry."""
        key = f"{self.token_url}:{self.config.credentials.get('client_id', '')}"
        cached = _tokens.get(key)
        if cached and not renew and cached[0] > time.time():
            return cached[1]
        form = {"grant_type": "client_credentials", "client_id": str(self.config.credentials.get("client_id", "")),
                "client_secret": str(self.config.credentials.get("client_secret", "")), "scope": SCOPE}  # fmt: skip
        response = self.http.request("POST", self.token_url, data=form, secret_response=True)
        body = loads(response.content or b"{}")
        if response.status_code >= 400 or not body.get("access_token"):
            raise AuthExpired(f"business central: the token was refused: {body.get('error_description') or body}",
                              vendor_code=str(body.get("error") or response.status_code))  # fmt: skip
        _tokens[key] = (time.time() + int(body.get("expires_in", 3599)) - 300, str(body["access_token"]))
        return str(body["access_token"])

    def _path(self, path: str) -> str:
        return path if path.startswith(("companies", "$batch")) else f"companies({self.company_id})/{path}"

    def _send(self, call: Call) -> Answer:
        """One request with the bearer token; a 401 renews the token once."""
        data = dumps(call.body) if call.body is not None else None
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._token(renew=attempt == 2)}", "Accept": "application/json",
                       **call.headers}  # fmt: skip
            if data is not None:
                headers["Content-Type"] = "application/json"
            response = self.http.request(
                call.method, f"{self.root}/{self._path(call.path)}", data=data, headers=headers
            )
            if response.status_code == 401 and attempt == 1:
                continue
            try:
                body = loads(response.content) if response.content else None
            except ValueError:
                body = None
            return Answer(response.status_code, body, dict(response.headers))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_many(self, calls: list[Call]) -> list[Answer]:
        """Calls in one JSON ``$batch`` (each on its own: no atomicity group)."""
        if len(calls) == 1:
            return [self._send(calls[0])]
        requests = []
        for n, call in enumerate(calls):
            item: dict[str, Any] = {"id": str(n), "method": call.method, "url": self._path(call.path),
                                    "headers": {"Content-Type": "application/json", **call.headers}}  # fmt: skip
            if call.body is not None:
                item["body"] = call.body
            requests.append(item)
        answer = self._send(Call("POST", "$batch", {"requests": requests}))
        if answer.status >= 400:
            raise self._classify(answer)
        by_id = {str(r.get("id")): r for r in (answer.body or {}).get("responses") or []}
        if len(by_id) != len(calls):
            raise Uncertain("business central: the batch answer does not match the request; look it up")
        return [Answer(int(by_id[str(n)].get("status", 500)), by_id[str(n)].get("body"), by_id[str(n)].get("headers") or {})
                for n in range(len(calls))]  # fmt: skip

    @staticmethod
    def _classify(answer: Answer) -> ConnectorError:
        return classify_error(answer.status, answer.body, answer.headers)

    def _get(self, path: str) -> Any:
        return run_flow(self._one(Call("GET", path)), self._send, self._classify)

    @staticmethod
    def _one(call: Call) -> Flow[Any]:
        answer = yield call
        return answer.body

    # -- facts ---------------------------------------------------------------------------------------

    def allowed_range(self, *, refresh: bool = False) -> tuple[date | None, date | None]:
        """The allowed posting range: the general ledger setup's, narrowed by the user's settings."""
        cached = _ranges.get(self.company_id)
        if cached is None or refresh or cached[0] < time.monotonic():
            rows = (self._get("generalLedgerSetup") or {}).get("value") or [{}]
            cached = (
                time.monotonic() + FACTS_TTL,
                _date(rows[0].get("allowPostingFrom")),
                _date(rows[0].get("allowPostingTo")),
            )
            _ranges[self.company_id] = cached
        start, end = cached[1], cached[2]
        user_from, user_to = (
            _date(self.config.settings.get("allow_posting_from")),
            _date(self.config.settings.get("allow_posting_to")),
        )
        start = max([d for d in (start, user_from) if d], default=None)
        end = min([d for d in (end, user_to) if d], default=None)
        return start, end

    def _refuse_closed_period(self, doc: PostingDocument) -> None:
        """Raise ClosedPeriod, before any request, for a date outside the allowed posting range."""
        start, end = self.allowed_range()
        if (start and doc.date < start) or (end and doc.date > end):
            text = f"{doc.reference} is dated {doc.date}: Posting Date is not within your range of allowed posting dates ({start or '…'} to {end or '…'})"
            raise ClosedPeriod(
                f"business central: {text}", vendor_code="AllowedPostingDates", vendor_message=text
            )

    def fetch_lock_date(self) -> date | None:
        """The day before the allowed range starts (documents on or before it are refused)."""
        start, _ = self.allowed_range(refresh=True)
        return start - timedelta(days=1) if start else None

    def options(self) -> PlanOptions:
        """Local currency only: foreign documents become local journals."""
        return PlanOptions(functional_currency=self.local_currency, currencies=frozenset(), foreign_journals=False,
                           receipt_single_account=False, numbers=NUMBER_RULES, walk_in_name=self.settings.walk_in_name,
                           default_due_days=self.settings.due_days)  # fmt: skip

    def _customer(self, identity: CustomerIdentity) -> str:
        """The company's customer for a source customer: stored, found by name, or created."""
        stored = self.config.refs.get("customer", identity.key)
        if stored:
            return stored
        rows = (self._get(_filter("customers", "displayName", identity.name[:100])) or {}).get("value") or []
        if rows:
            remote = str(rows[0]["id"])
        else:
            body = {"displayName": identity.name[:100], "type": "Company" if identity.company else "Person"}
            if identity.email:
                body["email"] = identity.email[:80]
            if identity.tax_number:
                body["taxRegistrationNumber"] = identity.tax_number[:20]
            made = run_flow(self._one(Call("POST", "customers", body)), self._send, self._classify)
            remote = str((made or {}).get("id") or "")
            if not remote:
                raise Uncertain(f"business central: creating customer {identity.name!r} gave no id")
        self.config.refs.put("customer", identity.key, remote, identity.name)
        return remote

    def plan(self, doc: PostingDocument) -> tuple[BCRendered, str]:
        """What the document becomes and its customer id (resolved in the company)."""
        planned = plan_document(doc, self.options())
        rendered = render(planned, self.settings, local_currency=self.local_currency)
        customer = getattr(planned, "customer", None)
        customer_id = self._customer(customer) if customer is not None and rendered.journal is None else ""
        return rendered, customer_id

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as Business Central should hold it."""
        return expected_view(doc, plan_document(doc, self.options()))

    # -- flows ---------------------------------------------------------------------------------------

    def _flow(
        self, rendered: BCRendered, customer_id: str, *, check_only: bool = False
    ) -> Flow[PostResult | None]:
        """The look-up-first flow of a rendered document (``check_only``: find, never make)."""
        if rendered.sales is not None:
            return self._sales_flow(rendered.sales, customer_id, check_only)
        if rendered.payment is not None:
            return self._payment_flow(rendered.payment, customer_id, check_only)
        assert rendered.journal is not None
        return self._journal_flow(rendered.journal, check_only)

    def _find_sales(self, sales: BCSales) -> Flow[dict[str, Any] | None]:
        """The live sales document holding our reference (with its lines), or None."""
        answer = yield Call(
            "GET", _filter(sales.collection, "externalDocumentNumber", sales.external, sales.lines_key)
        )
        live = [r for r in _rows(answer) if r.get("status") != "Canceled"]
        return live[0] if live else None

    def _sales_flow(self, sales: BCSales, customer_id: str, check_only: bool) -> Flow[PostResult | None]:
        """Look up; make the draft; fit its VAT; post; apply the payments; each step once."""
        entity = yield from self._find_sales(sales)
        fresh = entity is None  # made by this call: it can have no payment yet
        if entity is None:
            if check_only:
                return None
            try:
                answer = yield Call(
                    "POST",
                    f"{sales.collection}?$expand={sales.lines_key}",
                    {**sales.body, "customerId": customer_id},
                )
                entity = dict(answer.body or {})
            except DuplicateDocument:
                fresh = False  # someone else made it: its payments may exist
                entity = yield from self._find_sales(sales)
                if entity is None:
                    raise
        if entity.get("status") == "Draft":
            if check_only:
                return None
            entity = yield from self._fit_and_post(sales, entity)
        elif sales.collection == "salesOrders":
            entity = yield from self._invoice_of_order(sales, entity)
        total = Decimal(str(entity.get("totalAmountIncludingTax", 0)))
        if total != sales.total:
            raise Permanent(f"business central: {sales.external} holds {total}, not {sales.total}: check it before posting again",
                            vendor_code="total_mismatch")  # fmt: skip
        payment_ids: list[str] = []
        for payment in sales.payments:
            applied = BCPayment(payment.account, payment.amount, payment.external, payment.date, payment.description,
                                entity["id"] if sales.collection == "salesInvoices" else "")  # fmt: skip
            made = yield from self._payment_flow(applied, customer_id, check_only, known_missing=fresh)
            if made is None:
                return None
            payment_ids.append(made.remote_id)
        kind = "salesInvoices" if sales.collection == "salesOrders" else sales.collection
        return PostResult(str(entity["id"]), str(entity.get("number") or ""),
                          {"entity": kind, "external": sales.external, "payment_ids": payment_ids,
                           "order_id": str(entity.get("orderId") or "")})  # fmt: skip

    def _fit_and_post(self, sales: BCSales, entity: dict[str, Any]) -> Flow[dict[str, Any]]:
        """Fit the draft's VAT to ours, then post it (an order: ship and invoice it)."""
        path = f"{sales.collection}({entity['id']})"
        for attempt in range(FIT_ATTEMPTS + 1):
            lines = list(entity.get(sales.lines_key) or [])
            theirs: dict[str, Decimal] = {}
            for line in lines:
                theirs[line["taxCode"]] = theirs.get(line["taxCode"], ZERO) + Decimal(
                    str(line.get("totalTaxAmount", 0))
                )
            diffs = {
                c: d for c, d in differences(sales.taxes, theirs).items() if c != self.settings.no_tax_code
            }
            if not diffs:
                break
            if attempt == FIT_ATTEMPTS:
                raise Permanent(
                    f"business central: the VAT of {sales.external} could not be fitted to ours: {diffs}"
                )
            for code, diff in diffs.items():
                taxed = [ln for ln in lines if ln["taxCode"] == code]
                if not taxed:
                    raise Permanent(f"business central: {sales.external} has no line with VAT code {code}")
                largest = max(taxed, key=lambda ln: abs(Decimal(str(ln["amountExcludingTax"]))))
                shift = shift_for(
                    code, diff, Decimal(str(largest["taxPercent"])) / 100, self.local_currency, attempt
                ).base
                amount = Decimal(str(largest["amountExcludingTax"])) + shift
                account = largest["lineObjectNumber"]
                yield Call("PATCH", f"{path}/{sales.lines_key}({largest['id']})", _amount(amount),
                           {"If-Match": largest["@odata.etag"]})  # fmt: skip
                fit = next((ln for ln in lines if ln["taxCode"] == self.settings.no_tax_code and ln["lineObjectNumber"] == account
                            and str(ln.get("description", "")).startswith("VAT rounding")), None)  # fmt: skip
                if fit is None:
                    yield Call("POST", f"{path}/{sales.lines_key}", {"lineType": "Account", "lineObjectNumber": account,
                               "description": f"VAT rounding ({code})", "taxCode": self.settings.no_tax_code, **_amount(-shift)})  # fmt: skip
                else:
                    rest = Decimal(str(fit["amountExcludingTax"])) - shift
                    yield Call(
                        "PATCH",
                        f"{path}/{sales.lines_key}({fit['id']})",
                        _amount(rest),
                        {"If-Match": fit["@odata.etag"]},
                    )
            answer = yield Call("GET", f"{path}?$expand={sales.lines_key}")
            entity = dict(answer.body or {})
        if sales.collection == "salesOrders":
            self._wait_for_schedule(sales)
        action = "Microsoft.NAV.shipAndInvoice" if sales.collection == "salesOrders" else "Microsoft.NAV.post"
        try:
            yield Call("POST", f"{path}/{action}")
        except Permanent:
            # Refused because someone (another attempt) posted it meanwhile? Then it is done.
            answer = yield Call("GET", path)
            if (answer.body or {}).get("status") == "Draft":
                raise
        if sales.collection == "salesOrders":
            return (yield from self._invoice_of_order(sales, entity))
        answer = yield Call("GET", path)
        return dict(answer.body or {})

    def _invoice_of_order(self, sales: BCSales, order: dict[str, Any]) -> Flow[dict[str, Any]]:
        """The posted invoice that shipping and invoicing the order made (linked by ``orderId``)."""
        found = yield Call("GET", _filter("salesInvoices", "externalDocumentNumber", sales.external))
        rows = [r for r in _rows(found) if r.get("orderId") == order["id"]]
        if not rows:
            raise Uncertain(f"business central: the invoice of order {sales.external} is not there yet")
        return dict(rows[0])

    def _wait_for_schedule(self, sales: BCSales) -> None:
        """Orders are shipped and invoiced together at the connection's scheduled time of day
        (``settings["order_post_after"]``, ``HH:MM`` UTC): before it, the order waits as a draft."""
        after = str(self.config.settings.get("order_post_after") or "")
        if after and datetime.now(UTC).strftime("%H:%M") < after:
            raise Deferred(
                f"business central: order {sales.external} waits for the scheduled ship-and-invoice at {after} UTC"
            )

    def _journal_id(self, code: str, balancing: str, payment: bool) -> Flow[str]:
        """The id of a general or customer payment journal, made once when it is missing."""
        collection = "customerPaymentJournals" if payment else "journals"
        cached = _journal_ids.get((self.company_id, f"{collection}:{code}"))
        if cached:
            return cached
        answer = yield Call("GET", _filter(collection, "code", code))
        rows = _rows(answer)
        if not rows:
            body = {"code": code, "displayName": f"Integrator {balancing or 'postings'}"[:50]}
            if balancing:
                body["balancingAccountNumber"] = balancing
            try:
                made = yield Call("POST", collection, body)
                rows = [made.body]
            except DuplicateDocument:
                answer = yield Call("GET", _filter(collection, "code", code))
                rows = _rows(answer)
        _journal_ids[(self.company_id, f"{collection}:{code}")] = str(rows[0]["id"])
        return str(rows[0]["id"])

    def _payment_flow(
        self, payment: BCPayment, customer_id: str, check_only: bool, *, known_missing: bool = False
    ) -> Flow[PostResult | None]:
        """A customer payment line, added once (found by its external document number; not looked
        for when the invoice it pays was made by this same call)."""
        rows: list[dict[str, Any]] = []
        if not known_missing:
            answer = yield Call(
                "GET", _filter("customerPayments", "externalDocumentNumber", payment.external)
            )
            rows = _rows(answer)
        if not rows:
            if check_only:
                return None
            code = journal_code_for(self.settings.payment_journal_prefix, payment.account)
            journal = yield from self._journal_id(code, payment.account, True)
            body: dict[str, Any] = {"customerId": customer_id, "postingDate": payment.date, "amount": payment.amount,
                                    "externalDocumentNumber": payment.external, "description": payment.description}  # fmt: skip
            if payment.applies_to:
                body["appliesToInvoiceId"] = payment.applies_to
            try:
                made = yield Call("POST", f"customerPaymentJournals({journal})/customerPayments", body)
                rows = [made.body]
            except DuplicateDocument:
                answer = yield Call(
                    "GET", _filter("customerPayments", "externalDocumentNumber", payment.external)
                )
                rows = _rows(answer)
                if not rows:
                    raise
        return PostResult(
            str(rows[0]["id"]), payment.external, {"entity": "customerPayments", "account": payment.account}
        )

    def _journal_flow(self, journal: BCJournal, check_only: bool) -> Flow[PostResult | None]:
        """General journal lines posted once: found posted (ledger entries), found waiting (post
        them), or made and posted."""
        posted = yield Call("GET", _filter("generalLedgerEntries", "documentNumber", journal.document_number))
        if not _rows(posted):
            waiting = yield Call("GET", _filter("journalLines", "externalDocumentNumber", journal.external))
            if check_only:
                return None
            journal_id = yield from self._journal_id(self.settings.journal_code[:10], "", False)
            if not _rows(waiting):
                for line in journal.lines:
                    yield Call("POST", f"journals({journal_id})/journalLines", line)
            try:
                yield Call("POST", f"journals({journal_id})/Microsoft.NAV.post")
            except Permanent:
                # Another document's post may have posted these lines with its own.
                again = yield Call(
                    "GET", _filter("generalLedgerEntries", "documentNumber", journal.document_number)
                )
                if not _rows(again):
                    raise
        return PostResult(journal.document_number, journal.document_number,
                          {"entity": "journal", "external": journal.external})  # fmt: skip

    # -- posting -------------------------------------------------------------------------------------

    def post(self, doc: PostingDocument) -> PostResult:
        """Post one document (see the module docstring)."""
        self._refuse_closed_period(doc)
        rendered, customer_id = self.plan(doc)
        result = run_flow(self._flow(rendered, customer_id), self._send, self._classify)
        if result is None:
            raise Uncertain("business central: the document was not completed")
        return result

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The complete document for ``doc``, or None (a draft or a missing payment: :meth:`post`
        finishes it)."""
        rendered, customer_id = self.plan(doc)
        return run_flow(self._flow(rendered, customer_id, check_only=True), self._send, self._classify)

    def post_batch(self, docs: list[PostingDocument]) -> list[PostResult | ConnectorError]:
        """Post up to 100 documents, their steps gathered round by round into ``$batch`` requests."""
        results: list[PostResult | ConnectorError | None] = [None] * len(docs)
        flows: list[Flow[PostResult | None]] = []
        owners: list[int] = []
        for index, doc in enumerate(docs):
            try:
                self._refuse_closed_period(doc)
                rendered, customer_id = self.plan(doc)
            except ConnectorError as exc:
                results[index] = exc
                continue
            flows.append(self._flow(rendered, customer_id))
            owners.append(index)
        for index, outcome in zip(
            owners, run_flows(flows, self._send_many, self._classify, batch_size=BATCH_SIZE), strict=True
        ):
            results[index] = outcome if outcome is not None else Uncertain("business central: not completed")
        return [r if r is not None else Uncertain("business central: no result") for r in results]

    # -- read-back -----------------------------------------------------------------------------------

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """What Business Central holds for the posting (see :func:`.reading.read_back_view`)."""
        return read_back_view(self._get, self.receivable, self.local_currency, result)

    # -- setting up ----------------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """The company's name and its allowed posting range."""
        try:
            companies = (self._get("companies") or {}).get("value") or []
            start, end = self.allowed_range(refresh=True)
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        company = next((c for c in companies if c.get("id") == self.company_id), None)
        if company is None:
            return ConnectionCheck(False, f"No company {self.company_id} in this environment: choose one of "
                                   f"{', '.join(str(c.get('name')) for c in companies)}.")  # fmt: skip
        return ConnectionCheck(True, f"Connected to {company.get('name')}; posting allowed from {start or 'any date'} to {end or 'any date'}.",
                               {"company": company.get("name"), "allow_from": str(start or ""), "allow_to": str(end or "")})  # fmt: skip

    def fetch_accounts(self) -> list[RemoteAccount]:
        """G/L accounts that take postings."""
        return accounts_of((self._get("accounts") or {}).get("value") or [])

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """VAT product posting groups (``taxGroups``), with the rates stated in the settings."""
        return tax_codes_of(
            (self._get("taxGroups") or {}).get("value") or [], self.config.settings.get("tax_rates")
        )


def _amount(amount: Decimal) -> dict[str, Decimal]:
    """Quantity and unit price of a line of ``amount`` (a negative amount: quantity -1)."""
    return (
        {"quantity": Decimal(1), "unitPrice": amount}
        if amount >= 0
        else {"quantity": Decimal(-1), "unitPrice": -amount}
    )
