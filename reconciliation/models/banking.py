"""Bank accounts, imported statements and their lines (the bank's side of the story)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from reconciliation.choices import StatementFormat

__all__ = ["BankAccount", "BankLine", "BankStatement"]

MONEY: dict[str, Any] = {"max_digits": 18, "decimal_places": 4}


class BankAccount(models.Model):
    """A bank account whose statements we import, tied to the ledger account that mirrors it.

    Payout deposits are looked for in the bank accounts of the payout channel's ledger connection,
    in the payout's currency. ``csv_format`` configures the CSV importer for this bank's layout
    (see ``reconciliation.importers.csv_format.CSVFormat``); ``account_number`` (IBAN or the
    bank's number), when set, must match the account named inside OFX and CAMT.053 files.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    connection = models.ForeignKey(
        "integrator.LedgerConnection", on_delete=models.PROTECT, related_name="bank_accounts"
    )
    ledger_account = models.ForeignKey(
        "integrator.LedgerAccount", on_delete=models.PROTECT, related_name="bank_accounts"
    )
    currency = models.CharField(max_length=3)
    account_number = models.CharField(
        max_length=64, blank=True, help_text="IBAN or account number, checked against OFX and CAMT files."
    )
    csv_format = models.JSONField(default=dict, blank=True, help_text="CSV column layout of this bank.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["connection", "name"], name="uniq_bank_account_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class BankStatement(models.Model):
    """One imported statement file. UNIQUE(bank_account, checksum): the same file twice is refused.

    The file itself is kept (``content``) so an import can be re-read and audited later.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="statements")
    format = models.CharField(max_length=10, choices=StatementFormat.choices)
    filename = models.CharField(max_length=255)
    content = models.BinaryField(editable=False)
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the file.")
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    opening_balance = models.DecimalField(null=True, blank=True, **MONEY)
    closing_balance = models.DecimalField(null=True, blank=True, **MONEY)
    line_count = models.PositiveIntegerField(default=0, help_text="Lines read from the file.")
    imported_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0, help_text="Lines already known, skipped.")
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="Row-level errors and skipped rows.")
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["bank_account", "checksum"], name="uniq_statement_checksum")
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.period_start} to {self.period_end})"


class BankLine(models.Model):
    """One booked line of a bank statement. ``amount`` is signed: positive is money in.

    ``line_hash`` identifies the line across files (the bank's own id when it gives one, else the
    line's content and its occurrence number among identical lines of the file), and is UNIQUE per
    bank account, so overlapping statements never import a line twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="lines")
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="lines")
    row = models.PositiveIntegerField(help_text="Row or entry number in the statement file.")
    date = models.DateField(help_text="Booking date.")
    value_date = models.DateField(null=True, blank=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=500, blank=True)
    reference = models.CharField(max_length=140, blank=True)
    bank_reference = models.CharField(max_length=140, blank=True, help_text="FITID / AcctSvcrRef.")
    counterparty = models.CharField(max_length=200, blank=True)
    line_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "row"]
        constraints = [
            models.UniqueConstraint(fields=["bank_account", "line_hash"], name="uniq_bank_line_hash")
        ]
        indexes = [
            models.Index(fields=["bank_account", "date"], name="bank_line_date_idx"),
            models.Index(fields=["currency", "amount"], name="bank_line_amount_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.amount} {self.currency} {self.description[:40]}"
