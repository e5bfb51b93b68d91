"""Cash and mobile-money takings paired with the bank or wallet statement line that banked them."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models

__all__ = ["ClearingMatch"]

MONEY: dict[str, Any] = {"max_digits": 18, "decimal_places": 4}


class ClearingMatch(models.Model):
    """A channel's takings of one method on one day (cash, M-Pesa ...) matched with the statement
    line that brought them to a bank or wallet account. Each side at most once: UNIQUE on the
    takings (channel, day, currency, method) and one-to-one on the line."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey("integrator.Channel", on_delete=models.PROTECT, related_name="+")
    day = models.DateField(help_text="The business day of the takings.")
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=60, help_text="The payment method (cash, mpesa ...).")
    amount = models.DecimalField(help_text="The takings matched (and the line's amount).", **MONEY)
    bank_line = models.OneToOneField(
        "reconciliation.BankLine", on_delete=models.PROTECT, related_name="clearing_match"
    )
    run = models.ForeignKey(
        "reconciliation.ReconciliationRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clearing_matches",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-day", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "day", "currency", "method"], name="uniq_clearing_match"
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.day} {self.amount} {self.currency} <-> {self.bank_line_id}"
