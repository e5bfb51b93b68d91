"""Sales channels: one per web shop, till or gateway account."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from integrator.choices import PostingMode
from integrator.crypto import EncryptedJSONField

__all__ = ["Channel"]


class Channel(models.Model):
    """A sales channel: a platform account (a Shopify shop, a Square location, a Stripe account,
    a Prysm till) whose sales flow into one ledger connection.

    ``credentials`` and ``webhook_secrets`` are encrypted at rest. ``webhook_secrets`` is a list,
    current first, so a rotated secret keeps working during the vendor's rotation window; the
    previous ones stop being accepted at ``previous_secrets_expire_at`` (see :meth:`secrets`).

    A channel is never deleted once it has events or transactions: it is disabled (``active``
    false: webhooks are refused, nothing is pulled) or archived (``archived_at``: also hidden from
    the working screens), and its history stays.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.CharField(max_length=40, help_text="Connector slug, e.g. shopify, stripe, generic.")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True, help_text="Used in the webhook URL /hooks/<slug>/.")
    timezone = models.CharField(max_length=64, default="UTC", help_text="Business day boundaries.")
    currency = models.CharField(max_length=3, help_text="The channel's (shop's) currency.")
    posting_mode = models.CharField(
        max_length=20, choices=PostingMode.choices, default=PostingMode.PER_TRANSACTION
    )
    ledger_connection = models.ForeignKey(
        "integrator.LedgerConnection",
        on_delete=models.PROTECT,
        related_name="channels",
        null=True,
        blank=True,
    )
    base_url = models.URLField(blank=True, help_text="Vendor API base URL (sandbox or production).")
    credentials = EncryptedJSONField(null=True, blank=True)
    webhook_secrets = EncryptedJSONField(null=True, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    archived_at = models.DateTimeField(null=True, blank=True, help_text="Archived: kept for history only.")
    previous_secrets_expire_at = models.DateTimeField(
        null=True, blank=True, help_text="When the previous webhook secret(s) stop being accepted."
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.platform})"

    def secrets(self, now: datetime | None = None) -> tuple[str, ...]:
        """Webhook secrets accepted now, current first: the previous ones only until their grace
        period ends (expired on read, so no scheduled task has to run first)."""
        value: Any = self.webhook_secrets or []
        found = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
        expiry = self.previous_secrets_expire_at
        if len(found) > 1 and expiry is not None and (now or timezone.now()) >= expiry:
            return found[:1]
        return found
