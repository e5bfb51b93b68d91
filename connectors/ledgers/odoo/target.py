"""The Odoo ledger target: post, look up, read back, read the company's lists.

Connecting. The server's address, the database, the user's login and an API key (Odoo: Preferences
> Account Security > New API Key). The key is write-only: it is stored encrypted and never shown or
logged. The protocol is chosen by the server's version (JSON-2 from 19, XML-RPC before) unless the
connection's ``protocol`` setting forces one.

Exactly once. Odoo has no idempotency key: every posting walks the resumable steps of
:mod:`connectors.ledgers.odoo.poster`, each searched by our reference before anything is created;
:meth:`OdooTarget.lookup` walks them without writing and finds the document only when every step is
done (a lost answer between the invoice and its payment is finished by the next :meth:`post`).

Closed periods. Our own lock date (``settings["lock_date"]``) refuses a document before any
request; Odoo's lock dates (read with the company, cached ten minutes) refuse it before any write;
if Odoo refuses a date itself, the posting is :class:`ClosedPeriod` and the lock dates are read
again.
"""

from __future__ import annotations

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
    PostingDocument,
    PostResult,
    RemoteAccount,
    RemoteItem,
    RemoteTaxCode,
    SetupField,
    connection_failed,
)
from connectors.http import RateLimit, VendorHTTP
from connectors.ledgers.common import PlanOptions, expected_view, make_view, plan_document
from connectors.ledgers.odoo.documents import NUMBER_RULES, OdooPlan, render
from connectors.ledgers.odoo.facts import OdooFacts, forget_facts, many2one_id, read_facts
from connectors.ledgers.odoo.poster import Poster
from connectors.ledgers.odoo.rpc import OdooRPC

__all__ = ["OdooTarget"]

ACCOUNT_CLASSES = {"asset": "asset", "liability": "liability", "equity": "equity", "income": "revenue",
                   "expense": "expense", "off": "asset"}  # fmt: skip


def _setting_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10]) if value else None


