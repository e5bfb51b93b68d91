"""The FreshBooks ledger target: post (look-up first), read back, read lists.

Exactly once without keys. FreshBooks takes no idempotency key, so every step looks first: the
invoice by ``search[invoice_number]``, its payments by their ``note`` (``<number>/<n>``), journal
entries (the document's, or its ``<number>/adj`` adjustment) by their ``name``; only what is not
found is created. A lost answer is therefore finished, never repeated, by the next attempt, and
:meth:`FreshBooksTarget.lookup` returns a posting only when every step is found.

Booking. See :mod:`.documents`: FreshBooks books an invoice's lines to its sales account, the total
to receivables and payments to its payments account; an adjustment journal entry moves exactly the
difference to the journal's accounts, and :meth:`read_back` computes what FreshBooks booked and
adds the adjustment entry, so the read-back compares the ledger's whole effect with the journal.

Limits. FreshBooks does not publish its rate limit: the client sends as fast as it is allowed and
honours the ``Retry-After`` of every 429 for the whole account.

Closed periods. FreshBooks has no lock date in its API: the connection's own ``lock_date`` is
refused before any call.
"""

from __future__ import annotations

import time
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
from connectors.ledgers.common import (
    CustomerIdentity,
    JournalLinePlan,
    JournalPlan,
    PlannedDocument,
    PlanOptions,
    SalesDocument,
    expected_view,
    make_view,
    plan_document,
)
from connectors.ledgers.freshbooks.documents import (
    NUMBER_RULES,
    FreshBooksAccounts,
    FreshBooksPlan,
    adjustment_lines,
    booked_by_freshbooks,
    freshbooks_tax,
    journal_body,
    plan_freshbooks,
)
from connectors.ledgers.freshbooks.errors import classify_answer

__all__ = ["API_URL", "FRESHBOOKS_OAUTH", "FreshBooksTarget"]

API_URL = "https://api.freshbooks.com"
FRESHBOOKS_OAUTH = OAuth2Provider(
    name="freshbooks",
    authorize_url="https://auth.freshbooks.com/oauth/authorize",
    token_url="https://api.freshbooks.com/auth/oauth/token",
    pkce=False,
    default_scopes=("user:profile:read", "user:clients:read", "user:clients:write", "user:invoices:read",
                    "user:invoices:write", "user:payments:read", "user:payments:write", "user:taxes:read",
                    "user:journal_entries:read", "user:journal_entries:write"),
    client_auth="post",
)  # fmt: skip
FACTS_TTL_SECONDS = 600
# The chart's sub-accounts and the taxes, per FreshBooks account: read once, again after 10 minutes.
_facts: dict[str, tuple[float, dict[str, str], dict[str, tuple[str, Decimal]]]] = {}
TYPES = {"asset": "asset", "liability": "liability", "equity": "equity", "income": "revenue", "revenue": "revenue",
         "expense": "expense", "cost_of_goods_sold": "expense"}  # fmt: skip


def _dec(value: Any) -> Decimal:
    if isinstance(value, Mapping):
        value = value.get("amount")
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


