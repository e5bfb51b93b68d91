"""The audit trail and the integration log."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

__all__ = ["AuditEvent", "IntegrationCall"]


class AuditEvent(models.Model):
    """An append-only record of who changed or sent what, and when.

    Written only by ``integrator.services.audit.record``. Each row carries the SHA-256 hash of the
    previous row (``prev_hash``) and its own (``row_hash``), so a changed byte anywhere breaks the
    chain (``manage.py verify_audit``). On PostgreSQL a trigger refuses UPDATE and DELETE.
    """

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Username, 'system' or the worker's name.")
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}"


class IntegrationCall(models.Model):
    """One outbound vendor call (redacted), kept for the financial-records retention period."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.CharField(max_length=40)
    connection_key = models.CharField(max_length=80, blank=True)
    method = models.CharField(max_length=10)
    url = models.CharField(max_length=500)
    status = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=128, blank=True)
    request_body = models.JSONField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.method} {self.url} {self.status}"
