"""The in-memory QuickBooks Online company behind :class:`QuickBooksSandbox`: entities, validation
and tax as QuickBooks applies them, with QuickBooks' fault codes. No HTTP here.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from integrator import money

__all__ = [
    "ALL_ENTITIES",
    "LIST_ENTITIES",
    "TXN_ENTITIES",
    "QboChart",
    "QboCompany",
    "QboFault",
    "fault_body",
    "now_text",
]


class QboFault(Exception):
    """A QuickBooks ``Fault.Error``: code, message, detail, HTTP status and fault type."""

    def __init__(
        self, code: str, message: str, detail: str = "", status: int = 400, kind: str = "ValidationFault"
    ):
        super().__init__(message)
        self.code, self.message, self.detail, self.status, self.kind = code, message, detail, status, kind


def _missing(name: str) -> QboFault:
    return QboFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
    )


def _unsupported(detail: str) -> QboFault:
    return QboFault("2010", "Request has invalid or unsupported property", detail)


def _business(detail: str) -> QboFault:
    message = "A business validation error has occurred while processing your request"
    return QboFault("6000", message, f"Business Validation Error: {detail}")


def fault_body(faults: list[QboFault]) -> dict[str, Any]:
    """The JSON ``Fault`` answer for one or more errors."""
    return {
        "Fault": {
            "Error": [
                {"Message": f.message, "Detail": f.detail or f.message, "code": f.code} for f in faults
            ],
            "type": faults[0].kind,
        },
        "time": datetime.now(UTC).isoformat(),
    }


ACCOUNT_KEYS = ("Id", "AcctNum", "Name", "Classification", "AccountType")
SEED_ACCOUNTS = [
    ("1", "1210", "Stripe Clearing", "Asset", "Other Current Asset"),
    ("2", "1000", "Checking", "Asset", "Bank"),
    ("3", "4000", "Sales", "Revenue", "Income"),
    ("4", "4100", "Shipping Income", "Revenue", "Income"),
    ("5", "6100", "Merchant Fees", "Expense", "Expense"),
    ("6", "2200", "Sales Tax Payable", "Liability", "Other Current Liability"),
    ("7", "1100", "Accounts Receivable", "Asset", "Accounts Receivable"),
    ("8", "4900", "Rounding", "Revenue", "Income"),
    ("9", "2300", "Gift Cards Outstanding", "Liability", "Other Current Liability"),
]
SEED_ITEMS = [("1", "Sales", "3"), ("2", "Shipping", "4"), ("3", "Rounding", "8"), ("4", "Gift card", "9")]
SEED_TAX = [("2", "VAT 15%", "1", "15"), ("3", "Zero rated", "2", "0")]  # code id, name, rate id, percent


@dataclass(frozen=True)
class QboChart:
    """A company's starting lists: accounts (Id, AcctNum, Name, Classification, AccountType),
    items (Id, Name, income account Id) and tax codes (code Id, name, rate Id, percent)."""

    accounts: tuple[tuple[str, str, str, str, str], ...] = tuple(SEED_ACCOUNTS)
    items: tuple[tuple[str, str, str], ...] = tuple(SEED_ITEMS)
    tax: tuple[tuple[str, str, str, str], ...] = tuple(SEED_TAX)


def _seed(chart: QboChart | None = None, *, country: str = "US") -> dict[str, list[dict[str, Any]]]:
    """A small company: a clearing and a bank account, income, fees, tax, items, one customer.

    A US company has the sales-tax pseudo-code ``NON`` (not taxable); companies elsewhere (VAT/GST
    editions) have no such code: every line needs one of their real tax codes."""
    chart = chart or QboChart()
    account_rows, item_rows, tax_rows = chart.accounts, chart.items, chart.tax
    accounts = [{**dict(zip(ACCOUNT_KEYS, row, strict=True)), "Active": True} for row in account_rows]
    for account in accounts:
        account["FullyQualifiedName"] = account["Name"]
    items = [
        {
            "Id": i,
            "Name": name,
            "Sku": name.upper(),
            "Type": "Service",
            "Active": True,
            "IncomeAccountRef": {"value": a},
        }
        for i, name, a in item_rows
    ]
    rates = [{"Id": r, "Name": name, "RateValue": Decimal(p), "Active": True} for _, name, r, p in tax_rows]
    codes: list[dict[str, Any]] = [
        {"Id": c, "Name": name, "Active": True, "Taxable": True,
         "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": r}}]}}
        for c, name, r, _ in tax_rows
    ]  # fmt: skip
    if country == "US":
        codes.append({"Id": "NON", "Name": "NON", "Active": True, "Taxable": False})
    customers = [{"Id": "1", "DisplayName": "Web customers", "Active": True}]
    return {"Account": accounts, "Item": items, "TaxRate": rates, "TaxCode": codes, "Customer": customers}


TXN_ENTITIES = {
    "salesreceipt": "SalesReceipt",
    "refundreceipt": "RefundReceipt",
    "invoice": "Invoice",
    "creditmemo": "CreditMemo",
    "journalentry": "JournalEntry",
    "deposit": "Deposit",
    "payment": "Payment",
}
LIST_ENTITIES = {
    "account": "Account",
    "taxcode": "TaxCode",
    "taxrate": "TaxRate",
    "item": "Item",
    "customer": "Customer",
    "companycurrency": "CompanyCurrency",
}
CREATABLE_LISTS = {"item": "Item", "customer": "Customer"}
ALL_ENTITIES = {**TXN_ENTITIES, **LIST_ENTITIES}
QUERY = re.compile(
    r"^\s*select\s+\*\s+from\s+(?P<entity>\w+)"
    r"(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+startposition\s+(?P<start>\d+))?(?:\s+maxresults\s+(?P<max>\d+))?\s*$",
    re.IGNORECASE,
)
CONDITION = re.compile(r"(\w+)\s*=\s*'((?:[^'\\]|\\.)*)'", re.IGNORECASE)


def _conditions(where: str) -> list[str]:
    """The ``and``-joined conditions of a where clause, never split inside a quoted value."""
    parts, current, quoted, i = [], [], False, 0
    while i < len(where):
        ch = where[i]
        if ch == "\\" and quoted and i + 1 < len(where):
            current.append(where[i : i + 2])
            i += 2
            continue
        if ch == "'":
            quoted = not quoted
        if not quoted and re.match(r"\s+and\s+", where[i:], flags=re.IGNORECASE):
            parts.append("".join(current))
            current = []
            i += len(re.match(r"\s+and\s+", where[i:], flags=re.IGNORECASE)[0])  # type: ignore[index]
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _q(value: Decimal, currency: str) -> Decimal:
    return money.quantize(value, currency, ROUND_HALF_UP)


class QboCompany:
    """One company's lists and transactions. Callers serialise access (the server's lock)."""

    def __init__(
        self,
        *,
        home_currency: str,
        tax_rounding: str,
        book_close_date: date | None,
        country: str = "US",
        chart: QboChart | None = None,
        currencies: tuple[str, ...] = (),
        duplicate_numbers: str = "refuse",
    ) -> None:
        if duplicate_numbers not in ("refuse", "record"):
            raise ValueError(f"duplicate_numbers must be 'refuse' or 'record', not {duplicate_numbers!r}")
        self.home_currency = home_currency
        #: "refuse": a second document of an entity with the same DocNumber is fault 6140 (the
        #: company preference "warn if duplicate number" on); "record": it is stored like any other
        #: (the preference off), so a test can count duplicates from the company's own records.
        self.duplicate_numbers = duplicate_numbers
        self.tax_rounding = tax_rounding
        self.book_close_date = book_close_date
        self.country = country
        self.entities: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for name, rows in _seed(chart, country=country).items():
            for row in rows:
                self.entities[name][row["Id"]] = row
        for n, code in enumerate(currencies, start=1):
            self.entities["CompanyCurrency"][str(n)] = {
                "Id": str(n),
                "Code": code,
                "Name": code,
                "Active": True,
            }
        #: (currency, date) -> home units per unit, served by ``exchangerate``
        self.exchange_rates: dict[tuple[str, date], Decimal] = {}
        self._ids = itertools.count(100)

    def query(self, statement: str) -> dict[str, Any]:
        """Run ``select * from <Entity> [where F = 'v' [and ...]] [startposition n] [maxresults m]``."""
        match = QUERY.match(statement or "")
        names = {name.lower(): name for name in ALL_ENTITIES.values()}
        if match is None or match["entity"].lower() not in names:
            raise QboFault("4000", "Error parsing query", f"QueryParserError: {statement}")
        entity = names[match["entity"].lower()]
        rows = list(self.entities[entity].values())
        for condition in _conditions(match["where"] or ""):
            if not condition:
                continue
            cond = CONDITION.fullmatch(condition.strip())
            if cond is None:
                raise QboFault("4000", "Error parsing query", f"QueryParserError: {condition}")
            value = re.sub(r"\\(.)", r"\1", cond[2])
            rows = [r for r in rows if str(r.get(cond[1], "")) == value]
        start = int(match["start"] or 1)
        page = rows[start - 1 : start - 1 + min(int(match["max"] or 100), 1000)]
        return {entity: page, "startPosition": start, "maxResults": len(page)} if page else {}

    def preferences(self) -> dict[str, Any]:
        """The ``Preferences`` entity (closing date, currency)."""
        accounting = {"BookCloseDate": self.book_close_date.isoformat()} if self.book_close_date else {}
        multi = bool(self.entities["CompanyCurrency"])
        currency = {"MultiCurrencyEnabled": multi, "HomeCurrency": {"value": self.home_currency}}
        return {"Id": "1", "SyncToken": "0", "AccountingInfoPrefs": accounting, "CurrencyPrefs": currency}

    def batch(self, body: Any, max_items: int) -> list[dict[str, Any]]:
        """Run a ``BatchItemRequest``: one answer per item (entity, QueryResponse or Fault), by bId."""
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise _missing("BatchItemRequest")
        if len(items) > max_items:
            raise _unsupported(f"Batch size {len(items)} exceeds the maximum of {max_items}")
        answers = []
        for item in items:
            bid = item.get("bId")
            try:
                if "Query" in item:
                    answers.append({"bId": bid, "QueryResponse": self.query(item["Query"])})
                    continue
                entity = next((name for name in TXN_ENTITIES.values() if name in item), "")
                if item.get("operation", "create") != "create" or not entity:
                    raise _unsupported("Unsupported batch item")
                answers.append({"bId": bid, entity: self.create(entity, item[entity])})
            except QboFault as fault:
                answers.append({"bId": bid, "Fault": fault_body([fault])["Fault"]})
        return answers

    def exchange_rate(self, currency: str, on: date) -> dict[str, Any]:
        """The ``ExchangeRate`` entity: the latest rate set on or before ``on`` (fault 610 if none)."""
        known = sorted((d, r) for (c, d), r in self.exchange_rates.items() if c == currency and d <= on)
        if not known:
            raise QboFault("610", "Object Not Found", f"No exchange rate for {currency} on {on}")
        day, rate = known[-1]
        return {"SourceCurrencyCode": currency, "TargetCurrencyCode": self.home_currency,
                "AsOfDate": day.isoformat(), "Rate": rate}  # fmt: skip

    def create_list(self, entity: str, body: Any) -> dict[str, Any]:
        """Create a customer or an item, with QuickBooks' unique-name rule (fault 6240)."""
        if not isinstance(body, dict):
            raise QboFault("2500", "Invalid Request", "The entity must be a JSON object")
        obj = dict(body)
        name_field = "DisplayName" if entity == "Customer" else "Name"
        name = str(obj.get(name_field) or "").strip()
        if not name:
            raise _missing(name_field)
        if any(str(r.get(name_field, "")).lower() == name.lower() for r in self.entities[entity].values()):
            raise QboFault("6240", "Duplicate Name Exists Error",
                           f"The name supplied already exists. : {name}")  # fmt: skip
        if entity == "Item":
            self.need("Account", obj.get("IncomeAccountRef"))
            obj.setdefault("Type", "Service")
        if entity == "Customer":
            currency = (obj.get("CurrencyRef") or {}).get("value") or self.home_currency
            if currency != self.home_currency and currency not in self._currencies():
                raise _business(f"The currency {currency} is not enabled in this company.")
            obj["CurrencyRef"] = {"value": currency}
        now = now_text()
        obj.update({"Id": str(next(self._ids)), "SyncToken": "0", "Active": True,
                    "MetaData": {"CreateTime": now, "LastUpdatedTime": now}})  # fmt: skip
        self.entities[entity][obj["Id"]] = obj
        return obj

    def _currencies(self) -> set[str]:
        return {
            str(r.get("Code")) for r in self.entities["CompanyCurrency"].values() if r.get("Active", True)
        }

    def _same_currency(self, customer: dict[str, Any], currency: str) -> None:
        """QuickBooks keeps one currency per customer: a transaction must be in it."""
        theirs = (customer.get("CurrencyRef") or {}).get("value") or self.home_currency
        if theirs != currency:
            raise _business(
                f"The currency of the transaction ({currency}) must match the customer's currency ({theirs})."
            )

    def need(self, entity: str, ref: Any) -> dict[str, Any]:
        """The referenced object, or fault 610 as QuickBooks answers for a dangling reference."""
        value = ref.get("value") if isinstance(ref, dict) else None
        row = self.entities[entity].get(str(value)) if value is not None else None
        if row is None or not row.get("Active", True):
            raise QboFault(
                "610",
                "Object Not Found",
                f"Something you're trying to use has been made inactive or deleted. Check {entity} {value}.",
            )
        return row

    def create(self, entity: str, body: Any) -> dict[str, Any]:
        """Validate and store a transaction as QuickBooks would; raises QboFault."""
        if not isinstance(body, dict):
            raise QboFault("2500", "Invalid Request", "The entity must be a JSON object")
        obj = dict(body)
        currency = (obj.get("CurrencyRef") or {}).get("value") or self.home_currency
        try:
            txn_date = date.fromisoformat(str(obj.get("TxnDate") or date.today().isoformat()))
        except ValueError:
            raise _unsupported("TxnDate is not a date") from None
        if self.book_close_date is not None and txn_date <= self.book_close_date:
            raise QboFault(
                "6200",
                "The account period has closed.",
                f"Account Period Closed, Cannot Update Through Services API: {txn_date} is on or before "
                f"the closing date {self.book_close_date}",
            )
        number = obj.get("DocNumber")
        if number is not None:
            if len(str(number)) > 21:
                raise QboFault(
                    "2050",
                    "String length is either shorter or longer than supported by specification",
                    f"DocNumber: Min:0 Max:21 supported. Supplied length:{len(str(number))}",
                )
            others = self.entities[entity].values() if self.duplicate_numbers == "refuse" else ()
            for other in others:
                if other.get("DocNumber") == number:
                    raise QboFault(
                        "6140",
                        "Duplicate Document Number Error",
                        "Duplicate Document Number Error : You must specify a different number. This number "
                        f"has already been used. DocNumber={number} is assigned to TxnType={entity} with "
                        f"TxnId={other['Id']}",
                    )
        builders: dict[str, Callable[[str, dict[str, Any], str], None]] = {
            "JournalEntry": self._journal,
            "Deposit": self._deposit,
            "Payment": self._payment,
        }
        builders.get(entity, self._sales_form)(entity, obj, currency)
        now = now_text()
        obj.update(
            {
                "Id": str(next(self._ids)),
                "SyncToken": "0",
                "TxnDate": txn_date.isoformat(),
                "MetaData": {"CreateTime": now, "LastUpdatedTime": now},
            }
        )
        obj.setdefault("CurrencyRef", {"value": self.home_currency})
        self.entities[entity][obj["Id"]] = obj
        return obj

    def _tax_rate(self, code: dict[str, Any]) -> Decimal:
        """A tax code's sales rate as a fraction (the sum of its sales tax rates)."""
        if not code.get("Taxable", True):
            return Decimal(0)
        details = (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
        percent = sum(
            (_dec(self.need("TaxRate", d.get("TaxRateRef"))["RateValue"]) for d in details), Decimal(0)
        )
        return percent / 100

    def _sales_form(self, entity: str, obj: dict[str, Any], currency: str) -> None:
        """Validate lines, items, tax codes and accounts; compute tax and TotalAmt."""
        lines = obj.get("Line") or []
        if not lines:
            raise _missing("Line")
        mode = obj.get("GlobalTaxCalculation") or "TaxExcluded"
        amounts: list[Decimal] = []
        bases: dict[str, list[Decimal]] = defaultdict(list)
        rates: dict[str, Decimal] = {}
        for line in lines:
            detail = line.get("SalesItemLineDetail")
            if line.get("DetailType") != "SalesItemLineDetail" or not isinstance(detail, dict):
                raise _unsupported(
                    f"Property Name:DetailType specified is unsupported or invalid: {line.get('DetailType')}"
                )
            if "Amount" not in line:
                raise _missing("Line.Amount")
            amount = _dec(line["Amount"])
            self.need("Item", detail.get("ItemRef"))
            qty, price = detail.get("Qty"), detail.get("UnitPrice")
            if qty is not None and price is not None and _q(_dec(qty) * _dec(price), currency) != amount:
                detail_text = f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}"
                raise QboFault("6070", "Amount is not equal to UnitPrice * Qty", detail_text)
            amounts.append(amount)
            if mode == "NotApplicable":
                continue
            if not detail.get("TaxCodeRef"):
                raise _business("Make sure all your transactions have a tax code.")
            code = self.need("TaxCode", detail["TaxCodeRef"])
            rates[code["Id"]] = self._tax_rate(code)
            gross = (
                _dec(detail["TaxInclusiveAmt"])
                if mode == "TaxInclusive" and "TaxInclusiveAmt" in detail
                else amount
            )
            bases[code["Id"]].append(gross)
        detail_in = obj.get("TxnTaxDetail") or {}
        override = detail_in.get("TotalTax")
        stated = detail_in.get("TaxLine") or []
        if mode == "NotApplicable":
            tax, total = Decimal(0), sum(amounts, Decimal(0))
        else:
            inclusive = mode == "TaxInclusive"
            if stated:
                # Tax stated per rate (a VAT company may state its own figures): each rate must be
                # one of the rates of a tax code the lines use.
                used_rates = {
                    str((d.get("TaxRateRef") or {}).get("value"))
                    for c in bases
                    for d in (self.entities["TaxCode"][c].get("SalesTaxRateList") or {}).get("TaxRateDetail")
                    or []
                }
                tax = Decimal(0)
                for tax_line in stated:
                    rate_ref = ((tax_line.get("TaxLineDetail") or {}).get("TaxRateRef") or {}).get("value")
                    if str(rate_ref) not in used_rates:
                        raise _business(
                            f"Tax rate {rate_ref} is not a rate of the tax codes on this transaction."
                        )
                    tax += _dec(tax_line.get("Amount", 0))
                if override is not None and _dec(override) != tax:
                    raise _business(f"TotalTax {override} does not equal the sum of the tax lines {tax}.")
            else:
                tax = _dec(override) if override is not None else self._tax(bases, rates, inclusive, currency)
            gross_total = sum((sum(b, Decimal(0)) for b in bases.values()), Decimal(0))
            total = gross_total if inclusive else sum(amounts, Decimal(0)) + tax
        if total < 0:
            raise _business("The transaction total cannot be negative.")
        if currency != self.home_currency and currency not in self._currencies():
            raise _business(f"The currency {currency} is not enabled in this company.")
        if obj.get("CustomerRef"):
            self._same_currency(self.need("Customer", obj["CustomerRef"]), currency)
        elif entity in ("Invoice", "CreditMemo"):
            raise _missing("CustomerRef")
        if entity == "RefundReceipt" and not obj.get("DepositToAccountRef"):
            raise _missing("DepositToAccountRef")
        if obj.get("DepositToAccountRef"):
            self.need("Account", obj["DepositToAccountRef"])
        obj["TxnTaxDetail"] = {"TotalTax": tax, "TaxLine": stated} if stated else {"TotalTax": tax}
        obj["TotalAmt"] = total
        obj["Balance"] = total if entity in ("Invoice", "CreditMemo") else Decimal(0)

    def _tax(
        self, bases: dict[str, list[Decimal]], rates: dict[str, Decimal], inclusive: bool, currency: str
    ) -> Decimal:
        """Sales tax the way this company rounds it: per code on the total, or per line."""
        total = Decimal(0)
        for code, amounts in bases.items():
            rate = rates[code]
            factor = rate / (1 + rate) if inclusive else rate
            if self.tax_rounding == "line":
                total += sum((_q(a * factor, currency) for a in amounts), Decimal(0))
            else:
                total += _q(sum(amounts, Decimal(0)) * factor, currency)
        return total

    def _journal(self, entity: str, obj: dict[str, Any], currency: str) -> None:
        """Validate a journal: line details, accounts, customers on A/R lines, debits = credits."""
        sides = {"Debit": Decimal(0), "Credit": Decimal(0)}
        for line in obj.get("Line") or []:
            detail = line.get("JournalEntryLineDetail")
            if line.get("DetailType") != "JournalEntryLineDetail" or not isinstance(detail, dict):
                raise _unsupported(
                    "DetailType must be JournalEntryLineDetail",
                )
            posting = detail.get("PostingType")
            amount = _dec(line.get("Amount", 0))
            if posting not in sides or amount < 0:
                raise _unsupported(
                    f"PostingType {posting} / Amount {amount}",
                )
            account = self.need("Account", detail.get("AccountRef"))
            entity_ref = (detail.get("Entity") or {}).get("EntityRef")
            if account.get("AccountType") == "Accounts Receivable" and not entity_ref:
                raise _business(
                    "When you use Accounts Receivable, you must choose a customer in the Name field."
                )
            if entity_ref:
                self.need("Customer", entity_ref)
            sides[posting] += amount
        if not obj.get("Line") or sides["Debit"] != sides["Credit"]:
            raise _business(f"Debits ({sides['Debit']}) and credits ({sides['Credit']}) must be equal.")
        obj["TotalAmt"] = sides["Debit"]

    def _deposit(self, entity: str, obj: dict[str, Any], currency: str) -> None:
        """Validate a deposit: bank account, line accounts, a total that is not negative."""
        if not obj.get("DepositToAccountRef"):
            raise _missing("DepositToAccountRef")
        self.need("Account", obj["DepositToAccountRef"])
        total = Decimal(0)
        for line in obj.get("Line") or []:
            detail = line.get("DepositLineDetail")
            if line.get("DetailType") != "DepositLineDetail" or not isinstance(detail, dict):
                raise _unsupported(
                    "DetailType must be DepositLineDetail",
                )
            self.need("Account", detail.get("AccountRef"))
            total += _dec(line.get("Amount", 0))
        if total < 0:
            raise _business("The deposit total cannot be negative.")
        obj["TotalAmt"] = total

    def _payment(self, entity: str, obj: dict[str, Any], currency: str) -> None:
        """Apply a customer payment to the invoices it links (the invoice's own customer only)."""
        customer = self.need("Customer", obj.get("CustomerRef"))
        self._same_currency(customer, currency)
        if obj.get("TotalAmt") is None:
            raise _missing("TotalAmt")
        if obj.get("DepositToAccountRef"):
            self.need("Account", obj["DepositToAccountRef"])
        applied = Decimal(0)
        for line in obj.get("Line") or []:
            amount = _dec(line.get("Amount", 0))
            for link in line.get("LinkedTxn") or []:
                invoice = self.need("Invoice", {"value": link.get("TxnId")})
                if (invoice.get("CustomerRef") or {}).get("value") != customer["Id"]:
                    raise _business("The invoice you are trying to link belongs to another customer.")
                if amount > _dec(invoice["Balance"]):
                    raise _business("The payment exceeds the invoice balance.")
                invoice["Balance"] = _dec(invoice["Balance"]) - amount
            applied += amount
        obj["UnappliedAmt"] = _dec(obj["TotalAmt"]) - applied


def now_text() -> str:
    """The current time as QuickBooks writes it."""
    return datetime.now(UTC).isoformat()
