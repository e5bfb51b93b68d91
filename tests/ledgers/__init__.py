"""Ledger targets end to end: the demo week posted to each vendor's sandbox and read back."""
