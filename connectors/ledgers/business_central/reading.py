"""Reading Business Central back: a posting's documents as a LedgerView, the chart and VAT codes.

Signs follow the read-back convention (debit positive): an invoice's lines are credits to their
accounts and a debit to the receivables account; a customer payment line is a credit to the
receivables account (a negative amount: BC's journal sign) against its journal's balancing
account; a general journal's ledger entries are read by their document number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from connectors.base import LedgerView, PostResult, RemoteAccount, RemoteTaxCode
from connectors.ledgers.common import make_view

__all__ = ["accounts_of", "rates_of", "read_back_view", "tax_codes_of"]

CATEGORY = {"Assets": "asset", "Liabilities": "liability", "Equity": "equity", "Income": "revenue",
            "Cost of Goods Sold": "expense", "Expense": "expense"}  # fmt: skip
Get = Callable[[str], Any]


def _payment_entries(get: Get, receivable: str, payment_id: str) -> list[tuple[str, Decimal]]:
    line = get(f"customerPayments({payment_id})")
    journal = get(f"customerPaymentJournals({line['journalId']})")
    amount = Decimal(str(line["amount"]))
    return [(receivable, amount), (str(journal["balancingAccountNumber"]), -amount)]


def read_back_view(get: Get, receivable: str, currency: str, result: PostResult) -> LedgerView:
    """What Business Central holds for a posting: document lines per account, VAT per code, the
    receivable; payment lines against their journal's balancing account; ledger entries."""
    kind = str(result.raw.get("entity") or "")
    accounts: list[tuple[str, Decimal]] = []
    taxes: list[tuple[str, Decimal]] = []
    if kind in ("salesInvoices", "salesCreditMemos"):
        lines_key = "salesInvoiceLines" if kind == "salesInvoices" else "salesCreditMemoLines"
        row = get(f"{kind}({result.remote_id})?$expand={lines_key}")
        sign = Decimal(-1) if kind == "salesInvoices" else Decimal(1)
        for line in row.get(lines_key) or []:
            accounts.append((str(line["lineObjectNumber"]), sign * Decimal(str(line["amountExcludingTax"]))))
            taxes.append((str(line["taxCode"]), sign * Decimal(str(line["totalTaxAmount"]))))
        accounts.append((receivable, -sign * Decimal(str(row["totalAmountIncludingTax"]))))
        for payment_id in result.raw.get("payment_ids") or []:
            accounts += _payment_entries(get, receivable, str(payment_id))
    elif kind == "customerPayments":
        accounts += _payment_entries(get, receivable, result.remote_id)
    else:
        query = "$filter=" + quote(
            f"documentNumber eq '{result.remote_id.replace(chr(39), chr(39) * 2)}'", safe="'"
        )
        for entry in (get(f"generalLedgerEntries?{query}") or {}).get("value") or []:
            amount = Decimal(str(entry["debitAmount"])) - Decimal(str(entry["creditAmount"]))
            accounts.append((str(entry["accountNumber"]), amount))
    return make_view(currency, accounts, taxes, (f"{kind} {result.remote_id}",))


def accounts_of(rows: list[dict[str, Any]]) -> list[RemoteAccount]:
    """G/L accounts that take postings (headings and totals left out)."""
    return [RemoteAccount(code=str(r["number"]), name=str(r.get("displayName") or ""), type=CATEGORY.get(str(r.get("category")), "expense"),
                          remote_id=str(r.get("id") or ""), active=not r.get("blocked"))
            for r in rows if r.get("accountType", "Posting") == "Posting"]  # fmt: skip


def rates_of(value: Any) -> dict[str, Decimal]:
    """VAT rates from the settings: a mapping, or text ``CODE=0.20; CODE2=0``."""
    if isinstance(value, Mapping):
        return {str(k): Decimal(str(v)) for k, v in value.items()}
    pairs = (item.split("=", 1) for item in str(value or "").replace(",", ";").split(";") if "=" in item)
    return {k.strip(): Decimal(v.strip()) for k, v in pairs}


def tax_codes_of(rows: list[dict[str, Any]], rates: Any) -> list[RemoteTaxCode]:
    """VAT product posting groups with the rates the settings state (the API gives none)."""
    known = rates_of(rates)
    return [RemoteTaxCode(code=str(r["code"]), name=str(r.get("displayName") or ""), rate=known.get(str(r["code"]), Decimal(0)),
                          remote_id=str(r["code"])) for r in rows]  # fmt: skip
