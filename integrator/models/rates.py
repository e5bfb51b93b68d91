"""Exchange rates: what one currency is worth in another on a day, and where that figure came from."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from integrator.choices import RateSource

__all__ = ["ExchangeRate"]


class ExchangeRate(models.Model):
    """One unit of ``base`` is worth ``rate`` units of ``quote`` on ``day``.

    ``source`` says where it came from (docs/accounting-model.md, "Exchange rates"): the ledger's
    own rate (kept per ``connection``), a reference table (the ECB's euro reference rates; fixed
    pegs are built in, not stored) or a person (``manual``, audited). The rate a source system
    states travels with its document and is kept on the journal entry, not here.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    day = models.DateField(db_index=True)
    rate = models.DecimalField(max_digits=24, decimal_places=12)
    source = models.CharField(max_length=10, choices=RateSource.choices)
    provider = models.CharField(max_length=60, blank=True, help_text="ECB, QuickBooks, a person's name ...")
    connection = models.ForeignKey(
        "integrator.LedgerConnection",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="exchange_rates",
        help_text="For a ledger's own rate: the ledger connection it belongs to.",
    )
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day", "base", "quote"]
        constraints = [
            # Two partial constraints rather than NULLS NOT DISTINCT, which SQLite does not have:
            # one rate per pair, day and origin for a connection, and one for the shared table.
            models.UniqueConstraint(
                fields=["base", "quote", "day", "source", "connection"],
                condition=models.Q(connection__isnull=False),
                name="uniq_exchange_rate",
            ),
            models.UniqueConstraint(
                fields=["base", "quote", "day", "source"],
                condition=models.Q(connection__isnull=True),
                name="uniq_exchange_rate_shared",
            ),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchange_rate_positive"),
        ]
        indexes = [models.Index(fields=["base", "quote", "source", "day"], name="rate_lookup_idx")]

    def __str__(self) -> str:
        return f"1 {self.base} = {self.rate} {self.quote} on {self.day} ({self.source})"
