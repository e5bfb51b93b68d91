"""The SAP Business One ledger target (Service Layer v1 or v2): post, look up, batch, read back.

Exactly once without an idempotency key. Every document is first looked up by our reference
(``NumAtCard`` of documents, ``Remarks`` of payments, ``Reference`` of journal entries); what is
missing is made, and a lost answer is finished by the next attempt (an invoice found unpaid gets
its payments). A duplicate refusal (``-2035``) is resolved by the same look-up, never by renaming.
The steps are flows (``connectors.ledgers.common.flows``): :meth:`post` runs one document call
by call, :meth:`post_batch` runs many together in multipart ``$batch`` requests, each write in its
own change set.

Session. ``POST Login {CompanyDB, UserName, Password}`` gives the ``B1SESSION`` cookie, kept per
connection and renewed before its timeout; a request refused because the session timed out
(401, code 301: it was not run) logs in again and is sent once more.

Tax. Documents are in the local currency and state our VAT on every line (``TaxTotal``), so the
company records exactly our VAT; foreign documents become local journal entries at the journal's
functional amounts.

Closed periods. The posting periods (``CompanyService_GetFinancePeriods``, kept ten minutes) are
checked before any request: a locked period, one being closed, one unlocked except for sales (for
marketing documents) or a date outside every period raises :class:`ClosedPeriod`; the Service
Layer's own ``-4013`` is classified the same way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

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
    RemoteTaxCode,
    SetupField,
    Uncertain,
    connection_failed,
)
from connectors.http import RateLimit, VendorHTTP
from connectors.jsonwire import dumps, loads
from connectors.ledgers.common import CustomerIdentity, PlanOptions, expected_view, make_view, plan_document
from connectors.ledgers.common.flows import Answer, Call, Flow, run_flow, run_flows
from connectors.ledgers.sap_b1.documents import (
    NUMBER_RULES,
    B1Journal,
    B1Payment,
    B1Rendered,
    B1Sales,
    B1Settings,
    render,
)
from connectors.ledgers.sap_b1.errors import DuplicateDocument, SessionExpired, classify_error
from connectors.ledgers.sap_b1.multipart import Part, decode_response, encode_request

__all__ = ["SapB1Target"]

API_LIMIT = RateLimit(concurrent=8)
BATCH_SIZE = 100
FACTS_TTL = 600.0
SESSION_MARGIN = 60.0
ZERO = Decimal(0)
SALES = ("Invoices", "CreditNotes", "Orders")
TYPES = {"at_Revenues": "revenue", "at_Expenses": "expense"}

_sessions: dict[str, tuple[str, float, float]] = {}  # key -> (cookie, last used, timeout seconds)
_periods: dict[str, tuple[float, list[dict[str, Any]]]] = {}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _filter(collection: str, field: str, value: str) -> str:
    return f"{collection}?$filter=" + quote(f"{field} eq {_literal(value)}", safe="'")


def _rows(answer: Answer) -> list[dict[str, Any]]:
    return list((answer.body or {}).get("value") or []) if isinstance(answer.body, Mapping) else []


def _day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


class SapB1Target(LedgerTarget):
    """Posts PostingDocuments to one SAP Business One company database.

    Config: ``base_url`` (the Service Layer, e.g. ``https://b1.example:50000``), ``credentials``
    (``user``, ``password``), ``settings``: ``company_db``, ``service_layer_version`` (``v1`` or
    ``v2``), ``receivable_account`` (the customers' control account, for the read-back),
    ``customer_code`` (the walk-in customer's CardCode, optional) and those of :class:`B1Settings`.
    """

    platform = "sap_b1"
    display_name = "SAP Business One"
    capabilities = frozenset(
        {"session_login", "batch", "lookup", "lock_date", "read_lists", "read_back", "customers", "orders"}
    )
    max_batch = BATCH_SIZE
    setup_fields = (
        SetupField("base_url", "Service Layer address", kind="url", required=True, help="https://<server>:50000"),
        SetupField("company_db", "Company database", required=True),
        SetupField("user", "Service Layer user", store="credentials", required=True),
        SetupField("password", "Password", kind="secret", store="credentials", required=True),
        SetupField("service_layer_version", "Service Layer version", kind="choice", default="v1",
                   choices=(("v1", "v1 (OData v3)"), ("v2", "v2 (OData v4)"))),
        SetupField("receivable_account", "Customers' control account", default="1200"),
        SetupField("no_tax_group", "VAT group of untaxed lines", default="NONE"),
        SetupField("order_to_invoice", "Invoices on terms go through sales orders", kind="bool", default=False),
        SetupField("costing_code", "Distribution rule (department) every line carries"),
        SetupField("project_code", "Project every line carries"),
    )  # fmt: skip

    def __init__(self, config: LedgerConfig) -> None:
        """Read the connection: company database, Service Layer version, receivables account."""
        super().__init__(config)
        s = config.settings
        self.settings = B1Settings.from_mapping(s)
        self.version = str(s.get("service_layer_version") or "v1")
        self.company_db = str(s.get("company_db") or "")
        self.receivable = str(s.get("receivable_account") or "1200")
        self.local_currency = config.functional_currency
        self.root = f"/b1s/{self.version}"
        self.http = VendorHTTP(vendor="sap_b1", base_url=config.base_url, connection_key=f"{config.base_url}:{self.company_db}",
                               rate_limit=API_LIMIT, max_wait=float(s.get("max_wait_seconds", 30)))  # fmt: skip
        self.session_key = (
            f"{config.base_url}:{self.company_db}:{config.credentials.get('user', '')}:{self.version}"
        )

    # -- session and HTTP ----------------------------------------------------------------------------

    def _cookie(self, *, renew: bool = False) -> str:
        """The session cookie, logging in when there is none or it is about to time out."""
        cached = _sessions.get(self.session_key)
        now = time.monotonic()
        if cached and not renew and now - cached[1] < cached[2] - SESSION_MARGIN:
            return cached[0]
        body = {"CompanyDB": self.company_db, "UserName": self.config.credentials.get("user", ""),
                "Password": self.config.credentials.get("password", "")}  # fmt: skip
        response = self.http.request("POST", f"{self.root}/Login", data=dumps(body), headers={"Content-Type": "application/json"},
                                     secret_response=True)  # fmt: skip
        answer = loads(response.content) if response.content else {}
        if response.status_code >= 400:
            raise classify_error(response.status_code, answer, response.headers)
        session = str(answer.get("SessionId") or response.cookies.get("B1SESSION") or "")
        if not session:
            raise AuthExpired("sap b1: the login answer holds no session")
        cookie = f"B1SESSION={session}"
        if response.cookies.get("ROUTEID"):
            cookie += f"; ROUTEID={response.cookies['ROUTEID']}"
        _sessions[self.session_key] = (cookie, now, float(answer.get("SessionTimeout") or 30) * 60)
        return cookie

    def _touch(self) -> None:
        cached = _sessions.get(self.session_key)
        if cached:
            _sessions[self.session_key] = (cached[0], time.monotonic(), cached[2])

    def _exchange(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> Any:
        """One request with the session; a timed-out session is renewed once (the request was not run)."""
        for attempt in (1, 2):
            cookie = self._cookie(renew=attempt == 2)
            response = self.http.request(
                method, f"{self.root}/{path}", data=data, headers={**headers, "Cookie": cookie}
            )
            if response.status_code == 401 and attempt == 1:
                body = loads(response.content) if response.content else {}
                if isinstance(classify_error(401, body), SessionExpired):
                    continue
            self._touch()
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, call: Call) -> Answer:
        """One call as JSON with the session (see :meth:`_exchange`)."""
        data = dumps(call.body) if call.body is not None else None
        headers = {"Accept": "application/json", **call.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = self._exchange(call.method, call.path, data, headers)
        try:
            body = loads(response.content) if response.content else None
        except ValueError:
            body = None
        return Answer(response.status_code, body, dict(response.headers))

    def _send_many(self, calls: list[Call]) -> list[Answer]:
        """Calls in one multipart ``$batch``: reads as parts, each write in its own change set."""
        if len(calls) == 1:
            return [self._send(calls[0])]
        groups = []
        for call in calls:
            part = Part(call.method, f"{self.root}/{call.path}", headers={"Content-Type": "application/json"},
                        body=dumps(call.body) if call.body is not None else b"")  # fmt: skip
            groups.append((call.method != "GET", [part]))
        boundary = f"batch_{uuid.uuid4()}"
        response = self._exchange("POST", "$batch", encode_request(groups, boundary),
                                  {"Content-Type": f"multipart/mixed;boundary={boundary}"})  # fmt: skip
        if response.status_code >= 400:
            raise classify_error(
                response.status_code, loads(response.content) if response.content else {}, response.headers
            )
        parts = decode_response(response.content, response.headers.get("Content-Type", ""))
        if len(parts) != len(calls):
            raise Uncertain("sap b1: the batch answer does not match the request; look it up")
        answers = []
        for part in parts:
            try:
                body = loads(part.body) if part.body else None
            except ValueError:
                body = None
            answers.append(Answer(part.status, body, part.headers))
        return answers

    @staticmethod
    def _classify(answer: Answer) -> ConnectorError:
        return classify_error(answer.status, answer.body, answer.headers)

    @staticmethod
    def _one(call: Call) -> Flow[Any]:
        answer = yield call
        return answer.body

    def _get(self, path: str) -> Any:
        return run_flow(self._one(Call("GET", path)), self._send, self._classify)

    # -- facts ---------------------------------------------------------------------------------------

    def posting_periods(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        """The company's posting periods (read once every ten minutes)."""
        cached = _periods.get(self.session_key)
        if cached is None or refresh or cached[0] < time.monotonic():
            rows = (
                run_flow(
                    self._one(Call("POST", "CompanyService_GetFinancePeriods", {})),
                    self._send,
                    self._classify,
                )
                or {}
            )
            cached = (time.monotonic() + FACTS_TTL, list(rows.get("value") or []))
            _periods[self.session_key] = cached
        return cached[1]

    def _refuse_closed_period(self, doc: PostingDocument, sales: bool) -> None:
        """Raise ClosedPeriod, before any request, for a date the posting periods do not take."""
        period = next(
            (
                p
                for p in self.posting_periods()
                if _day(p["PostingDateFrom"]) <= doc.date <= _day(p["PostingDateTo"])
            ),
            None,
        )
        status = str(period.get("PeriodStatus")) if period else "no period"
        refused = {
            "ltLocked": "locked",
            "ltPeriodClosing": "being closed",
            "no period": "outside every posting period",
        }
        if status in refused or (sales and status == "ltUnlockedExceptSales"):
            why = refused.get(status, "locked for sales")
            text = f"{doc.reference} is dated {doc.date}, in a posting period that is {why}"
            raise ClosedPeriod(f"sap b1: {text}", vendor_code=status, vendor_message=text)

    def fetch_lock_date(self) -> date | None:
        """The end of the last locked (or closing) period before the first open one."""
        last = None
        for period in sorted(self.posting_periods(refresh=True), key=lambda p: str(p["PostingDateFrom"])):
            if period.get("PeriodStatus") not in ("ltLocked", "ltPeriodClosing"):
                break
            last = _day(period["PostingDateTo"])
        return last

    def options(self) -> PlanOptions:
        """Local currency only: foreign documents become local journal entries."""
        return PlanOptions(functional_currency=self.local_currency, currencies=frozenset(), foreign_journals=False,
                           receipt_single_account=False, numbers=NUMBER_RULES, walk_in_name=self.settings.walk_in_name,
                           default_due_days=self.settings.due_days)  # fmt: skip

    def _customer(self, identity: CustomerIdentity) -> str:
        """The customer's CardCode: stored, found by name, or created."""
        if identity.walk_in and self.config.settings.get("customer_code"):
            return str(self.config.settings["customer_code"])
        stored = self.config.refs.get("customer", identity.key)
        if stored:
            return stored
        rows = (self._get(_filter("BusinessPartners", "CardName", identity.name[:100])) or {}).get(
            "value"
        ) or []
        if rows:
            code = str(rows[0]["CardCode"])
        else:
            body = {"CardName": identity.name[:100], "CardType": "cCustomer"}
            if identity.email:
                body["EmailAddress"] = identity.email[:100]
            if identity.tax_number:
                body["FederalTaxID"] = identity.tax_number[:32]
            made = run_flow(self._one(Call("POST", "BusinessPartners", body)), self._send, self._classify)
            code = str((made or {}).get("CardCode") or "")
            if not code:
                raise Uncertain(f"sap b1: creating customer {identity.name!r} gave no CardCode")
        self.config.refs.put("customer", identity.key, code, identity.name)
        return code

    def plan(self, doc: PostingDocument) -> tuple[B1Rendered, str]:
        """What the document becomes and its customer's CardCode."""
        planned = plan_document(doc, self.options())
        rendered = render(planned, self.settings, local_currency=self.local_currency)
        customer = getattr(planned, "customer", None)
        card = self._customer(customer) if customer is not None and rendered.journal is None else ""
        return rendered, card

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as SAP Business One should hold it."""
        return expected_view(doc, plan_document(doc, self.options()))

    # -- flows ---------------------------------------------------------------------------------------

    def _flow(self, rendered: B1Rendered, card: str, *, check_only: bool = False) -> Flow[PostResult | None]:
        """The look-up-first flow of a rendered document (``check_only``: find, never make)."""
        if rendered.sales is not None:
            return self._sales_flow(rendered.sales, card, check_only)
        if rendered.payment is not None:
            return self._payment_flow(rendered.payment, card, check_only)
        assert rendered.journal is not None
        return self._journal_flow(rendered.journal, check_only)

    def _find(self, collection: str, field: str, value: str) -> Flow[dict[str, Any] | None]:
        answer = yield Call("GET", _filter(collection, field, value))
        live = [r for r in _rows(answer) if r.get("Cancelled", "tNO") == "tNO"]
        return live[0] if live else None

    def _create(self, collection: str, body: dict[str, Any], field: str, value: str) -> Flow[dict[str, Any]]:
        """Create; a duplicate refusal is resolved by looking the entry up."""
        try:
            answer = yield Call("POST", collection, body)
            return dict(answer.body or {})
        except DuplicateDocument:
            found = yield from self._find(collection, field, value)
            if found is None:
                raise
            return found

    def _sales_flow(self, sales: B1Sales, card: str, check_only: bool) -> Flow[PostResult | None]:
        """Look up; make the document (through its order when the connection says so); pay it."""
        entity = yield from self._find(sales.collection, "NumAtCard", sales.reference)
        order_entry = None
        if entity is None:
            if check_only:
                return None
            body = {**sales.body, "CardCode": card}
            if sales.via_order:
                order = yield from self._find("Orders", "NumAtCard", sales.reference)
                if order is None:
                    order = yield from self._create("Orders", body, "NumAtCard", sales.reference)
                order_entry = int(order["DocEntry"])
                lines = [
                    {**line, "BaseType": 17, "BaseEntry": order_entry, "BaseLine": n}
                    for n, line in enumerate(body["DocumentLines"])
                ]
                body = {**body, "DocumentLines": lines}
            entity = yield from self._create(sales.collection, body, "NumAtCard", sales.reference)
        total = Decimal(str(entity.get("DocTotal", 0)))
        if total != sales.total:
            raise Permanent(f"sap b1: {sales.reference} holds {total}, not {sales.total}: check it before posting again",
                            vendor_code="total_mismatch")  # fmt: skip
        payment_ids = []
        for payment in sales.payments:
            applied = B1Payment(payment.collection, payment.account, payment.amount, payment.reference, payment.date,
                                payment.invoice_type, int(entity["DocEntry"]))  # fmt: skip
            made = yield from self._payment_flow(applied, card, check_only)
            if made is None:
                return None
            payment_ids.append(made.remote_id)
        return PostResult(str(entity["DocEntry"]), str(entity.get("DocNum") or ""),
                          {"entity": sales.collection, "payments": [[p.collection, i] for p, i in zip(sales.payments, payment_ids, strict=True)],
                           "order_entry": order_entry})  # fmt: skip

    def _payment_flow(self, payment: B1Payment, card: str, check_only: bool) -> Flow[PostResult | None]:
        """A payment by transfer, made once (found by its reference in ``Remarks``)."""
        found = yield from self._find(payment.collection, "Remarks", payment.reference)
        if found is None:
            if check_only:
                return None
            body: dict[str, Any] = {"DocType": "rCustomer", "CardCode": card, "DocDate": payment.date, "TransferAccount": payment.account,
                                    "TransferSum": payment.amount, "TransferDate": payment.date, "Remarks": payment.reference}  # fmt: skip
            if payment.applies_to is not None:
                body["PaymentInvoices"] = [
                    {
                        "DocEntry": payment.applies_to,
                        "SumApplied": payment.amount,
                        "InvoiceType": payment.invoice_type,
                    }
                ]
            found = yield from self._create(payment.collection, body, "Remarks", payment.reference)
        return PostResult(
            str(found["DocEntry"]), str(found.get("DocNum") or ""), {"entity": payment.collection}
        )

    def _journal_flow(self, journal: B1Journal, check_only: bool) -> Flow[PostResult | None]:
        """A journal entry, made once (found by ``Reference``)."""
        found = yield from self._find("JournalEntries", "Reference", journal.reference)
        if found is None:
            if check_only:
                return None
            found = yield from self._create("JournalEntries", journal.body, "Reference", journal.reference)
        return PostResult(str(found["JdtNum"]), str(found["JdtNum"]), {"entity": "JournalEntries"})

    # -- posting -------------------------------------------------------------------------------------

    def _checked(self, doc: PostingDocument) -> tuple[B1Rendered, str]:
        """The rendered document, refused before any request when its period is closed."""
        planned = plan_document(doc, self.options())
        pre = render(planned, self.settings, local_currency=self.local_currency)
        self._refuse_closed_period(doc, sales=pre.sales is not None)
        return self.plan(doc)

    def post(self, doc: PostingDocument) -> PostResult:
        """Post one document (see the module docstring)."""
        rendered, card = self._checked(doc)
        result = run_flow(self._flow(rendered, card), self._send, self._classify)
        if result is None:
            raise Uncertain("sap b1: the document was not completed")
        return result

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The complete document for ``doc``, or None (an unpaid receipt: :meth:`post` pays it)."""
        rendered, card = self.plan(doc)
        return run_flow(self._flow(rendered, card, check_only=True), self._send, self._classify)

    def post_batch(self, docs: list[PostingDocument]) -> list[PostResult | ConnectorError]:
        """Post many documents, their steps gathered round by round into ``$batch`` requests."""
        results: list[PostResult | ConnectorError | None] = [None] * len(docs)
        flows: list[Flow[PostResult | None]] = []
        owners: list[int] = []
        for index, doc in enumerate(docs):
            try:
                rendered, card = self._checked(doc)
            except ConnectorError as exc:
                results[index] = exc
                continue
            flows.append(self._flow(rendered, card))
            owners.append(index)
        for index, outcome in zip(
            owners, run_flows(flows, self._send_many, self._classify, batch_size=BATCH_SIZE), strict=True
        ):
            results[index] = outcome if outcome is not None else Uncertain("sap b1: not completed")
        return [r if r is not None else Uncertain("sap b1: no result") for r in results]

    # -- read-back -----------------------------------------------------------------------------------

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """What the company holds: document lines per account, VAT per group, the receivable, the
        money accounts of payments; journal entry lines."""
        kind = str(result.raw.get("entity") or "")
        accounts: list[tuple[str, Decimal]] = []
        taxes: list[tuple[str, Decimal]] = []
        if kind in ("Invoices", "CreditNotes"):
            row = self._get(f"{kind}({result.remote_id})")
            sign = Decimal(-1) if kind == "Invoices" else Decimal(1)
            for line in row.get("DocumentLines") or []:
                accounts.append((str(line["AccountCode"]), sign * Decimal(str(line["LineTotal"]))))
                taxes.append((str(line["VatGroup"]), sign * Decimal(str(line["TaxTotal"]))))
            accounts.append((self.receivable, -sign * Decimal(str(row["DocTotal"]))))
            for collection, entry in result.raw.get("payments") or []:
                payment = self._get(f"{collection}({entry})")
                amount = Decimal(str(payment["TransferSum"]))
                accounts += [
                    (str(payment["TransferAccount"]), -sign * amount),
                    (self.receivable, sign * amount),
                ]
        elif kind in ("IncomingPayments", "VendorPayments"):
            payment = self._get(f"{kind}({result.remote_id})")
            sign = Decimal(1) if kind == "IncomingPayments" else Decimal(-1)
            amount = Decimal(str(payment["TransferSum"]))
            accounts += [(str(payment["TransferAccount"]), sign * amount), (self.receivable, -sign * amount)]
        else:
            entry = self._get(f"JournalEntries({result.remote_id})")
            for line in entry.get("JournalEntryLines") or []:
                accounts.append(
                    (str(line["AccountCode"]), Decimal(str(line["Debit"])) - Decimal(str(line["Credit"])))
                )
        return make_view(self.local_currency, accounts, taxes, (f"{kind} {result.remote_id}",))

    # -- setting up ----------------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Log in and read the posting periods."""
        try:
            self._cookie(renew=True)
            periods = self.posting_periods(refresh=True)
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        locked = [p["PeriodCode"] for p in periods if p.get("PeriodStatus") == "ltLocked"]
        return ConnectionCheck(True, f"Connected to {self.company_db}: {len(periods)} posting periods, {len(locked)} locked.",
                               {"company_db": self.company_db, "periods": len(periods), "locked": locked})  # fmt: skip

    def fetch_accounts(self) -> list[RemoteAccount]:
        """Active G/L accounts (their type from the chart where the Service Layer gives one)."""
        rows = (self._get("ChartOfAccounts") or {}).get("value") or []
        types = self.config.settings.get("account_types") or {}
        return [RemoteAccount(code=str(r["Code"]), name=str(r.get("Name") or ""),
                              type=str(types.get(str(r["Code"])) or TYPES.get(str(r.get("AccountType")), _guess(str(r["Code"])))),
                              remote_id=str(r["Code"]), active=r.get("ActiveAccount", "tYES") == "tYES") for r in rows]  # fmt: skip

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """Output VAT groups with their current rate."""
        rows = (self._get("VatGroups") or {}).get("value") or []
        out = []
        for r in rows:
            lines = r.get("VatGroups_Lines") or [{}]
            rate = Decimal(str(lines[-1].get("Rate") or 0)) / 100
            out.append(RemoteTaxCode(code=str(r["Code"]), name=str(r.get("Name") or ""), rate=rate, remote_id=str(r["Code"]),
                                     active=r.get("Inactive", "tNO") == "tNO"))  # fmt: skip
        return out


def _guess(code: str) -> str:
    """The account type from the leading digit of a UK-style chart (1 assets ... 7 expenses)."""
    return {"1": "asset", "2": "liability", "3": "equity", "4": "revenue"}.get(code[:1], "expense")
