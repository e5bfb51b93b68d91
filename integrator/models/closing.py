"""Period close: a month of a ledger connection, closed with its checks, or reopened."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from integrator.choices import PeriodCloseStatus

__all__ = ["PeriodClose"]


class PeriodClose(models.Model):
    """One closing of a month (``period_start`` .. ``period_end``) of a ledger connection.

    Closing moves the connection's ``lock_date`` to ``period_end``; ``checks`` keeps what the checks
    found at that moment (each green, or failing with the closer's explanation), so the record says
    why the books were closed as they were. Reopening (a finance manager, with a reason) moves the
    lock date back to the day before ``period_start`` and marks this row and any later closed
    month as reopened. Rows are never deleted: a month closed, reopened and closed again has two.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(
        "integrator.LedgerConnection", on_delete=models.PROTECT, related_name="period_closes"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(
        max_length=10, choices=PeriodCloseStatus.choices, default=PeriodCloseStatus.CLOSED
    )
    checks: Any = models.JSONField(default=list, blank=True)
    previous_lock_date = models.DateField(null=True, blank=True, help_text="Our lock date before closing.")
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField()
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period_end", "-closed_at"]
        permissions = [("reopen_periodclose", "Can reopen a closed period")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")), name="period_close_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.period_start:%b %Y} ({self.status})"
