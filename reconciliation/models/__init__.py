"""Models of reconciliation: bank accounts and statements, runs, exceptions and matches."""

from reconciliation.models.banking import BankAccount, BankLine, BankStatement
from reconciliation.models.runs import Match, ReconciliationException, ReconciliationRun

__all__ = [
    "BankAccount",
    "BankLine",
    "BankStatement",
    "Match",
    "ReconciliationException",
    "ReconciliationRun",
]
