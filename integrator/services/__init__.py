"""Services: every write goes through a function here (atomic, audited, side effects on commit)."""
