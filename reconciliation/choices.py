"""Choices of the reconciliation app (models, services, API and screens share them)."""

from django.db import models

__all__ = ["ExceptionKind", "ExceptionStatus", "MatchMethod", "RunKind", "RunStatus", "StatementFormat"]


class StatementFormat(models.TextChoices):
    """File formats a bank statement can be imported from."""

    CSV = "csv", "CSV (configurable columns)"
    OFX = "ofx", "OFX (SGML 1.x or XML 2.x)"
    CAMT053 = "camt053", "ISO 20022 CAMT.053"


class RunKind(models.TextChoices):
    """A reconciliation run covers one day or a period of days."""

    DAILY = "daily", "One day"
    PERIOD = "period", "A period"


class RunStatus(models.TextChoices):
    """Life of a reconciliation run."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ExceptionKind(models.TextChoices):
    """What a reconciliation exception is about."""

    UNPOSTED_TRANSACTION = "unposted_transaction", "Transaction not posted"
    AMOUNT_MISMATCH = "amount_mismatch", "Amounts differ"
    MISSING_IN_LEDGER = "missing_in_ledger", "Missing in the ledger"
    MISSING_IN_SOURCE = "missing_in_source", "In the ledger, unknown to the integrator"
    PAYOUT_NOT_DEPOSITED = "payout_not_deposited", "Payout not deposited"
    DEPOSIT_WITHOUT_PAYOUT = "deposit_without_payout", "Deposit without payout"
    INVOICE_UNPAID = "invoice_unpaid", "Invoice unpaid after its due date"
    CLEARING_UNMATCHED = "clearing_unmatched", "Cash or wallet takings not yet banked"
    CASH_OVER_SHORT = "cash_over_short", "Cash over/short not yet confirmed by a deposit"


class ExceptionStatus(models.TextChoices):
    """Where an exception stands."""

    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    WRITTEN_OFF = "written_off", "Written off"


class MatchMethod(models.TextChoices):
    """How a payout and a bank line were paired."""

    AUTO = "auto", "Same amount and currency within the date window"
    MANUAL = "manual", "Paired by a person"
