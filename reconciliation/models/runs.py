"""Reconciliation runs, the exceptions they find, and payout-to-deposit matches."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.conf import settings
from django.db import models

from reconciliation.choices import ExceptionKind, ExceptionStatus, MatchMethod, RunKind, RunStatus

__all__ = ["Match", "ReconciliationException", "ReconciliationRun"]

MONEY: dict[str, Any] = {"max_digits": 18, "decimal_places": 4}


class ReconciliationRun(models.Model):
    """One run of the checks over a day or a period, with progress for the screens and counts.

    ``done``/``total`` count the checks completed; ``summary`` keeps each check's counts and the
    channel-day totals (sales system vs posted) shown on the run's page.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=10, choices=RunKind.choices, default=RunKind.DAILY)
    start = models.DateField()
    end = models.DateField()
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    transactions_checked = models.PositiveIntegerField(default=0)
    matches_made = models.PositiveIntegerField(default=0)
    exceptions_new = models.PositiveIntegerField(default=0, help_text="Exceptions this run opened.")
    exceptions_open = models.PositiveIntegerField(default=0, help_text="Exceptions open after the run.")
    exceptions_cleared = models.PositiveIntegerField(default=0, help_text="Exceptions no longer found.")
    summary = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gte=models.F("start")), name="run_period")
        ]

    def __str__(self) -> str:
        return f"Reconciliation {self.label} [{self.status}]"

    @property
    def label(self) -> str:
        """The day, or the period, in words."""
        return str(self.start) if self.start == self.end else f"{self.start} to {self.end}"

    @property
    def day(self) -> date | None:
        """The day of a daily run."""
        return self.start if self.start == self.end else None

    @property
    def percent(self) -> int:
        """Progress in percent."""
        return min(100, int(self.done * 100 / self.total)) if self.total else 0

    @property
    def finished(self) -> bool:
        """True once the run is done or failed (the screen stops polling)."""
        return self.status in (RunStatus.DONE, RunStatus.FAILED)


class ReconciliationException(models.Model):
    """A difference between sales system, ledger and bank that a person must look at.

    ``key`` names what the exception is about (kind + the object or channel-day) and is UNIQUE, so a
    re-run updates the open exception instead of adding another. A run that no longer finds the
    difference clears it (``auto_resolved``); a person resolves it with a note, or a finance manager
    writes it off.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=30, choices=ExceptionKind.choices)
    day = models.DateField(db_index=True, help_text="The business day (or due date) it concerns.")
    channel = models.ForeignKey(
        "integrator.Channel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    connection = models.ForeignKey(
        "integrator.LedgerConnection", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(max_length=3, blank=True)
    amount = models.DecimalField(null=True, blank=True, help_text="The amount at stake.", **MONEY)
    expected = models.DecimalField(null=True, blank=True, **MONEY)
    actual = models.DecimalField(null=True, blank=True, **MONEY)
    explanation = models.TextField()
    transaction = models.ForeignKey(
        "integrator.Transaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reconciliation_exceptions",
    )
    posting = models.ForeignKey(
        "integrator.Posting", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    bank_line = models.ForeignKey(
        "reconciliation.BankLine", on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions"
    )
    status = models.CharField(max_length=12, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN)
    auto_resolved = models.BooleanField(default=False, help_text="Cleared by a run, not by a person.")
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    first_run = models.ForeignKey(
        ReconciliationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_run = models.ForeignKey(
        ReconciliationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "kind"]
        permissions = [("write_off_reconciliationexception", "Can write off a reconciliation exception")]
        indexes = [models.Index(fields=["status", "kind"], name="recon_exc_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.day}"


class Match(models.Model):
    """A payout paired with the bank line of its deposit (each side at most once)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payout = models.OneToOneField(
        "integrator.Transaction", on_delete=models.PROTECT, related_name="bank_match"
    )
    bank_line = models.OneToOneField(
        "reconciliation.BankLine", on_delete=models.PROTECT, related_name="match"
    )
    method = models.CharField(max_length=10, choices=MatchMethod.choices, default=MatchMethod.AUTO)
    day_difference = models.SmallIntegerField(help_text="Bank date minus the payout's expected date.")
    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="matches"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.payout_id} <-> {self.bank_line_id}"
