"""Reconciliation: sales system vs ledger vs bank; every difference is an exception a person resolves."""