class OdooTarget(LedgerTarget):
    """Posts PostingDocuments to one Odoo database (17, 18, 19; Community or Enterprise).

    Config: ``base_url`` (the server), ``settings`` (``database``, ``login``, ``protocol``,
    ``lock_date``, ``order_to_invoice``, ``walk_in_name``, ``due_days``, ``max_wait_seconds``), ``credentials``
    (``api_key``; ``database`` and ``login`` are read there too when stored with the key).
    """

    platform = "odoo"
    display_name = "Odoo"
    capabilities = frozenset(
        {"api_key", "lookup", "lock_date", "multi_currency", "read_lists", "read_back", "customers",
         "exchange_rates"}
    )  # fmt: skip
    setup_fields = (
        SetupField("base_url", "Odoo address", kind="url", required=True,
                   help="The address you open Odoo at, e.g. https://kente.odoo.com."),
        SetupField("database", "Database", required=True, help="Shown in Odoo under Settings > Activate developer mode "
                   "> the database name (Odoo Online: the part before .odoo.com)."),
        SetupField("login", "User login", required=True, help="The e-mail the API user signs in with."),
        SetupField("api_key", "API key", kind="secret", store="credentials", required=True,
                   help="Odoo: your avatar > My Profile > Account Security > New API Key. Stored encrypted; never shown again."),
        SetupField("protocol", "Protocol", kind="choice", default="auto",
                   choices=(("auto", "Best the server has (JSON-2 from Odoo 19, else XML-RPC)"), ("xmlrpc", "XML-RPC"),
                            ("jsonrpc", "JSON-RPC"), ("json2", "JSON-2 (Odoo 19 and later)"))),
        SetupField("order_to_invoice", "Sales become sales orders", kind="bool", default=False,
                   help="On: each sale is a confirmed sales order that Odoo invoices (order-to-invoice). "
                   "Off: each sale is an invoice."),
        SetupField("walk_in_name", "Customer for sales without one", default="Walk-in customer"),
        SetupField("due_days", "Invoice due in (days)", kind="int", default=0),
    )  # fmt: skip

    def __init__(self, config: LedgerConfig) -> None:
        super().__init__(config)
        settings, credentials = config.settings, config.credentials
        self.database = str(settings.get("database") or credentials.get("database") or "")
        self.login = str(settings.get("login") or credentials.get("login") or "")
        self.http = VendorHTTP(
            vendor="odoo",
            base_url=config.base_url,
            connection_key=f"{config.base_url}|{self.database}",
            rate_limit=RateLimit(per_minute=int(settings["calls_per_minute"])) if settings.get("calls_per_minute") else None,
            max_wait=float(settings.get("max_wait_seconds", 30)),
        )  # fmt: skip
        self.rpc = OdooRPC(self.http, db=self.database, login=self.login, api_key=str(credentials.get("api_key") or ""),
                           protocol=str(settings.get("protocol") or "auto"))  # fmt: skip
        self._facts_key = f"{config.base_url}|{self.database}|{config.connection_id}"
        self.order_to_invoice = str(settings.get("order_to_invoice", "")).lower() in (
            "1",
            "true",
            "yes",
            "on",
        )

    # -- facts and plans ------------------------------------------------------------------------------

    def facts(self, *, refresh: bool = False) -> OdooFacts:
        """The company's currency, chart, taxes, journals and lock date (cached ten minutes)."""
        return read_facts(self.rpc, self._facts_key, refresh=refresh)

    def options(self) -> PlanOptions:
        """What the layer may plan: invoices in any active currency, journals in the company's."""
        facts = self.facts()
        return PlanOptions(
            functional_currency=facts.currency,
            currencies=frozenset(facts.currency_ids),
            foreign_journals=False,
            receipt_single_account=False,
            refund_single_account=False,
            numbers=NUMBER_RULES,
            walk_in_name=str(self.config.settings.get("walk_in_name") or "Walk-in customer"),
            default_due_days=int(self.config.settings.get("due_days") or 0),
        )

    def plan(self, doc: PostingDocument) -> OdooPlan:
        """The Odoo records ``doc`` becomes."""
        return render(plan_document(doc, self.options()), self.facts())

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as Odoo should hold it."""
        return expected_view(doc, plan_document(doc, self.options()))

    # -- closed periods --------------------------------------------------------------------------------

    def _refuse_ours(self, doc: PostingDocument) -> None:
        lock = _setting_date(self.config.settings.get("lock_date"))
        if lock is not None and doc.date <= lock:
            message = f"{doc.reference} is dated {doc.date}, on or before this connection's lock date {lock}"
            raise ClosedPeriod(f"odoo: {message}", vendor_code="lock_date", vendor_message=message)

    def _refuse_odoo(self, doc: PostingDocument) -> None:
        lock = self.facts().lock_date
        if lock is not None and doc.date <= lock:
            message = f"{doc.reference} is dated {doc.date}, on or before Odoo's lock date {lock}"
            raise ClosedPeriod(f"odoo: {message}", vendor_code="lock_date", vendor_message=message)

    # -- posting ----------------------------------------------------------------------------------------

    def post(self, doc: PostingDocument) -> PostResult:
        """Walk every step for ``doc`` (finding what exists, creating what is missing)."""
        self._refuse_ours(doc)
        self._refuse_odoo(doc)
        plan = self.plan(doc)
        try:
            result = Poster(self.rpc, self.facts(), self.config.refs, orders=self.order_to_invoice).run(plan)
        except ClosedPeriod:
            forget_facts(self._facts_key)
            raise
        assert result is not None  # a run that may write always finishes or raises  # nosec B101
        return result

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The complete posting for ``doc``, or None while any step is missing."""
        poster = Poster(self.rpc, self.facts(), self.config.refs, dry=True, orders=self.order_to_invoice)
        return poster.run(self.plan(doc))

    # -- read-back ---------------------------------------------------------------------------------------

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """The lines of every move the posting made, per account (tax lines per tax), in the
        document's currency."""
        move_ids = [int(i) for i in result.raw.get("move_ids") or []]
        if not move_ids and result.raw.get("entity") != "account.payment":
            move_ids = [int(result.remote_id)]
        lines = self.rpc.call("account.move.line", "search_read", [("move_id", "in", move_ids)],
                              fields=["account_id", "amount_currency", "balance", "tax_line_id", "currency_id", "move_id"])  # fmt: skip
        facts = self.facts()
        accounts: list[tuple[str, Decimal]] = []
        taxes: list[tuple[str, Decimal]] = []
        currency = facts.currency
        for line in lines:
            amount = Decimal(str(line.get("amount_currency") or 0))
            currency = str((line.get("currency_id") or [0, currency])[1])
            tax = many2one_id(line.get("tax_line_id"))
            if tax:
                taxes.append((str(tax), amount))
            else:
                account = many2one_id(line.get("account_id")) or 0
                accounts.append((facts.account_codes.get(account, str(account)), amount))
        return make_view(currency, accounts, taxes, tuple(f"account.move {i}" for i in move_ids))

    # -- setting up and reading ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Sign in, read the company: its name, currency, lock date and the server's version."""
        try:
            facts = self.facts(refresh=True)
            uid = self.rpc.uid() if self.rpc.protocol != "json2" else None
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        version = ".".join(str(n) for n in facts.version)
        details = {"company": facts.company_name, "currency": facts.currency, "version": version,
                   "protocol": self.rpc.protocol, "lock_date": facts.lock_date.isoformat() if facts.lock_date else "",
                   "uid": uid}  # fmt: skip
        if facts.currency and facts.currency != self.config.functional_currency:
            return ConnectionCheck(False, f"Connected to {facts.company_name}, but its currency is {facts.currency} and "
                                          f"this connection is set to {self.config.functional_currency}.", details)  # fmt: skip
        closed = f", locked to {facts.lock_date:%d %b %Y}" if facts.lock_date else ""
        return ConnectionCheck(True, f"Connected to {facts.company_name} (Odoo {version}, {self.rpc.protocol}), "
                                     f"currency {facts.currency}{closed}.", details)  # fmt: skip

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The chart (``code`` = Odoo's code, ``remote_id`` = its id)."""
        rows = self.rpc.call(
            "account.account", "search_read", [], fields=["code", "name", "account_type", "deprecated"]
        )
        return [
            RemoteAccount(code=str(r["code"]), name=str(r.get("name") or ""),
                          type=ACCOUNT_CLASSES.get(str(r.get("account_type") or "").split("_")[0], "asset"),
                          remote_id=str(r["id"]), active=not r.get("deprecated"))
            for r in rows
        ]  # fmt: skip

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """Sales taxes (``code`` = the tax's name, ``rate`` as a fraction, ``remote_id`` = its id)."""
        rows = self.rpc.call("account.tax", "search_read", [("type_tax_use", "=", "sale")],
                             fields=["name", "amount", "amount_type", "active"])  # fmt: skip
        return [
            RemoteTaxCode(code=str(r["name"]), name=str(r["name"]),
                          rate=Decimal(str(r.get("amount") or 0)) / 100 if r.get("amount_type") == "percent" else Decimal(0),
                          remote_id=str(r["id"]), active=r.get("active", True) is not False)
            for r in rows
        ]  # fmt: skip

    def fetch_items(self) -> list[RemoteItem]:
        """Products (``code`` = the internal reference)."""
        rows = self.rpc.call("product.product", "search_read", [], fields=["default_code", "name"])
        return [RemoteItem(code=str(r.get("default_code") or r["id"]), name=str(r.get("name") or ""), remote_id=str(r["id"]))
                for r in rows]  # fmt: skip

    def fetch_contacts(self) -> list[RemoteItem]:
        """Customers (``res.partner`` with a customer rank)."""
        rows = self.rpc.call(
            "res.partner", "search_read", [("customer_rank", ">", 0)], fields=["name", "ref"]
        )
        return [
            RemoteItem(code=str(r.get("ref") or r["name"]), name=str(r["name"]), remote_id=str(r["id"]))
            for r in rows
        ]

    def fetch_lock_date(self) -> date | None:
        """The company's lock date for customer documents (read now)."""
        return self.facts(refresh=True).lock_date

    def fetch_exchange_rate(self, currency: str, on: date) -> Decimal | None:
        """Odoo's rate for ``currency`` on ``on`` as company units per unit (Odoo stores the inverse)."""
        facts = self.facts()
        if currency == facts.currency:
            return Decimal(1)
        currency_id = facts.currency_ids.get(currency)
        if currency_id is None:
            return None
        rows = self.rpc.call("res.currency.rate", "search_read",
                             [("currency_id", "=", currency_id), ("name", "<=", on.isoformat())],
                             fields=["name", "rate"], order="name desc", limit=1)  # fmt: skip
        if not rows:
            return None
        rate = Decimal(str(rows[0]["rate"]))
        return (Decimal(1) / rate).quantize(Decimal("0.0000000001")) if rate else None
