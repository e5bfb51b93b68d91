"""Our ledger of intent: balanced journal entries made from transactions by a mapping version."""

from __future__ import annotations

import uuid

from django.db import models

from integrator.choices import EntryKind
from integrator.models.fields import money_field

__all__ = ["JournalEntry", "JournalLine"]


class JournalEntry(models.Model):
    """A balanced double-entry record, per currency. Records the mapping version that made it.

    Entries are never edited: a correction is a ``reversal`` entry (``reverses`` points at the
    original) plus a new entry. On PostgreSQL a deferrable constraint trigger refuses to commit an
    entry whose debits and credits differ (migration 0002).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=12, choices=EntryKind.choices, default=EntryKind.TRANSACTION)
    transaction = models.ForeignKey(
        "integrator.Transaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
    )
    transaction_revision = models.PositiveIntegerField(null=True, blank=True)
    channel = models.ForeignKey(
        "integrator.Channel", on_delete=models.PROTECT, related_name="journal_entries"
    )
    connection = models.ForeignKey(
        "integrator.LedgerConnection", on_delete=models.PROTECT, related_name="journal_entries"
    )
    mapping_version = models.ForeignKey(
        "integrator.MappingVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
    )
    reference = models.CharField(max_length=120, help_text="Our document number, unique per connection.")
    number = models.CharField(
        max_length=120,
        blank=True,
        help_text="The number the ledger shows: the source's own number where it has one.",
    )
    date = models.DateField(db_index=True)
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=255, blank=True)
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    summary = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="summarised_entries",
        help_text="For a transaction entry in daily-summary mode: the summary that carries it.",
    )
    superseded = models.BooleanField(default=False, help_text="A newer revision replaced this entry.")
    functional_currency = models.CharField(max_length=3, blank=True, help_text="The books' currency.")
    exchange_rate = models.DecimalField(
        max_digits=24,
        decimal_places=12,
        null=True,
        blank=True,
        help_text="Functional units per document unit.",
    )
    rate_source = models.CharField(max_length=10, blank=True, help_text="Where the rate came from.")
    rate_provider = models.CharField(max_length=60, blank=True)
    rate_date = models.DateField(null=True, blank=True)
    location = models.CharField(max_length=80, blank=True, help_text="The till's location (daily summaries).")
    register = models.CharField(max_length=80, blank=True, help_text="The till's register (daily summaries).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-date", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "reference"], name="uniq_journal_reference"),
        ]

    def __str__(self) -> str:
        return self.reference


class JournalLine(models.Model):
    """One leg of an entry: a positive amount on exactly one side, in a ledger account, with the
    mapping rule that chose the account (database CHECK constraints enforce the sides). The same
    amount in the functional currency sits beside it (``functional_debit``/``functional_credit``,
    at ``rate``); entries balance in both."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    account = models.ForeignKey(
        "integrator.LedgerAccount", on_delete=models.PROTECT, related_name="journal_lines"
    )
    debit = money_field(default=0)
    credit = money_field(default=0)
    currency = models.CharField(max_length=3)
    functional_debit = money_field(default=0)
    functional_credit = money_field(default=0)
    rate = models.DecimalField(
        max_digits=24,
        decimal_places=12,
        null=True,
        blank=True,
        help_text="Functional units per unit of this line.",
    )
    role = models.CharField(max_length=16)
    description = models.CharField(max_length=255, blank=True)
    tax_code = models.ForeignKey(
        "integrator.TaxCode", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tax_rate = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    item_ref = models.CharField(max_length=100, blank=True)
    quantity = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    unit_price = money_field(null=True, blank=True)
    mapping_rule = models.ForeignKey(
        "integrator.MappingRule", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["entry", "position"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(debit__gt=0, credit=0) | models.Q(debit=0, credit__gt=0)),
                name="journal_line_one_positive_side",
            ),
        ]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.account_id} {side}"
