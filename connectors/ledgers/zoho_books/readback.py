"""Reading a posted document back from Zoho Books, in the read-back check's terms.

Amounts are signed (debit positive) per account code and tax id, as
:mod:`connectors.ledgers.common.readback` wants them: an invoice credits the account of each
line's item and each tax, and debits Accounts Receivable with its total; its payments debit the
money account and credit the receivable. A credit note does the opposite, its refunds credit the
money account, and its application to an invoice moves receivable to receivable (nothing). A
transfer debits the bank and credits the clearing account; a fee expense debits its account and
credits the account it was paid through; a journal's lines are what they say.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connectors.base import LedgerView, PostResult
from connectors.ledgers.common import make_view

if TYPE_CHECKING:
    from connectors.ledgers.zoho_books.target import ZohoBooksTarget

__all__ = ["read_back_view"]


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def read_back_view(target: ZohoBooksTarget, result: PostResult) -> LedgerView:
    """The LedgerView of what Zoho holds for a PostResult (its main document and its parts)."""
    facts = target.facts()
    code_of = {str(a.get("account_id")): code for code, a in facts.accounts.items()}
    ar = next((c for c, a in facts.accounts.items() if a.get("account_type") == "accounts_receivable"), "AR")
    kind = str(result.raw.get("entity") or "")
    accounts: list[tuple[str, Decimal]] = []
    taxes: list[tuple[str, Decimal]] = []
    currency = facts.base_currency
    rid = result.remote_id
    if kind in ("invoice", "creditnote"):
        row = target.get(f"{kind}s/{rid}", kind)
        currency = str(row.get("currency_code") or currency)
        sign = Decimal(-1) if kind == "invoice" else Decimal(1)
        for line in row.get("line_items") or []:
            account = str(line.get("account_id") or target.item_account(str(line.get("item_id"))))
            amount = _dec(line.get("item_total")) or _dec(line.get("rate")) * _dec(line.get("quantity") or 1)
            accounts.append((code_of.get(account, account), sign * amount))
        for tax_id, amount in target._taxes_of(row).items():
            taxes.append((tax_id, sign * amount))
        accounts.append((ar, -sign * _dec(row.get("total"))))
        if kind == "invoice":
            for payment_id in result.raw.get("payment_ids") or []:
                payment = target.get(f"customerpayments/{payment_id}", "payment")
                amount = _dec(payment.get("amount"))
                accounts += [(code_of.get(str(payment.get("account_id")), ""), amount), (ar, -amount)]
        else:
            for refund_id in result.raw.get("refund_ids") or []:
                refund = target.get(f"creditnotes/{rid}/refunds/{refund_id}", "creditnote_refund")
                amount = _dec(refund.get("amount_fcy") or refund.get("amount"))
                accounts += [(code_of.get(str(refund.get("from_account_id")), ""), -amount), (ar, amount)]
    elif kind == "customerpayment":
        payment = target.get(f"customerpayments/{rid}", "payment")
        currency = str(payment.get("currency_code") or currency)
        amount = _dec(payment.get("amount"))
        accounts += [(code_of.get(str(payment.get("account_id")), ""), amount), (ar, -amount)]
    elif kind == "banktransaction":
        txn = target.get(f"banktransactions/{rid}", "banktransaction")
        currency = str(txn.get("currency_code") or currency)
        amount = _dec(txn.get("amount") or txn.get("total"))
        accounts += [(code_of.get(str(txn.get("to_account_id")), ""), amount),
                     (code_of.get(str(txn.get("from_account_id")), ""), -amount)]  # fmt: skip
        for expense_id in result.raw.get("extra_ids") or []:
            expense = target.get(f"expenses/{expense_id}", "expense")
            fee = _dec(expense.get("total") or expense.get("amount"))
            accounts += [(code_of.get(str(expense.get("account_id")), ""), fee),
                         (code_of.get(str(expense.get("paid_through_account_id")), ""), -fee)]  # fmt: skip
    else:
        journal = target.get(f"journals/{rid}", "journal")
        currency = str(journal.get("currency_code") or currency)
        for line in journal.get("line_items") or []:
            sign = Decimal(1) if line.get("debit_or_credit") == "debit" else Decimal(-1)
            accounts.append((code_of.get(str(line.get("account_id")), ""), sign * _dec(line.get("amount"))))
    return make_view(currency, accounts, taxes, (f"{kind} {rid}",))
