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
    "clear_mapping_cache",
    "create_version",
    "version_in_force",
]

#: Per process: the active versions of a (channel, connection), keyed with the channel's
#: ``updated_at``, and the rules of an active version, keyed by its id and activation time (see
#: :func:`version_in_force`).
_ACTIVE_VERSIONS: dict[tuple[Any, Any, Any], list[MappingVersion]] = {}
_RULES: dict[tuple[Any, Any], dict[tuple[str, str, str], MappingRule]] = {}
_CACHE_LIMIT = 512


def clear_mapping_cache() -> None:
    """Forget every cached version list and rule book of this process."""
    _ACTIVE_VERSIONS.clear()
    _RULES.clear()


def version_in_force(
    channel: Channel, connection: LedgerConnection, on: date, *, cached: bool = False
) -> MappingVersion | None:
    """The active version with the latest effective date on or before ``on``.

    With ``cached=True`` (the spine: 500 sales of one channel load the versions once) the active
    versions of the (channel, connection) are remembered per process, keyed with the channel's
    ``updated_at`` as the caller loaded it. That stamp is the invalidation: activating a version
    (and any save or delete of a mapping set, version or rule) touches the channel in the same
    database transaction (``integrator.models.mappings``), so a process that reads the channel row
    after the activation committed sees a new stamp and reloads; one that read it before could not
    have seen the new version anyway. Active versions are never edited (only drafts are), so the
    versions and their rules need no other invalidation. The caller must pass a channel loaded in
    its own transaction (``advance_transaction`` does: it locks the transaction with its channel).
    """
    if cached:
        key = (channel.pk, connection.pk, channel.updated_at)
        versions = _ACTIVE_VERSIONS.get(key)
        if versions is None:
            versions = list(
                MappingVersion.objects.filter(
                    mapping_set__channel_id=channel.pk,
                    mapping_set__connection_id=connection.pk,
                    status=MappingVersionStatus.ACTIVE,
                )
                .select_related("mapping_set__channel")
                .order_by("-effective_from", "-number")
            )
            if len(_ACTIVE_VERSIONS) >= _CACHE_LIMIT:
                _ACTIVE_VERSIONS.clear()
            _ACTIVE_VERSIONS[key] = versions
        return next((v for v in versions if v.effective_from <= on), None)
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
    def load(cls, version: MappingVersion, *, cached: bool = False) -> RuleBook:
        """Load a version's rules (one query).

        With ``cached=True`` an ACTIVE version's rules are remembered per process by version id
        and activation time (an active version's rules never change); each call still gets a book
        of its own, with an empty ``missing`` list. A draft is always read afresh."""
        key = (version.pk, version.activated_at)  # an activation rolled back and redone is another
        rules = _RULES.get(key) if cached else None
        if rules is None:
            rules = {
                (r.kind, r.match_field, r.match_value.lower()): r
                for r in version.rules.select_related("account", "tax_code")
            }
            if cached and version.status == MappingVersionStatus.ACTIVE:
                if len(_RULES) >= _CACHE_LIMIT:
                    _RULES.clear()
                _RULES[key] = rules
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
        # The stamp every process's cache of versions in force is keyed with (version_in_force).
        Channel.objects.filter(pk=locked.mapping_set.channel_id).update(updated_at=timezone.now())
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
