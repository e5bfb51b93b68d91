"""Models of reconciliation: bank accounts and statements, runs, exceptions, payout and clearing matches."""

from reconciliation.models.banking import BankAccount, BankLine, BankStatement
from reconciliation.models.clearing import ClearingMatch
from reconciliation.models.runs import Match, ReconciliationException, ReconciliationRun

__all__ = [
    "BankAccount",
    "BankLine",
    "BankStatement",
    "ClearingMatch",
    "Match",
    "ReconciliationException",
    "ReconciliationRun",
]
