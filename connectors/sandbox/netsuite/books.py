"""The in-memory NetSuite account behind :class:`NetSuiteSandbox`: lists, transactions, external
ids, posting periods, SuiteTax details and the general ledger they make. No HTTP here: the REST
and SOAP front ends both turn their requests into :meth:`Books.upsert` / :meth:`Books.get` calls
on records in one normal form (references ``{"id": ..}``, sublists as lists of rows, amounts as
Decimal), so both transports write the same books.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["LIST_TYPES", "ORDER_TYPES", "TRANSACTION_TYPES", "Books", "NsError"]

TRANSACTION_TYPES = ("cashSale", "invoice", "creditMemo", "customerPayment", "customerRefund", "deposit",
                     "journalEntry")  # fmt: skip
LIST_TYPES = ("customer", "nonInventorySaleItem")
#: Non-posting transactions: they make no general-ledger lines.
ORDER_TYPES = ("salesOrder",)
#: What billing copies from an order onto its invoice.
_BILLED_FIELDS = ("entity", "currency", "subsidiary", "exchangeRate", "tranDate", "memo", "department", "class",
                  "location", "taxDetailsOverride")  # fmt: skip
ZERO = Decimal(0)
SUBLISTS = ("item", "taxDetails", "apply", "other", "cashBack", "line", "currencyList")


class NsError(Exception):
    """A refused request: NetSuite's error code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value if value is not None else 0))


