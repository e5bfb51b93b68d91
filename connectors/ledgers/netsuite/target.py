"""What the NetSuite REST and SOAP targets share: the account's facts, customers and items,
posting periods, posting by external id, look-up, duplicates and read-back.

A transport (:mod:`.rest`, :mod:`.soap`) supplies four primitives - :meth:`NetSuiteBase._upsert`,
:meth:`_read`, :meth:`_rows` (a list table: accounts, tax codes, currencies, periods, customers,
items, transactions) and :meth:`_send_many` - and everything here works the same over both, so one
connection may choose either and the books come out the same.

Exactly once. Every record is written by **upsert on its external id** (our reference; followers
``<reference>/pay/<n>``, ``/refund/<n>``): re-sending after a lost answer updates the same record
(its sublists replaced), it never adds one. :meth:`lookup` reads the records back by external id
and reports the posting done only when the main record and every follower exist. A "number in
use" answer is resolved by finding that number's record (and adopting it when its total is ours),
never by renaming.

Customers and items. A source customer becomes one NetSuite customer per currency, found or
created by external id in the connection's subsidiary. A sales line needs an item whose income
account is the line's account: one non-inventory sale item per income account, found or created
by external id; an existing item of that external id booking elsewhere is refused before sending.

Order-to-invoice. With the connection's ``order_to_invoice`` setting on, an invoice goes through a
sales order (:meth:`NetSuiteBase._invoice_through_order`): the invoice is looked up by external id
first (found: the step is done); else the order is found by external id or upserted, then billed
(:meth:`_bill`: REST ``!transform/invoice``, SOAP ``initialize`` then upsert), the invoice keeping
our number, tax details with the override and ``createdFrom`` the order. An order is never made
twice and never billed twice: a lost answer is resolved by the same look-ups.

Periods. The posting periods are read (and again after ten minutes); a document dated in a closed
or A/R-locked period raises :class:`ClosedPeriod` before any record is written.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.base import (
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
from connectors.ledgers.common import (
    CustomerIdentity,
    JournalPlan,
    PlannedDocument,
    PlanOptions,
    SalesDocument,
    expected_view,
    make_view,
    plan_document,
)
from connectors.ledgers.netsuite.documents import (
    NUMBER_RULES,
    NsPlan,
    NsRecord,
    NsRefs,
    NsSettings,
    order_records,
    render,
)
from connectors.ledgers.netsuite.errors import DuplicateRecord

__all__ = ["ACCOUNT_TYPES", "COMMON_SETUP_FIELDS", "NetSuiteBase", "NetSuiteFacts"]

FACTS_TTL_SECONDS = 600
ZERO = Decimal(0)
ACCOUNT_TYPES = {
    "Bank": "asset", "AcctRec": "asset", "OthCurrAsset": "asset", "FixedAsset": "asset", "OthAsset": "asset",
    "UnbilledRec": "asset", "DeferExpense": "asset", "AcctPay": "liability", "CredCard": "liability",
    "OthCurrLiab": "liability", "LongTermLiab": "liability", "DeferRevenue": "liability", "Equity": "equity",
    "Income": "revenue", "OthIncome": "revenue", "COGS": "expense", "Expense": "expense", "OthExpense": "expense",
}  # fmt: skip
SALES_TYPES = ("cashSale", "invoice", "creditMemo")

COMMON_SETUP_FIELDS = (
    SetupField("account_id", "Account id", store="credentials", required=True,
               help="Setup > Company > Company Information: e.g. 1234567, or 1234567_SB1 for a sandbox."),
    SetupField("consumer_key", "Consumer key", store="credentials",
               help="From the integration record (token-based authentication enabled)."),
    SetupField("consumer_secret", "Consumer secret", kind="secret", store="credentials"),
    SetupField("token_id", "Token id", store="credentials", help="An access token for the integration and a role."),
    SetupField("token_secret", "Token secret", kind="secret", store="credentials"),
    SetupField("subsidiary_id", "Subsidiary (internal id)", default="1", required=True,
               help="Every posting is made in this subsidiary, in its currency or one of its customers'."),
    SetupField("department_id", "Department (internal id)", help="Set on every posting and line when given."),
    SetupField("class_id", "Class (internal id)", help="Set on every posting and line when given."),
    SetupField("location_id", "Location (internal id)", help="Set on every posting and line when given."),
    SetupField("due_days", "Invoice due in (days)", kind="int", default=0),
    SetupField("order_to_invoice", "Invoices go through sales orders", kind="bool", default=False,
               help="On: each invoice is a sales order and the invoice billed from it (order-to-invoice). "
               "Off: each invoice is an invoice."),
)  # fmt: skip


def _ref(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("id") or value.get("internalId") or "")
    return str(value or "")


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value if value not in (None, "") else 0))


def rate_fraction(value: Any) -> Decimal:
    """A SuiteTax rate as NetSuite shows it (``20.00%``, ``20``) as a fraction."""
    text = str(value or "0").strip().rstrip("%")
    return Decimal(text) / 100 if text else ZERO


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "t")


@dataclass(frozen=True)
class NetSuiteFacts:
    """What the target reads once per connection (and again after ten minutes)."""

    subsidiary_currency: str
    currencies: dict[str, str]  # ISO code -> internal id
    accounts: dict[str, dict[str, Any]]  # internal id -> row
    tax_codes: dict[str, dict[str, Any]]
    periods: tuple[dict[str, Any], ...]

    @property
    def receivable_id(self) -> str:
        """The A/R account."""
        return next((i for i, a in self.accounts.items() if a.get("accttype") == "AcctRec"), "")

    def number(self, account_id: str) -> str:
        """Our account code (NetSuite's account number) of an internal id."""
        row = self.accounts.get(account_id) or {}
        return str(row.get("acctnumber") or account_id)


_facts: dict[str, tuple[float, NetSuiteFacts]] = {}


class NetSuiteBase(LedgerTarget):
    """The target logic both transports share (see the module docstring)."""

    capabilities = frozenset({"batch", "lookup", "idempotency_key", "lock_date", "multi_currency", "read_lists",
                              "read_back", "customers", "items", "orders"})  # fmt: skip

    def __init__(self, config: LedgerConfig) -> None:
        super().__init__(config)
        self.settings = NsSettings.from_mapping(config.settings)
        self.account_id = str(config.credentials.get("account_id") or "")
        self._item_income: dict[str, str] = {}

    # -- transport primitives (rest.py, soap.py) -------------------------------------------------

    def _upsert(self, record: NsRecord) -> str:
        """Write one record keyed on its external id; returns its internal id."""
        raise NotImplementedError

    def _read(self, record_type: str, key: str) -> dict[str, Any] | None:
        """One record by internal id or ``eid:<external id>`` in normal form (references as
        ``{"id": ..}``, sublists as lists of rows), or None when there is none."""
        raise NotImplementedError

    def _rows(self, table: str, where: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Rows of a list table (SuiteQL names, lower-case columns), optionally filtered."""
        raise NotImplementedError

    def _bill(self, order_id: str, invoice: NsRecord) -> str:
        """Bill a sales order: the invoice made from it, completed with ``invoice``'s fields and
        tax details and written under its external id; returns the invoice's internal id."""
        raise NotImplementedError

    def _send_many(self, records: list[NsRecord]) -> list[str | ConnectorError]:
        """Upsert several independent records, one outcome each (default: one by one)."""
        out: list[str | ConnectorError] = []
        for record in records:
            try:
                out.append(self._upsert_resolving(record))
            except ConnectorError as exc:
                out.append(exc)
        return out

    # -- facts -------------------------------------------------------------------------------------

    @property
    def _facts_key(self) -> str:
        return f"{self.platform}:{self.config.connection_id}:{self.account_id}"

    def facts(self, *, refresh: bool = False) -> NetSuiteFacts:
        """Subsidiary currency, currencies, chart, tax codes and posting periods."""
        cached = _facts.get(self._facts_key)
        if cached is not None and not refresh and cached[0] > time.monotonic():
            return cached[1]
        currencies = {str(r["symbol"]): str(r["id"]) for r in self._rows("currency")}
        by_id = {v: k for k, v in currencies.items()}
        subsidiary = next((r for r in self._rows("subsidiary") if str(r.get("id")) == self.settings.subsidiary_id),
                          None)  # fmt: skip
        if subsidiary is None:
            raise Permanent(
                f"netsuite: subsidiary {self.settings.subsidiary_id} does not exist in this account"
            )
        facts = NetSuiteFacts(
            subsidiary_currency=by_id.get(_ref(subsidiary.get("currency")), self.config.functional_currency),
            currencies=currencies,
            accounts={str(r["id"]): r for r in self._rows("account")},
            tax_codes={str(r["id"]): r for r in self._rows("salestaxitem")},
            periods=tuple(self._rows("accountingperiod")),
        )
        _facts[self._facts_key] = (time.monotonic() + FACTS_TTL_SECONDS, facts)
        return facts

    def options(self) -> PlanOptions:
        """What the layer may plan: any currency the account holds, journals in it too; a cash
        sale is paid into one account."""
        facts = self.facts()
        return PlanOptions(
            functional_currency=facts.subsidiary_currency,
            currencies=frozenset(facts.currencies),
            foreign_journals=True,
            receipt_single_account=True,
            refund_single_account=False,
            numbers=NUMBER_RULES,
            walk_in_name=self.settings.walk_in_name,
            default_due_days=self.settings.due_days,
        )

    # -- periods -----------------------------------------------------------------------------------

    def _current_periods(self) -> tuple[dict[str, Any], ...]:
        """The posting periods as they are now (read before every send: a period may have been
        closed a minute ago)."""
        return tuple(self._rows("accountingperiod"))

    def _refuse_closed_period(
        self, doc: PostingDocument, periods: tuple[dict[str, Any], ...] | None = None
    ) -> None:
        configured = self.config.settings.get("lock_date")
        if configured and doc.date <= date.fromisoformat(str(configured)):
            raise ClosedPeriod(
                f"netsuite: {doc.reference} is dated {doc.date}, on or before the lock date {configured}"
            )
        day = doc.date.isoformat()
        for period in periods if periods is not None else self._current_periods():
            if str(period.get("startdate")) <= day <= str(period.get("enddate")):
                if any(_true(period.get(k)) for k in ("closed", "arlocked", "alllocked")):
                    message = f"{doc.reference} is dated {doc.date}, in the closed period {period.get('periodname')}"
                    raise ClosedPeriod(
                        f"netsuite: {message}", vendor_code="PERIOD_CLOSED", vendor_message=message
                    )
                return

    def fetch_lock_date(self) -> date | None:
        """The end of the last closed or A/R-locked period."""
        ends = [date.fromisoformat(str(p["enddate"])[:10]) for p in self.facts(refresh=True).periods
                if any(_true(p.get(k)) for k in ("closed", "arlocked", "alllocked"))]  # fmt: skip
        return max(ends) if ends else None

    # -- customers and items -----------------------------------------------------------------------

    @staticmethod
    def _external(prefix: str, key: str) -> str:
        """An external id of at most 100 characters (a digest beyond)."""
        value = f"{prefix}:{key}"
        return value if len(value) <= 100 else f"{prefix}:h" + hashlib.sha256(key.encode()).hexdigest()

    def _customer(self, identity: CustomerIdentity, currency: str) -> str:
        """The customer of a source customer in a currency: stored, found or created (upsert)."""
        key = f"{self.settings.subsidiary_id}:{currency}:{identity.key}"
        stored = self.config.refs.get("customer", key)
        if stored:
            return stored
        facts = self.facts()
        name = identity.name if currency == facts.subsidiary_currency else f"{identity.name} ({currency})"
        fields: dict[str, Any] = {"companyName": name[:83], "subsidiary": {"id": self.settings.subsidiary_id},
                                  "currency": {"id": facts.currencies[currency]}, "isPerson": False}  # fmt: skip
        if identity.email:
            fields["email"] = identity.email
        record = NsRecord("customer", self._external("customer", key), _refs_of(fields))
        remote = self._upsert(record)
        self.config.refs.put("customer", key, remote, name)
        return remote

    def _item_for_account(self, account_id: str) -> str:
        """The non-inventory sale item booking to an income account: found or created (upsert);
        an item of that external id booking elsewhere is refused (preflight)."""
        stored = self.config.refs.get("item", account_id)
        if stored:
            return stored
        external = self._external("income-item", f"{self.settings.subsidiary_id}:{account_id}")
        existing = self._read("nonInventorySaleItem", f"eid:{external}")
        number = self.facts().number(account_id)
        if existing is not None:
            income = _ref(existing.get("incomeAccount"))
            if income != account_id:
                raise Permanent(f"netsuite: item {existing.get('itemId')!r} books to account "
                                f"{self.facts().number(income)}, not {number}: fix the item in NetSuite")  # fmt: skip
            remote = str(existing["id"])
        else:
            fields = {"itemId": f"Sales - {number}"[:60], "incomeAccount": {"id": account_id},
                      "subsidiary": {"id": self.settings.subsidiary_id}, "includeChildren": True}  # fmt: skip
            remote = self._upsert(NsRecord("nonInventorySaleItem", external, _refs_of(fields)))
        self._item_income[remote] = account_id
        self.config.refs.put("item", account_id, remote, f"Sales - {number}")
        return remote

    def _refs_for(self, planned: PlannedDocument) -> NsRefs:
        facts = self.facts()
        customer = ""
        items: dict[str, str] = {}
        related_invoice = ""
        if isinstance(planned, SalesDocument):
            customer = self._customer(planned.customer, planned.currency)
            if planned.type == "credit_note" and planned.related_remote_id and not planned.settlements:
                found = self._read("invoice", planned.related_remote_id)
                related_invoice = str(found["id"]) if found is not None else ""
            for line in planned.lines:
                if not line.account_ref:
                    raise Permanent(f"netsuite: account {line.account_code} is not in this account's chart")
                if line.account_ref not in items:
                    items[line.account_ref] = self._item_for_account(line.account_ref)
        elif hasattr(planned, "customer") and planned.customer is not None:
            needs = not isinstance(planned, JournalPlan) or any(
                ln.role == "receivable" for ln in planned.lines
            )
            if needs:
                customer = self._customer(planned.customer, planned.currency)
        if planned.currency not in facts.currencies:
            raise Permanent(f"netsuite: currency {planned.currency} is not enabled in this account")
        return NsRefs(customer_id=customer, items=items, currencies=facts.currencies,
                      receivable_id=facts.receivable_id, related_invoice_id=related_invoice)  # fmt: skip

    # -- posting -----------------------------------------------------------------------------------

    def plan(self, doc: PostingDocument) -> NsPlan:
        """The NetSuite records this document becomes (resolving customer and items)."""
        planned = plan_document(doc, self.options())
        return render(planned, self._refs_for(planned), self.settings)

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as NetSuite should hold it."""
        return expected_view(doc, plan_document(doc, self.options()))

    def post(self, doc: PostingDocument) -> PostResult:
        """Upsert the main record, then each follower applied to it."""
        self._refuse_closed_period(doc)
        plan = self.plan(doc)
        main_id = (
            self._invoice_through_order(plan) if self._uses_order(plan) else self._upsert_resolving(plan.main)
        )
        ids = [self._upsert_resolving(f.with_main(main_id)) for f in plan.followers]
        return self._result(plan, main_id, ids)

    def _uses_order(self, plan: NsPlan) -> bool:
        """Whether this plan's invoice goes through a sales order (the connection's setting)."""
        return self.settings.order_to_invoice and plan.main.type == "invoice"

    def _invoice_through_order(self, plan: NsPlan) -> str:
        """The invoice of ``plan`` billed from its sales order: an invoice found by external id
        ends the step; an order found by external id is billed, never made again."""
        order, bill = order_records(plan)
        found = self._read("invoice", f"eid:{bill.external_id}")
        if found is not None:
            return str(found["id"])
        existing = self._read("salesOrder", f"eid:{order.external_id}")
        order_id = str(existing["id"]) if existing is not None else self._upsert_resolving(order)
        try:
            return self._bill(order_id, bill)
        except DuplicateRecord as exc:
            # Our number is on another invoice: adopted when it is this order's, with our total.
            rows = [r for r in self._rows("transaction", {"tranid": str(bill.fields.get("tranId") or "")})
                    if r.get("type") == "invoice"]  # fmt: skip
            for row in rows:
                other = self._read("invoice", str(row["id"]))
                if (other is not None and _ref(other.get("createdFrom")) == order_id
                        and _dec(other.get("total")) == plan.main.total):  # fmt: skip
                    return str(other["id"])
            raise Permanent(f"{exc.message}; its invoice is not this order's: check it in NetSuite",
                            vendor_code=exc.vendor_code, vendor_message=exc.vendor_message) from exc  # fmt: skip

    def post_batch(self, docs: list[PostingDocument]) -> list[PostResult | ConnectorError]:
        """Plan every document, send the main records together (:meth:`_send_many`), then the
        followers of those that went in."""
        results: list[PostResult | ConnectorError | None] = [None] * len(docs)
        planned: list[tuple[int, NsPlan]] = []
        periods = self._current_periods()
        for index, doc in enumerate(docs):
            try:
                self._refuse_closed_period(doc, periods)
                planned.append((index, self.plan(doc)))
            except ConnectorError as exc:
                results[index] = exc
        through_order = [(i, p) for i, p in planned if self._uses_order(p)]
        planned = [(i, p) for i, p in planned if not self._uses_order(p)]
        for index, plan in through_order:
            try:
                main_id = self._invoice_through_order(plan)
                ids = [self._upsert_resolving(f.with_main(main_id)) for f in plan.followers]
                results[index] = self._result(plan, main_id, ids)
            except ConnectorError as exc:
                results[index] = exc
        if planned:
            outcomes = self._send_many([plan.main for _, plan in planned])
            for (index, plan), outcome in zip(planned, outcomes, strict=True):
                if isinstance(outcome, ConnectorError):
                    results[index] = outcome
                    continue
                try:
                    ids = [self._upsert_resolving(f.with_main(outcome)) for f in plan.followers]
                    results[index] = self._result(plan, outcome, ids)
                except ConnectorError as exc:
                    results[index] = exc
        return [r if r is not None else Uncertain("netsuite: no result") for r in results]

    def _upsert_resolving(self, record: NsRecord) -> str:
        """Upsert; a number in use by another record is resolved by look-up, never by renaming."""
        try:
            return self._upsert(record)
        except DuplicateRecord as exc:
            number = str(record.fields.get("tranId") or "")
            rows = [r for r in self._rows("transaction", {"tranid": number}) if r.get("type") == record.type]
            for row in rows:
                found = self._read(record.type, str(row["id"]))
                if found is not None and _dec(found.get("total")) == record.total:
                    return str(found["id"])
            raise Permanent(f"{exc.message}; its record does not hold this document's total: check it in NetSuite",
                            vendor_code=exc.vendor_code, vendor_message=exc.vendor_message) from exc  # fmt: skip

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The posting's records found by external id, or None when the main record or a follower
        is missing (:meth:`post` then upserts them, which cannot make a second record)."""
        plan = self.plan(doc)
        main = self._read(plan.main.type, f"eid:{plan.main.external_id}")
        if main is None:
            return None
        ids = []
        for follower in plan.followers:
            found = self._read(follower.type, f"eid:{follower.external_id}")
            if found is None:
                return None
            ids.append(str(found["id"]))
        return self._result(plan, str(main["id"]), ids)

    @staticmethod
    def _result(plan: NsPlan, main_id: str, follower_ids: list[str]) -> PostResult:
        if not main_id:
            raise Uncertain("netsuite: the answer holds no record id; look it up")
        return PostResult(
            remote_id=main_id,
            remote_number=str(plan.main.fields.get("tranId") or plan.main.external_id),
            raw={"entity": plan.main.type, "external_id": plan.main.external_id, "total": str(plan.main.total),
                 "followers": [[f.type, i] for f, i in zip(plan.followers, follower_ids, strict=True)]},
        )  # fmt: skip

    # -- read-back ---------------------------------------------------------------------------------

    def _income_of(self, item_id: str) -> str:
        if item_id not in self._item_income:
            item = self._read("nonInventorySaleItem", item_id) or {}
            self._item_income[item_id] = _ref(item.get("incomeAccount"))
        return self._item_income[item_id]

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """What NetSuite recorded: item lines per income account, tax per tax code, the money or
        receivable account, payments and refunds, deposit lines, journal lines."""
        facts = self.facts()
        kind = str(result.raw.get("entity") or "")
        main = self._read(kind, result.remote_id)
        if main is None:
            raise Permanent(f"netsuite: {kind} {result.remote_id} could not be read back")
        by_id = {v: k for k, v in facts.currencies.items()}
        currency = by_id.get(_ref(main.get("currency")), facts.subsidiary_currency)
        accounts: list[tuple[str, Decimal]] = []
        taxes: list[tuple[str, Decimal]] = []
        ar = facts.number(facts.receivable_id)
        if kind in SALES_TYPES:
            sign = Decimal(-1) if kind != "creditMemo" else Decimal(1)
            total = ZERO
            for row in main.get("item") or []:
                amount = _dec(row.get("amount"))
                total += amount
                accounts.append((facts.number(self._income_of(_ref(row.get("item")))), sign * amount))
            for row in main.get("taxDetails") or []:
                tax = _dec(row.get("taxAmount"))
                total += tax
                taxes.append((_ref(row.get("taxCode")), sign * tax))
            own = facts.number(_ref(main.get("account"))) if main.get("account") else ar
            accounts.append((own if kind == "cashSale" or main.get("account") else ar, -sign * total))
        elif kind == "customerPayment":
            amount = _dec(main.get("payment"))
            accounts += [(facts.number(_ref(main.get("account"))), amount), (ar, -amount)]
        elif kind == "deposit":
            accounts.append((facts.number(_ref(main.get("account"))), _dec(main.get("total"))))
            accounts += [
                (facts.number(_ref(r.get("account"))), -_dec(r.get("amount")))
                for r in main.get("other") or []
            ]
            accounts += [
                (facts.number(_ref(r.get("account"))), _dec(r.get("amount")))
                for r in main.get("cashBack") or []
            ]
        else:
            accounts += [(facts.number(_ref(r.get("account"))), _dec(r.get("debit")) - _dec(r.get("credit")))
                         for r in main.get("line") or []]  # fmt: skip
        documents = [f"{kind} {result.remote_id}"]
        if kind == "invoice" and main.get("createdFrom"):
            documents.append(f"salesOrder {_ref(main.get('createdFrom'))}")
        for follower_type, follower_id in result.raw.get("followers") or []:
            row = self._read(str(follower_type), str(follower_id))
            if row is None:
                raise Permanent(f"netsuite: {follower_type} {follower_id} could not be read back")
            money = facts.number(_ref(row.get("account")))
            if follower_type == "customerPayment":
                amount = _dec(row.get("payment"))
                accounts += [(money, amount), (ar, -amount)]
            else:
                amount = _dec(row.get("total"))
                accounts += [(money, -amount), (ar, amount)]
            documents.append(f"{follower_type} {follower_id}")
        return make_view(currency, accounts, taxes, tuple(documents))

    # -- setting up --------------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Read the subsidiary, chart, tax codes and periods and say what came back."""
        if not self.account_id:
            return ConnectionCheck(
                False, "Enter the NetSuite account id (Setup > Company > Company Information)."
            )
        try:
            facts = self.facts(refresh=True)
            lock = self.fetch_lock_date()
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        details = {"account_id": self.account_id, "subsidiary_id": self.settings.subsidiary_id,
                   "currency": facts.subsidiary_currency, "accounts": len(facts.accounts),
                   "tax_codes": len(facts.tax_codes), "closed_to": lock.isoformat() if lock else ""}  # fmt: skip
        if facts.subsidiary_currency != self.config.functional_currency:
            return ConnectionCheck(False, f"Connected to {self.account_id}, but subsidiary {self.settings.subsidiary_id} "
                                   f"keeps its books in {facts.subsidiary_currency}, not "
                                   f"{self.config.functional_currency}: change the connection's currency.", details)  # fmt: skip
        closed = f", periods closed to {lock:%d %b %Y}" if lock else ""
        return ConnectionCheck(True, f"Connected to {self.account_id}, subsidiary {self.settings.subsidiary_id} "
                               f"({facts.subsidiary_currency}): {len(facts.accounts)} accounts, "
                               f"{len(facts.tax_codes)} tax codes{closed}.", details)  # fmt: skip

    # -- lists -------------------------------------------------------------------------------------

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The chart (``code`` = account number, ``remote_id`` = internal id)."""
        return [
            RemoteAccount(code=str(r.get("acctnumber") or r["id"]), name=str(r.get("fullname") or ""),
                          type=ACCOUNT_TYPES.get(str(r.get("accttype")), "other"), remote_id=str(r["id"]),
                          active=not _true(r.get("isinactive")))
            for r in self.facts(refresh=True).accounts.values()
        ]  # fmt: skip

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """SuiteTax codes (``code`` = the code's name, ``remote_id`` its internal id)."""
        return [
            RemoteTaxCode(code=str(r.get("itemid") or ""), name=str(r.get("description") or r.get("itemid") or ""),
                          rate=rate_fraction(r.get("rate")), remote_id=str(r["id"]), active=not _true(r.get("isinactive")))
            for r in self.facts(refresh=True).tax_codes.values()
        ]  # fmt: skip

    def fetch_items(self) -> list[RemoteItem]:
        """Items (``code`` = item name)."""
        return [RemoteItem(code=str(r.get("itemid") or ""), name=str(r.get("itemid") or ""), remote_id=str(r["id"]))
                for r in self._rows("item")]  # fmt: skip


def _refs_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Fields with ``{"id": ..}`` dictionaries as :class:`Ref` (the records' neutral form)."""
    from connectors.ledgers.netsuite.documents import Ref

    return {
        k: Ref(str(v["id"])) if isinstance(v, Mapping) and set(v) == {"id"} else v for k, v in fields.items()
    }
