"""The built-in ledger's own books (for users without an external accounting system, and the demo).

The built-in ledger is a LedgerTarget like any other (``connectors/ledgers/builtin.py``): postings
reach these tables through the same outbox, with the same idempotency key and look-up by reference.
"""

from __future__ import annotations

import uuid

from django.db import models

from integrator.models.fields import money_field

__all__ = ["BookEntry", "BookLine"]


class BookEntry(models.Model):
    """A posted document in the built-in ledger. UNIQUE(connection, reference) and
    UNIQUE(connection, idempotency_key) make a repeated post return the first document."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(
        "integrator.LedgerConnection", on_delete=models.PROTECT, related_name="book_entries"
    )
    number = models.PositiveIntegerField()
    reference = models.CharField(max_length=120)
    idempotency_key = models.CharField(max_length=64)
    kind = models.CharField(max_length=12)
    date = models.DateField(db_index=True)
    currency = models.CharField(max_length=3)
    functional_currency = models.CharField(max_length=3, blank=True)
    exchange_rate = models.DecimalField(max_digits=24, decimal_places=12, null=True, blank=True)
    memo = models.CharField(max_length=255, blank=True)
    posted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connection", "number"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "reference"], name="uniq_book_reference"),
            models.UniqueConstraint(fields=["connection", "idempotency_key"], name="uniq_book_idempotency"),
            models.UniqueConstraint(fields=["connection", "number"], name="uniq_book_number"),
        ]

    def __str__(self) -> str:
        return f"BK-{self.number:06d} {self.reference}"


class BookLine(models.Model):
    """A line of a built-in ledger document, by account code, in its currency and in the books'
    functional currency."""

    entry = models.ForeignKey(BookEntry, on_delete=models.CASCADE, related_name="lines")
    account_code = models.CharField(max_length=40)
    description = models.CharField(max_length=255, blank=True)
    debit = money_field(default=0)
    credit = money_field(default=0)
    currency = models.CharField(
        max_length=3, blank=True, help_text="The line's currency (blank: the entry's)."
    )
    functional_debit = money_field(default=0)
    functional_credit = money_field(default=0)
    tax_code = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["entry", "id"]

    def __str__(self) -> str:
        return f"{self.account_code} {self.debit or -self.credit}"
