"""Reconciliation services: every write of the app goes through a function here (atomic, audited)."""
