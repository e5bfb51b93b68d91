"""Reconciliation models (runs, bank statements, matches, exceptions) arrive with the
reconciliation issue; the app exists now so the layout matches the design."""
