"""Alerts for people: dead letters, re-authorisation, call budgets, reconciliation, stock."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from integrator.choices import AlertKind, AlertSeverity

__all__ = ["Alert", "AlertPreference"]


class Alert(models.Model):
    """Something a person must look at, raised once per cause.

    ``cause_key`` names the cause (``posting:<id>``, ``budget:<connection>:<day>`` ...). At most
    one *open* alert exists per (kind, cause): raising it again while it is open changes nothing
    and sends nothing. It closes (``resolved_at``) when the cause goes away; the same cause coming
    back later is a new alert.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    cause_key = models.CharField(max_length=200)
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    title = models.CharField(max_length=200)
    message = models.TextField()
    url = models.CharField(max_length=300, blank=True, help_text="Where to act (a path on this site).")
    raised_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    emailed_to = models.PositiveIntegerField(default=0, help_text="How many people were e-mailed.")

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "cause_key"],
                condition=models.Q(resolved_at__isnull=True),
                name="uniq_open_alert",
            )
        ]
        indexes = [models.Index(fields=["resolved_at", "kind"], name="alert_open_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class AlertPreference(models.Model):
    """One person's choice for one kind of alert: by e-mail, on the dashboard, both or neither.
    Without a row the role's default applies (integrator.services.alerts.DEFAULT_RECIPIENTS)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_preferences"
    )
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    email = models.BooleanField(default=True)
    dashboard = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "kind"]
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="uniq_alert_preference")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}"
