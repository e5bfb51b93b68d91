"""API tokens for external tools (BI, scripts): named, scoped, expiring, revocable, stored hashed."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["ApiToken"]


class ApiToken(models.Model):
    """A bearer token for the REST API, acting as ``owner`` within ``scopes``.

    Only the SHA-256 of the token is stored; the plaintext is shown once, when it is created
    (``integrator.security.tokens.create_token``). ``prefix`` (the first characters of the token,
    e.g. ``itk_3fK9aQ2m``) identifies it on screens and in logs without revealing it. A token reads
    what its owner may read; it writes only with a write scope for the resource and the owner's
    permission. It stops working at ``expires_at`` or when revoked.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'Power BI export'.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_tokens",
        help_text="The user the token acts as; it never gets more than this user's permissions.",
    )
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown to identify the token.")
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token.")
    scopes = models.JSONField(default=list, help_text="'read' plus write scopes such as 'postings:write'.")
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        """Not revoked and not expired."""
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        """'active', 'expired' or 'revoked', for screens."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.expires_at > timezone.now() else "expired"