def _ref(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


class Books:
    """One NetSuite account (OneWorld): subsidiaries, currencies, chart, tax codes, periods, items,
    customers and transactions."""

    def __init__(self, base_currency: str = "GBP", currencies: tuple[str, ...] = ("GBP",)) -> None:
        self.next_id = 100
        self.currencies: dict[str, dict[str, Any]] = {}
        for n, code in enumerate(dict.fromkeys((base_currency, *currencies)), start=1):
            self.currencies[str(n)] = {"id": str(n), "symbol": code, "name": code, "isbasecurrency": n == 1}
        self.subsidiaries = {"1": {"id": "1", "name": "Kente & Clay Ltd", "currency": "1", "country": "GB"}}
        self.segments: dict[str, dict[str, dict[str, Any]]] = {
            "department": {"1": {"id": "1", "name": "Retail"}},
            "classification": {"1": {"id": "1", "name": "Online"}},
            "location": {"1": {"id": "1", "name": "London"}},
        }
        self.accounts: dict[str, dict[str, Any]] = {}
        self.tax_codes: dict[str, dict[str, Any]] = {}
        self.periods: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, dict[str, Any]]] = {
            t: {} for t in (*TRANSACTION_TYPES, *ORDER_TYPES, *LIST_TYPES)
        }
        self.external: dict[tuple[str, str], str] = {}
        self.writes = 0

    # -- set-up ----------------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh internal id."""
        self.next_id += 1
        return str(self.next_id)

    def currency_id(self, code: str) -> str:
        """The internal id of a currency by its ISO code."""
        return next((i for i, c in self.currencies.items() if c["symbol"] == code), "")

    def add_period(self, name: str, start: date, end: date, *, locked: bool = False) -> str:
        """An accounting period; ``locked`` locks A/R and all (as period close does)."""
        pid = self.new_id()
        self.periods[pid] = {"id": pid, "periodname": name, "startdate": start.isoformat(),
                             "enddate": end.isoformat(), "isposting": True, "closed": locked,
                             "arlocked": locked, "aplocked": locked, "alllocked": locked}  # fmt: skip
        return pid

    # -- reading ---------------------------------------------------------------------------------

    def table(self, name: str) -> list[dict[str, Any]]:
        """Rows of a SuiteQL table (lower-case columns)."""
        name = name.lower()
        if name == "account":
            return [dict(a) for a in self.accounts.values()]
        if name == "currency":
            return [dict(c) for c in self.currencies.values()]
        if name == "subsidiary":
            return [dict(s) for s in self.subsidiaries.values()]
        if name == "salestaxitem":
            return [dict(t) for t in self.tax_codes.values()]
        if name == "accountingperiod":
            return [dict(p) for p in self.periods.values()]
        if name in self.segments:
            return [dict(r) for r in self.segments[name].values()]
        if name == "customer":
            return [{"id": i, "externalid": r.get("externalId", ""), "companyname": r.get("companyName", ""),
                     "currency": _ref(r.get("currency")), "subsidiary": _ref(r.get("subsidiary"))}
                    for i, r in self.records["customer"].items()]  # fmt: skip
        if name == "item":
            return [{"id": i, "externalid": r.get("externalId", ""), "itemid": r.get("itemId", ""),
                     "incomeaccount": _ref(r.get("incomeAccount")), "itemtype": "NonInvtPart"}
                    for i, r in self.records["nonInventorySaleItem"].items()]  # fmt: skip
        if name == "transaction":
            return [{"id": i, "externalid": r.get("externalId", ""), "tranid": r.get("tranId", ""),
                     "type": t, "trandate": r.get("tranDate", "")}
                    for t in TRANSACTION_TYPES for i, r in self.records[t].items()]  # fmt: skip
        raise NsError("INVALID_SEARCH", f"Unknown table {name}")

    def get(self, record_type: str, key: str) -> dict[str, Any]:
        """A record by internal id or ``eid:<external id>``."""
        rows = self.records.get(record_type)
        if rows is None:
            raise NsError("INVALID_RCRD_TYPE", f"Record type {record_type} does not exist.", 404)
        rid = self.external.get((record_type, key[4:])) if key.startswith("eid:") else key
        if not rid or rid not in rows:
            raise NsError("NONEXISTENT_ID", f"The record instance does not exist. Provided id: {key}.", 404)
        return {**rows[rid], "id": rid}

    # -- writing ---------------------------------------------------------------------------------

    def transform(self, order_id: str, target: str) -> dict[str, Any]:
        """The invoice NetSuite initialises from a sales order (not stored): the order's customer,
        currency, subsidiary, segments, lines and tax details, ``createdFrom`` the order. An order
        already billed, or not approved, is refused."""
        if target != "invoice":
            raise NsError("INVALID_INITIALIZE_REF", f"A sales order cannot be transformed into {target}.")
        order = self.records["salesOrder"].get(order_id)
        if order is None:
            raise NsError(
                "NONEXISTENT_ID", f"The record instance does not exist. Provided id: {order_id}.", 404
            )
        self._billable(order_id, None)
        made: dict[str, Any] = {k: order[k] for k in _BILLED_FIELDS if k in order}
        made["item"] = [dict(r) for r in order.get("item") or []]
        made["taxDetails"] = [dict(r) for r in order.get("taxDetails") or []]
        made["createdFrom"] = {"id": order_id}
        made["account"] = {"id": self.receivable()}
        return made

    def _billable(self, order_id: str, invoice_id: str | None) -> None:
        """Refuse billing an order that is not approved or is billed already (by another invoice)."""
        order = self.records["salesOrder"].get(order_id)
        if order is None:
            raise NsError("INVALID_KEY_OR_REF", f"Invalid createdfrom reference key {order_id}.")
        status = _ref(order.get("orderStatus"))
        billed = [i for i, r in self.records["invoice"].items()
                  if _ref(r.get("createdFrom")) == order_id and i != invoice_id]  # fmt: skip
        if billed or status in ("H", "C") or (status == "G" and invoice_id is None):
            raise NsError("INVALID_INITIALIZE_REF",
                          f"You can not initialize invoice: the sales order {order_id} is already billed.")  # fmt: skip
        if status == "A":
            raise NsError("INVALID_INITIALIZE_REF",
                          f"You can not initialize invoice: the sales order {order_id} is pending approval.")  # fmt: skip

    def upsert(
        self, record_type: str, external_id: str, body: Mapping[str, Any], *, replace: tuple[str, ...] = ()
    ) -> str:
        """Create the record with this external id, or update it (sublists named in ``replace``, or
        all given, replace the stored ones). Validates the whole record before storing anything."""
        if record_type not in self.records:
            raise NsError("INVALID_RCRD_TYPE", f"Record type {record_type} does not exist.", 404)
        if not external_id:
            raise NsError("USER_ERROR", "Please enter a value for External ID.")
        rid = self.external.get((record_type, external_id))
        stored = dict(self.records[record_type].get(rid, {})) if rid else {}
        merged = {**stored, **{k: v for k, v in body.items() if k not in SUBLISTS}}
        for name in SUBLISTS:
            if name in body:
                merged[name] = [dict(r) for r in body[name] or []]
        merged["externalId"] = external_id
        if record_type == "salesOrder" and rid and _ref(stored.get("orderStatus")) in ("G", "H"):
            raise NsError("USER_ERROR", "This sales order is billed: it can no longer be changed.")
        self._validate(record_type, merged, rid)
        rid = rid or self.new_id()
        self.records[record_type][rid] = merged
        self.external[(record_type, external_id)] = rid
        if record_type == "invoice" and merged.get("createdFrom"):
            self.records["salesOrder"][_ref(merged["createdFrom"])]["orderStatus"] = {"id": "G"}
        self.writes += 1
        return rid

    def _validate(self, record_type: str, rec: dict[str, Any], rid: str | None) -> None:
        """NetSuite's checks for the records we write."""
        if record_type == "customer":
            self._need(rec, "subsidiary", self.subsidiaries)
            self._need(rec, "currency", self.currencies)
            if not rec.get("companyName"):
                raise NsError("USER_ERROR", "Please enter a value for Company Name.")
            return
        if record_type == "nonInventorySaleItem":
            income = self._need(rec, "incomeAccount", self.accounts)
            if self.accounts[income]["accttype"] not in ("Income", "OthIncome"):
                raise NsError(
                    "INVALID_FLD_VALUE", "Invalid incomeaccount reference key: not an income account."
                )
            if not rec.get("itemId"):
                raise NsError("USER_ERROR", "Please enter a value for Item Name/Number.")
            return
        subsidiary = self._need(rec, "subsidiary", self.subsidiaries)
        currency = self._need(rec, "currency", self.currencies)
        for segment, table in (
            ("department", "department"),
            ("class", "classification"),
            ("location", "location"),
        ):
            if rec.get(segment):
                self._need(rec, segment, self.segments[table])
        if currency != self.subsidiaries[subsidiary]["currency"] and not rec.get("exchangeRate"):
            raise NsError("INVALID_FLD_VALUE", "Please enter a value for Exchange Rate.")
        day = str(rec.get("tranDate") or "")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise NsError("INVALID_FLD_VALUE", f"Invalid date value {day!r} for field tranDate.")
        self._check_period(day)
        tran_id = str(rec.get("tranId") or "")
        if tran_id:
            for other_id, other in self.records[record_type].items():
                if other_id != rid and other.get("tranId") == tran_id:
                    raise NsError("DUP_TRANS", f"The transaction number {tran_id} is already in use.")
        entity_field = (
            "entity" if record_type in ("cashSale", "invoice", "creditMemo", "salesOrder") else "customer"
        )
        if record_type == "salesOrder":
            status = _ref(rec.get("orderStatus")) or "A"
            rec["orderStatus"] = {"id": status}
            if status not in ("A", "B"):
                raise NsError("INVALID_FLD_VALUE", f"Invalid orderstatus {status}: a new order is A or B.")
        if record_type == "invoice" and rec.get("createdFrom"):
            self._billable(_ref(rec.get("createdFrom")), rid)
        if record_type in (
            "cashSale",
            "invoice",
            "creditMemo",
            "customerPayment",
            "customerRefund",
            "salesOrder",
        ):
            customer = self._need(rec, entity_field, self.records["customer"])
            if _ref(self.records["customer"][customer].get("currency")) != currency:
                raise NsError(
                    "INVALID_FLD_VALUE", "The currency of the transaction is not a currency of the customer."
                )
        if record_type in ("cashSale", "invoice", "creditMemo", "salesOrder"):
            self._check_sales(record_type, rec)
        elif record_type in ("customerPayment", "customerRefund"):
            account = self._need(rec, "account", self.accounts)
            if self.accounts[account]["accttype"] != "Bank":
                raise NsError("INVALID_FLD_VALUE", "Invalid account reference key: not a bank account.")
            amount = _dec(rec.get("payment" if record_type == "customerPayment" else "total"))
            if amount <= 0:
                raise NsError("USER_ERROR", "The amount must be greater than zero.")
            applied = ZERO
            target_type = "invoice" if record_type == "customerPayment" else "creditMemo"
            for row in rec.get("apply") or []:
                if row.get("apply") in (True, "true"):
                    if _ref(row.get("doc")) not in self.records[target_type]:
                        raise NsError(
                            "INVALID_KEY_OR_REF", f"Invalid apply reference key {_ref(row.get('doc'))}."
                        )
                    applied += _dec(row.get("amount"))
            if applied > amount:
                raise NsError("USER_ERROR", "The total applied exceeds the payment.")
        elif record_type == "deposit":
            account = self._need(rec, "account", self.accounts)
            if self.accounts[account]["accttype"] != "Bank":
                raise NsError("INVALID_FLD_VALUE", "Invalid account reference key: not a bank account.")
            for row in (rec.get("other") or []) + (rec.get("cashBack") or []):
                self._need(row, "account", self.accounts)
                if _dec(row.get("amount")) <= 0:
                    raise NsError("USER_ERROR", "Deposit line amounts must be positive.")
            if self.total("deposit", rec) <= 0:
                raise NsError("USER_ERROR", "The deposit total must be greater than zero.")
        elif record_type == "journalEntry":
            lines = rec.get("line") or []
            if len(lines) < 2:
                raise NsError("USER_ERROR", "A journal entry needs at least two lines.")
            for row in lines:
                self._need(row, "account", self.accounts)
                if row.get("entity"):
                    self._need(row, "entity", self.records["customer"])
            debit = sum((_dec(r.get("debit")) for r in lines), ZERO)
            credit = sum((_dec(r.get("credit")) for r in lines), ZERO)
            if debit != credit:
                raise NsError(
                    "JE_AMOUNTS_MUST_BALANCE", f"The journal entry is out of balance by {debit - credit}."
                )

    def _check_period(self, day: str) -> None:
        for period in self.periods.values():
            if period["startdate"] <= day <= period["enddate"]:
                if period["closed"] or period["arlocked"] or period["alllocked"]:
                    raise NsError(
                        "TRAN_PERIOD_CLOSED",
                        f"The accounting period {period['periodname']} is closed or locked.",
                    )
                return

    def _need(self, rec: Mapping[str, Any], name: str, table: Mapping[str, Any]) -> str:
        value = _ref(rec.get(name))
        if not value:
            raise NsError("USER_ERROR", f"Please enter a value for {name}.")
        if value not in table:
            raise NsError("INVALID_KEY_OR_REF", f"Invalid {name.lower()} reference key {value}.")
        return value

    def _check_sales(self, record_type: str, rec: dict[str, Any]) -> None:
        """Item lines, the money account of a cash sale, and SuiteTax details (ours when
        ``taxDetailsOverride`` is true, else computed from the code's rate)."""
        lines = rec.get("item") or []
        if not lines:
            raise NsError("USER_ERROR", "You must enter at least one line item for this transaction.")
        for row in lines:
            self._need(row, "item", self.records["nonInventorySaleItem"])
            amount = _dec(row.get("amount", _dec(row.get("rate")) * _dec(row.get("quantity") or 1)))
            row["amount"] = amount
        if record_type == "cashSale":
            account = self._need(rec, "account", self.accounts)
            if self.accounts[account]["accttype"] != "Bank":
                raise NsError("INVALID_FLD_VALUE", "Invalid account reference key: not a bank account.")
        references = {str(r.get("taxDetailsReference")) for r in lines if r.get("taxDetailsReference")}
        details = rec.get("taxDetails") or []
        for row in details:
            code = self._need(row, "taxCode", self.tax_codes)
            if str(row.get("taxDetailsReference")) not in references:
                raise NsError("INVALID_FLD_VALUE", "A tax details line names no transaction line.")
            if rec.get("taxDetailsOverride") not in (True, "true"):
                rate = _dec(str(self.tax_codes[code]["rate"]).rstrip("%")) / 100
                row["taxRate"] = rate * 100
                row["taxAmount"] = (_dec(row.get("netAmount")) * rate).quantize(
                    Decimal("0.01"), ROUND_HALF_UP
                )
            row["taxAmount"] = _dec(row.get("taxAmount"))
        for row in rec.get("apply") or []:
            if _ref(row.get("doc")) not in self.records["invoice"]:
                raise NsError("INVALID_KEY_OR_REF", f"Invalid apply reference key {_ref(row.get('doc'))}.")

    # -- the general ledger ----------------------------------------------------------------------

    def total(self, record_type: str, rec: Mapping[str, Any]) -> Decimal:
        """A transaction's total as NetSuite shows it."""
        if record_type in ("cashSale", "invoice", "creditMemo", "salesOrder"):
            return sum((_dec(r.get("amount")) for r in rec.get("item") or []), ZERO) + sum(
                (_dec(r.get("taxAmount")) for r in rec.get("taxDetails") or []), ZERO
            )
        if record_type == "customerPayment":
            return _dec(rec.get("payment"))
        if record_type == "customerRefund":
            return _dec(rec.get("total"))
        if record_type == "deposit":
            return sum((_dec(r.get("amount")) for r in rec.get("other") or []), ZERO) - sum(
                (_dec(r.get("amount")) for r in rec.get("cashBack") or []), ZERO
            )
        return sum((_dec(r.get("debit")) for r in rec.get("line") or []), ZERO)

    def receivable(self) -> str:
        """The default A/R account."""
        return next((i for i, a in self.accounts.items() if a["accttype"] == "AcctRec"), "")

    def gl_lines(self, record_type: str, rec: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
        """(account number, signed amount, debit positive) the transaction posts, in its currency."""
        number = {i: a["acctnumber"] for i, a in self.accounts.items()}
        ar = number.get(
            _ref(rec.get("account"))
            if record_type in ("invoice", "creditMemo") and rec.get("account")
            else self.receivable(),
            "",
        )
        total = self.total(record_type, rec)
        out: list[tuple[str, Decimal]] = []
        if record_type in ("cashSale", "invoice", "creditMemo"):
            sign = Decimal(-1) if record_type != "creditMemo" else Decimal(1)
            for row in rec.get("item") or []:
                item = self.records["nonInventorySaleItem"][_ref(row.get("item"))]
                out.append((number[_ref(item.get("incomeAccount"))], sign * _dec(row.get("amount"))))
            for row in rec.get("taxDetails") or []:
                code = self.tax_codes[_ref(row.get("taxCode"))]
                out.append((number.get(code.get("account", ""), "TAX"), sign * _dec(row.get("taxAmount"))))
            money = number[_ref(rec.get("account"))] if record_type == "cashSale" else ar
            out.append((money, -sign * total))
        elif record_type == "customerPayment":
            out += [(number[_ref(rec.get("account"))], total), (ar, -total)]
        elif record_type == "customerRefund":
            out += [(number[_ref(rec.get("account"))], -total), (ar, total)]
        elif record_type == "deposit":
            out.append((number[_ref(rec.get("account"))], total))
            out += [(number[_ref(r.get("account"))], -_dec(r.get("amount"))) for r in rec.get("other") or []]
            out += [
                (number[_ref(r.get("account"))], _dec(r.get("amount"))) for r in rec.get("cashBack") or []
            ]
        else:
            out += [(number[_ref(r.get("account"))], _dec(r.get("debit")) - _dec(r.get("credit")))
                    for r in rec.get("line") or []]  # fmt: skip
        return out

    def trial_balance(self) -> dict[tuple[str, str], Decimal]:
        """(currency, account number) -> balance over every transaction (the books, to compare)."""
        out: dict[tuple[str, str], Decimal] = {}
        for record_type in TRANSACTION_TYPES:
            for rec in self.records[record_type].values():
                currency = self.currencies[_ref(rec.get("currency"))]["symbol"]
                for account, amount in self.gl_lines(record_type, rec):
                    out[(currency, account)] = out.get((currency, account), ZERO) + amount
        return {k: v for k, v in out.items() if v}