class FreshBooksTarget(LedgerTarget):
    """Posts PostingDocuments to one FreshBooks account.

    Config: ``base_url`` (default :data:`API_URL`), ``credentials`` (``client_id``,
    ``client_secret``, ``access_token``, ``refresh_token``, ``expires_at``, ``account_id``,
    ``business_id``), ``settings`` (``sales_account``, ``receivable_account``,
    ``payments_account``: our codes of the accounts FreshBooks books to; ``lock_date``,
    ``default_client_id``, ``token_url``, ``authorize_url``, ``max_wait_seconds``).
    """

    platform = "freshbooks"
    display_name = "FreshBooks"
    capabilities = frozenset({"oauth2", "lookup", "lock_date", "read_lists", "read_back", "customers"})
    setup_fields = (
        SetupField("base_url", "FreshBooks API address", kind="url", default=API_URL, required=True),
        SetupField("client_id", "App client id", store="credentials", required=True,
                   help="my.freshbooks.com > Developer portal > your app."),
        SetupField("client_secret", "App client secret", kind="secret", store="credentials", required=True,
                   help="Add this site's /connections/oauth/callback/ address as a redirect URI of the app."),
        SetupField("sales_account", "FreshBooks' sales account", required=True,
                   help="The account code FreshBooks books invoice lines to (its Sales account)."),
        SetupField("receivable_account", "FreshBooks' receivables account", required=True,
                   help="The account code of FreshBooks' Accounts Receivable."),
        SetupField("payments_account", "FreshBooks' payments account", required=True,
                   help="The account code FreshBooks books invoice payments to."),
        SetupField("authorize_url", "Authorisation address", kind="url"),
        SetupField("token_url", "Token address", kind="url"),
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
        self.account_id = str(config.credentials.get("account_id") or "")
        self.business_id = str(config.credentials.get("business_id") or "")
        self.http = VendorHTTP(
            vendor="freshbooks",
            base_url=config.base_url or API_URL,
            connection_key=self.account_id or config.connection_id,
            rate_limit=RateLimit(),  # unpublished: 429s tell
            max_wait=float(config.settings.get("max_wait_seconds", 30)),
        )
        self.oauth = oauth or OAuth2Client.from_config(
            FRESHBOOKS_OAUTH, config, load_credentials=load_credentials, lock_factory=lock_factory
        )
        self._accounts: FreshBooksAccounts | None = None

    # -- HTTP ----------------------------------------------------------------------------------

    def _api(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> Any:
        """One call with the bearer token; errors in the body (even with HTTP 200) raise."""
        data = dumps(body) if body is not None else None
        token = self.oauth.access_token()
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Api-Version": "alpha",
            }
            if data is not None:
                headers["Content-Type"] = "application/json"
            response = self.http.request(method, path, params=params, data=data, headers=headers)
            try:
                parsed = loads(response.content) if response.content else {}
            except ValueError:
                parsed = {}
            error = classify_answer(response.status_code, parsed)
            if error is None:
                return parsed
            if response.status_code == 401 and attempt == 1:
                token = self.oauth.refresh(rejected_access_token=token)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _acc(self, path: str) -> str:
        if not self.account_id:
            raise AuthExpired("freshbooks: no account id is stored; connect FreshBooks again")
        return f"/accounting/account/{self.account_id}/{path}"

    def _result(self, answer: Any, key: str) -> dict[str, Any]:
        return dict(((answer.get("response") or {}).get("result") or {}).get(key) or {})

    def _list(self, path: str, key: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a list, page by page."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._api(
                "GET", self._acc(path), params={**(params or {}), "page": str(page), "per_page": "100"}
            )
            result = (answer.get("response") or {}).get("result") or {}
            rows.extend(dict(r) for r in result.get(key) or [])
            if page >= int(result.get("pages") or 1):
                return rows
            page += 1

    # -- what the account holds ----------------------------------------------------------------

    def accounts(self) -> FreshBooksAccounts:
        """The three accounts FreshBooks books to (from settings), sub-accounts and taxes."""
        if self._accounts is None:
            settings = self.config.settings
            missing = [
                k for k in ("sales_account", "receivable_account", "payments_account") if not settings.get(k)
            ]
            if missing:
                raise Permanent(f"freshbooks: set {', '.join(missing)} on the connection")
            cached = _facts.get(self.account_id)
            if cached is not None and cached[0] > time.monotonic():
                subs, taxes = cached[1], cached[2]
            else:
                subs = {str(s.get("account_sub_number")): str(s.get("subaccountid"))
                        for a in self._list("journal_entry_accounts/accounts", "accounts")
                        for s in a.get("sub_accounts") or []}  # fmt: skip
                taxes = {str(t.get("name")): (str(t.get("name")), _dec(t.get("amount")))
                         for t in self._list("taxes/taxes", "taxes")}  # fmt: skip
                _facts[self.account_id] = (time.monotonic() + FACTS_TTL_SECONDS, subs, taxes)
            self._accounts = FreshBooksAccounts(str(settings["sales_account"]), str(settings["receivable_account"]),
                                                str(settings["payments_account"]), subs, taxes)  # fmt: skip
        return self._accounts

    def options(self) -> PlanOptions:
        """Invoices and payments in the functional currency; anything else a journal entry."""
        return PlanOptions(functional_currency=self.config.functional_currency, foreign_journals=False,
                           receipt_single_account=False, refund_single_account=False, numbers=NUMBER_RULES)  # fmt: skip

    def _client(self, identity: CustomerIdentity) -> str:
        """The FreshBooks client of a source customer: found by organisation or created, once."""
        if identity.walk_in and self.config.settings.get("default_client_id"):
            return str(self.config.settings["default_client_id"])
        stored = self.config.refs.get("customer", identity.key)
        if stored:
            return stored
        rows = self._list("users/clients", "clients", {"search[organization_like]": identity.name})
        found = next((r for r in rows if str(r.get("organization") or "") == identity.name), None)
        if found is not None:
            remote = str(found.get("id") or "")
        else:
            body = {
                "client": {
                    "organization": identity.name,
                    **({"email": identity.email} if identity.email else {}),
                }
            }
            remote = str(
                self._result(self._api("POST", self._acc("users/clients"), body=body), "client").get("id")
                or ""
            )
            if not remote:
                raise Uncertain(f"freshbooks: creating client {identity.name!r} gave no id")
        self.config.refs.put("customer", identity.key, remote, identity.name)
        return remote

    # -- posting -------------------------------------------------------------------------------

    def _refuse_closed_period(self, doc: PostingDocument) -> None:
        value = self.config.settings.get("lock_date")
        lock = date.fromisoformat(str(value)[:10]) if value else None
        if lock is not None and doc.date <= lock:
            message = f"{doc.reference} is dated {doc.date}, on or before the lock date {lock}"
            raise ClosedPeriod(f"freshbooks: {message}", vendor_code="LockDate", vendor_message=message)

    def _planned(self, doc: PostingDocument) -> PlannedDocument:
        """The layer's plan; a credit note becomes a journal entry of the document's lines (a
        FreshBooks credit note would be booked to its own accounts with no way to say ours)."""
        planned = plan_document(doc, self.options())
        if isinstance(planned, SalesDocument) and planned.type == "credit_note":
            lines = tuple(
                JournalLinePlan(
                    ln.role, ln.account_code, ln.account_ref, ln.debit, ln.credit, ln.description or ln.role
                )
                for ln in doc.lines
                if ln.debit or ln.credit
            )
            return JournalPlan(
                planned.number, doc.reference, doc.date, doc.currency, None, lines, doc.memo, None
            )
        return planned

    def plan(self, doc: PostingDocument) -> FreshBooksPlan:
        """The FreshBooks plan of a document (resolving the client of an invoice)."""
        planned = self._planned(doc)
        client = self._client(planned.customer) if isinstance(planned, SalesDocument) else ""
        return plan_freshbooks(
            planned, self.accounts(), client, dict(expected_view(doc, planned).per_account)
        )

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """The journal as FreshBooks should hold it (tax per tax name, accounts per line)."""
        return expected_view(doc, self._planned(doc))

    def post(self, doc: PostingDocument) -> PostResult:
        """Find or create every step, in order (see the module docstring)."""
        self._refuse_closed_period(doc)
        result = self._run(self.plan(doc), create=True)
        assert result is not None
        return result

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """The complete posting for ``doc`` (every step found), or None."""
        return self._run(self.plan(doc), create=False)

    def _run(self, plan: FreshBooksPlan, *, create: bool) -> PostResult | None:
        """Every step: found, else created (``create``) or the answer is None."""
        accounts = self.accounts()
        raw: dict[str, Any] = {
            "entity": {"invoice": "Invoice", "payment": "Payment", "journal": "JournalEntry"}[plan.kind]
        }
        if plan.kind == "journal":
            assert plan.journal is not None
            lines = [(ln.account_code, ln.debit - ln.credit) for ln in plan.journal.lines]
            entry = self._journal_entry(
                plan.number, plan.date, plan.journal.currency, plan.journal.memo, lines, create
            )
            if entry is None:
                return None
            return PostResult(remote_id=entry, remote_number=plan.number, raw={**raw, "journal_id": entry})
        # An invoice made by this call has no payments or adjustment yet: nothing to look for.
        fresh = False
        if plan.kind == "invoice":
            assert plan.invoice is not None
            invoice = self._find_invoice(plan.number)
            if invoice is None:
                if not create:
                    return None
                made = self._api("POST", self._acc("invoices/invoices"), body={"invoice": plan.invoice})
                invoice = self._result(made, "invoice")
                if not invoice.get("id"):
                    raise Uncertain("freshbooks: the invoice answer holds no id; look it up")
                fresh = True
            invoice_id = str(invoice.get("id"))
        else:
            invoice_id = plan.invoice_id
        payment_ids = []
        existing = {} if fresh else {str(p.get("note") or ""): p for p in self._list(
            "payments/payments", "payments", {"search[invoiceid]": invoice_id})}  # fmt: skip
        for note, amount in plan.payments:
            found = existing.get(note)
            if found is None:
                if not create:
                    return None
                body = {"payment": {"invoiceid": invoice_id, "amount": {"amount": amount}, "date": plan.date,
                                    "type": "Other", "note": note}}  # fmt: skip
                found = self._result(self._api("POST", self._acc("payments/payments"), body=body), "payment")
                if not found.get("id"):
                    raise Uncertain("freshbooks: the payment answer holds no id; look it up")
            payment_ids.append(str(found["id"]))
        amounts = [amount for _, amount in plan.payments]
        if plan.kind == "invoice":
            # The answer to the create holds the lines as FreshBooks booked them; else read them.
            invoice = (
                invoice
                if fresh and invoice and invoice.get("lines") is not None
                else self._invoice(invoice_id)
            )
            nets = [_dec(ln.get("amount")) for ln in invoice.get("lines") or []]
            booked = booked_by_freshbooks(accounts, nets, _dec(invoice.get("amount")), amounts, True)
        else:
            booked = booked_by_freshbooks(accounts, [], Decimal(0), amounts, False)
        moves = adjustment_lines(plan.expected, booked)
        adjustment = ""
        if moves:
            found_adj = self._journal_entry(f"{plan.number}/adj", plan.date, plan.currency,
                                            f"{plan.number}: to the journal's accounts", moves, create, look=not fresh)  # fmt: skip
            if found_adj is None:
                return None
            adjustment = found_adj
        remote = invoice_id if plan.kind == "invoice" else payment_ids[0]
        raw.update(invoice_id=invoice_id if plan.kind == "invoice" else "", payment_ids=payment_ids,
                   adjustment_id=adjustment)  # fmt: skip
        return PostResult(remote_id=remote, remote_number=plan.number, raw=raw)

    def _find_invoice(self, number: str) -> dict[str, Any] | None:
        rows = self._list("invoices/invoices", "invoices", {"search[invoice_number]": number})
        return next((r for r in rows if str(r.get("invoice_number")) == number), None)

    def _invoice(self, invoice_id: str) -> dict[str, Any]:
        answer = self._api("GET", self._acc(f"invoices/invoices/{invoice_id}"), params={"include[]": "lines"})
        return self._result(answer, "invoice")

    def _journal_entry(
        self,
        name: str,
        day: str,
        currency: str,
        memo: str,
        lines: list[tuple[str, Decimal]],
        create: bool,
        *,
        look: bool = True,
    ) -> str | None:
        """The id of the journal entry named ``name``: found (unless ``look`` is off because it
        cannot exist yet), else created (``create``) or None."""
        rows = (
            self._list("journal_entries/journal_entries", "journal_entries", {"search[name]": name})
            if look
            else []
        )
        found = next((r for r in rows if str(r.get("name")) == name), None)
        if found is not None:
            return str(found.get("id"))
        if not create:
            return None
        body = journal_body(name, day, currency, memo, lines, self.accounts())
        made = self._result(
            self._api("POST", self._acc("journal_entries/journal_entries"), body=body), "journal_entry"
        )
        if not made.get("id"):
            raise Uncertain("freshbooks: the journal entry answer holds no id; look it up")
        return str(made["id"])

    # -- read-back -----------------------------------------------------------------------------

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """What FreshBooks booked for the invoice and its payments (its sales, receivables and
        payments accounts, tax per tax name as FreshBooks computes it) plus the adjustment entry."""
        accounts = self.accounts()
        codes = {sub: code for code, sub in accounts.sub_accounts.items()}
        moves: list[tuple[str, Decimal]] = []
        taxes: list[tuple[str, Decimal]] = []
        raw = result.raw
        amounts = []
        for payment_id in raw.get("payment_ids") or []:
            payment = self._result(self._api("GET", self._acc(f"payments/payments/{payment_id}")), "payment")
            amounts.append(_dec(payment.get("amount")))
        if raw.get("invoice_id"):
            invoice = self._invoice(str(raw["invoice_id"]))
            nets = [_dec(ln.get("amount")) for ln in invoice.get("lines") or []]
            for line in invoice.get("lines") or []:
                if line.get("taxName1"):
                    taxes.append(
                        (
                            str(line["taxName1"]),
                            -freshbooks_tax(_dec(line.get("amount")), _dec(line.get("taxAmount1"))),
                        )
                    )
            moves += booked_by_freshbooks(accounts, nets, _dec(invoice.get("amount")), amounts, True).items()
        elif raw.get("entity") == "Payment":
            moves += booked_by_freshbooks(accounts, [], Decimal(0), amounts, False).items()
        for key in ("adjustment_id", "journal_id"):
            if raw.get(key):
                entry = self._result(
                    self._api("GET", self._acc(f"journal_entries/journal_entries/{raw[key]}")),
                    "journal_entry",
                )
                for detail in entry.get("details") or []:
                    code = codes.get(str(detail.get("sub_accountid")), str(detail.get("sub_accountid")))
                    moves.append((code, _dec(detail.get("debit")) - _dec(detail.get("credit"))))
        currency = self.config.functional_currency
        return make_view(currency, moves, taxes, (f"{raw.get('entity')} {result.remote_id}",))

    # -- setting up and reading ----------------------------------------------------------------

    def identity(self) -> dict[str, str]:
        """The account id and business id of the user's first business (``GET /auth/api/v1/users/me``)."""
        answer = self._api("GET", "/auth/api/v1/users/me")
        memberships = (answer.get("response") or {}).get("business_memberships") or []
        business = (memberships[0] if memberships else {}).get("business") or {}
        if not business.get("account_id"):
            raise AuthExpired("freshbooks: the user has no business; connect FreshBooks again")
        return {"account_id": str(business["account_id"]), "business_id": str(business.get("id") or "")}

    def test_connection(self) -> ConnectionCheck:
        """Who the token belongs to and whether the three booking accounts are set."""
        if not self.config.credentials.get("refresh_token"):
            return ConnectionCheck(False, "Not connected yet: press Connect to FreshBooks.")
        try:
            ids = self.identity()
            self.accounts()
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        return ConnectionCheck(True, f"Connected to FreshBooks account {ids['account_id']}.", ids)

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The chart, read afresh (``code`` = the sub-account number, ``remote_id`` = its id for
        journal entries); the target's cached chart and taxes are read again on next use."""
        _facts.pop(self.account_id, None)
        return [
            RemoteAccount(code=str(s.get("account_sub_number")), name=str(s.get("account_sub_name") or a.get("account_name")),
                          type=TYPES.get(str(a.get("account_type") or "").lower(), "asset"), remote_id=str(s.get("subaccountid")))
            for a in self._list("journal_entry_accounts/accounts", "accounts")
            for s in a.get("sub_accounts") or []
        ]  # fmt: skip

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """Taxes (``code`` = ``remote_id`` = the tax's name, which invoice lines carry)."""
        return [
            RemoteTaxCode(code=str(t.get("name")), name=str(t.get("name")), rate=_dec(t.get("amount")) / 100,
                          remote_id=str(t.get("name")))
            for t in self._list("taxes/taxes", "taxes")
        ]  # fmt: skip

    def fetch_lock_date(self) -> date | None:
        """FreshBooks publishes no lock date: the connection's own applies."""
        return None
