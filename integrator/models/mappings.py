"""Chart-of-accounts mappings: versioned rule sets per (channel, ledger connection)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from integrator.choices import MappingVersionStatus, RuleKind

__all__ = ["MappingRule", "MappingSet", "MappingVersion"]


class MappingSet(models.Model):
    """The mappings of one channel into one ledger connection. Its versions are immutable once
    active; the version in force for a date is the active one with the latest effective date on or
    before it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey("integrator.Channel", on_delete=models.CASCADE, related_name="mapping_sets")
    connection = models.ForeignKey(
        "integrator.LedgerConnection", on_delete=models.CASCADE, related_name="mapping_sets"
    )
    discount_mode = models.CharField(
        max_length=10,
        choices=[("net", "Net into revenue"), ("contra", "Contra-revenue account")],
        default="contra",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "connection"], name="uniq_mapping_set")]

    def __str__(self) -> str:
        return f"{self.channel} -> {self.connection}"


class MappingVersion(models.Model):
    """A numbered, immutable-once-active set of rules with an effective-from date."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mapping_set = models.ForeignKey(MappingSet, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=MappingVersionStatus.choices, default=MappingVersionStatus.DRAFT
    )
    effective_from = models.DateField()
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["mapping_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["mapping_set", "number"], name="uniq_mapping_version_number")
        ]

    def __str__(self) -> str:
        return f"v{self.number} from {self.effective_from}"


class MappingRule(models.Model):
    """One rule: for values of ``kind`` matching (``match_field``, ``match_value``), use
    ``account`` (and ``tax_code`` / ``item_ref``). ``match_field`` is ``sku``, ``category``,
    ``tax`` (rate title), ``method`` (payment method or gateway) or ``default``; the most specific
    rule wins (sku over category over default)."""

    MATCH_FIELDS = [
        ("sku", "SKU"),
        ("category", "Category"),
        ("tax", "Tax rate title"),
        ("method", "Payment method / gateway"),
        ("default", "Default"),
    ]
    SPECIFICITY = {"sku": 0, "tax": 0, "method": 0, "category": 1, "default": 2}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(MappingVersion, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    match_field = models.CharField(max_length=10, choices=MATCH_FIELDS, default="default")
    match_value = models.CharField(max_length=120, blank=True)
    account = models.ForeignKey("integrator.LedgerAccount", on_delete=models.PROTECT, related_name="+")
    tax_code = models.ForeignKey(
        "integrator.TaxCode", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    item_ref = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["version", "kind", "match_field", "match_value"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "kind", "match_field", "match_value"], name="uniq_mapping_rule"
            )
        ]

    def __str__(self) -> str:
        target = self.match_value or "*"
        return f"{self.kind} {self.match_field}={target} -> {self.account_id}"


def _touch_channel(channel_id: Any) -> None:
    """Give the channel a new ``updated_at``: the stamp that per-process caches of the versions in
    force are keyed with (``integrator.services.mappings.version_in_force``), so every process
    reloads them after a mapping set, version or rule changes (in the same database transaction)."""
    from django.utils import timezone

    from integrator.models.channels import Channel

    Channel.objects.filter(pk=channel_id).update(updated_at=timezone.now())


@receiver([post_save, post_delete], sender=MappingSet)
def _mapping_set_changed(sender: type, instance: MappingSet, **kwargs: object) -> None:
    _touch_channel(instance.channel_id)


@receiver([post_save, post_delete], sender=MappingVersion)
def _mapping_version_changed(sender: type, instance: MappingVersion, **kwargs: object) -> None:
    channel_id = (
        MappingSet.objects.filter(pk=instance.mapping_set_id).values_list("channel_id", flat=True).first()
    )
    if channel_id is not None:
        _touch_channel(channel_id)


@receiver([post_save, post_delete], sender=MappingRule)
def _mapping_rule_changed(sender: type, instance: MappingRule, **kwargs: object) -> None:
    channel_id = (
        MappingVersion.objects.filter(pk=instance.version_id)
        .values_list("mapping_set__channel_id", flat=True)
        .first()
    )
    if channel_id is not None:
        _touch_channel(channel_id)
