"""The outbox: one Posting per (ledger connection, journal entry), with its attempts."""

from __future__ import annotations

import uuid

from django.db import models

from integrator.choices import PostingState

__all__ = ["Posting", "PostingAttempt"]


class Posting(models.Model):
    """An entry to send to a ledger, exactly once.

    ``idempotency_key`` is fixed at creation and re-sent on every attempt (UNIQUE). Workers claim
    due rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a lease; a lease that runs out while
    ``sending`` means the worker died mid-call, so the posting becomes ``uncertain`` and is resolved
    by a look-up by reference before anything is re-sent.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(
        "integrator.LedgerConnection", on_delete=models.PROTECT, related_name="postings"
    )
    entry = models.OneToOneField("integrator.JournalEntry", on_delete=models.PROTECT, related_name="posting")
    idempotency_key = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=10, choices=PostingState.choices, default=PostingState.PENDING)
    posting_date = models.DateField(help_text="The date sent to the ledger (moved if the period was closed).")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    remote_id = models.CharField(max_length=120, blank=True)
    remote_number = models.CharField(max_length=120, blank=True)
    last_error = models.TextField(blank=True)
    error_class = models.CharField(max_length=20, blank=True)
    note = models.TextField(blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the ledger's copy was last read back."
    )
    readback = models.JSONField(
        null=True,
        blank=True,
        help_text="The last read-back: ok, the differences in words, and both views per account and tax code.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="posting_due_idx")]

    def __str__(self) -> str:
        return f"{self.entry_id} [{self.state}]"


class PostingAttempt(models.Model):
    """One try at sending a posting: what we sent (redacted), what came back, how it was classified."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    posting = models.ForeignKey(Posting, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    action = models.CharField(
        max_length=10, choices=[("send", "Send"), ("lookup", "Look up")], default="send"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, blank=True)
    error_class = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)
    request = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    worker = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["posting", "number"]

    def __str__(self) -> str:
        return f"#{self.number} {self.outcome}"
