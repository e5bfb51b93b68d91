"""Mapping versions: which version is in force for a date, rule matching, activation.

The approval workflow (maker-checker change requests) builds on :func:`activate_version`; here a
version is activated by a service call, audited, and held transactions are retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrator.choices import MappingVersionStatus, RuleKind
from integrator.models import Channel, LedgerConnection, MappingRule, MappingSet, MappingVersion
from integrator.services import audit

__all__ = [
    "RuleBook",
    "activate_version",
    "create_version",
    "version_in_force",
]


def version_in_force(channel: Channel, connection: LedgerConnection, on: date) -> MappingVersion | None:
    """The active version with the latest effective date on or before ``on``."""
    return (
        MappingVersion.objects.filter(
            mapping_set__channel=channel,
            mapping_set__connection=connection,
            status=MappingVersionStatus.ACTIVE,
            effective_from__lte=on,
        )
        .order_by("-effective_from", "-number")
        .first()
    )


@dataclass
class RuleBook:
    """The rules of one version, indexed for matching: most specific first (SKU over category over
    default). ``missing`` collects what could not be mapped, in words for the held-transaction list."""

    version: MappingVersion
    discount_mode: str
    rules: dict[tuple[str, str, str], MappingRule]
    missing: list[str] = field(default_factory=list)
    #: Book tenders' processing fees with the sale (a platform without payouts).
    fees_at_sale: bool = False

    @classmethod
    def load(cls, version: MappingVersion) -> RuleBook:
        """Load a version's rules (one query)."""
        rules = {
            (r.kind, r.match_field, r.match_value.lower()): r
            for r in version.rules.select_related("account", "tax_code")
        }
        return cls(
            version=version,
            discount_mode=version.mapping_set.discount_mode,
            rules=rules,
            fees_at_sale=_fees_at_sale(version.mapping_set.channel.platform),
        )

    def find(self, kind: str, **candidates: str) -> MappingRule | None:
        """The most specific rule of ``kind`` matching the candidates (sku, category, tax, method)."""
        ordered = sorted(candidates.items(), key=lambda kv: MappingRule.SPECIFICITY.get(kv[0], 1))
        for match_field, value in ordered:
            if value:
                rule = self.rules.get((kind, match_field, value.lower()))
                if rule is not None:
                    return rule
        return self.rules.get((kind, "default", ""))

    def require(self, kind: str, what: str, **candidates: str) -> MappingRule | None:
        """Like :meth:`find`, but records a readable reason when nothing matches."""
        rule = self.find(kind, **candidates)
        if rule is None:
            label = RuleKind(kind).label.split(" (")[0].lower()
            reason = f"{what} has no {label} account"
            if reason not in self.missing:
                self.missing.append(reason)
        return rule


def _fees_at_sale(platform: str) -> bool:
    """Whether a platform's sales book their processing fees (it publishes no payouts)."""
    from connectors.base import sales_source_class

    try:
        return bool(sales_source_class(platform).fees_at_sale)
    except Exception:  # an unknown or retired platform: fees come from payouts as usual
        return False


def create_version(
    mapping_set: MappingSet,
    *,
    effective_from: date,
    rules: list[dict[str, Any]],
    actor: Any = None,
    note: str = "",
) -> MappingVersion:
    """Create a draft version with its rules (each a dict of MappingRule fields)."""
    with transaction.atomic():
        last = mapping_set.versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = MappingVersion.objects.create(
            mapping_set=mapping_set,
            number=last + 1,
            effective_from=effective_from,
            note=note,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        MappingRule.objects.bulk_create(MappingRule(version=version, **r) for r in rules)
        audit.record(
            "mapping_version.created",
            obj=version,
            after={"number": version.number, "effective_from": effective_from, "rules": len(rules)},
            actor=actor,
        )
    return version


def activate_version(version: MappingVersion, *, actor: Any = None) -> MappingVersion:
    """Make a draft version active (audited) and retry transactions held for want of a mapping.

    Versions are never edited after activation; a later version with a later effective date takes
    over from that date, and earlier dates keep the version that was in force.
    """
    with transaction.atomic():
        locked = MappingVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status == MappingVersionStatus.ACTIVE:
            return locked
        before = audit.snapshot(locked, ["status", "activated_at"])
        locked.status = MappingVersionStatus.ACTIVE
        locked.activated_at = timezone.now()
        if getattr(actor, "is_authenticated", False):
            locked.approved_by = actor
        locked.save(update_fields=["status", "activated_at", "approved_by"])
        audit.record(
            "mapping_version.activated",
            obj=locked,
            before=before,
            after=audit.snapshot(locked, ["status", "activated_at"]),
            actor=actor,
        )
        channel_id = locked.mapping_set.channel_id

        def retry_held() -> None:
            from integrator.services.pipeline import retry_held_transactions

            retry_held_transactions(channel_id=channel_id)

        transaction.on_commit(retry_held)
    return locked
