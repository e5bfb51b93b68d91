"""Which mapping rule would release a held transaction, and which other channels wait for it too.

A transaction held as ``needs_mapping`` says in words what is missing ("SKU ADINKRA-STAMPS has no
revenue account"). :func:`suggested_rules` finds the rules themselves by drafting its journal
with a rule book that records every lookup that found nothing: for each, the most specific rule
first (the SKU), then broader ones (its category), so a clerk can open a draft change with the rule
already filled in. :func:`waiting_for` lists every mapping set of the same ledger holding
transactions that miss the same value, so one change can cover them all. Read-only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from integrator.choices import RuleKind, TransactionStatus
from integrator.models import MappingRule, MappingSet, MappingVersion, Transaction
from integrator.services.journal import NeedsMapping, Unbalanced, draft_lines
from integrator.services.mapping_changes.rules import ALLOWED_MATCH_FIELDS, current_version
from integrator.services.mappings import RuleBook, version_in_force
from integrator.services.transactions import document_of

__all__ = ["HeldByRule", "SuggestedRule", "suggested_rules", "waiting_for"]

#: Most specific first: the order in which a rule book tries the candidates (see RuleBook.find).
_ORDER = ("sku", "tax", "method", "category")
_FIELD_WORDS = {"sku": "SKU", "category": "category", "tax": "tax rate", "method": "payment method"}


@dataclass(frozen=True)
class SuggestedRule:
    """A rule that would map one missing value: its key and the reason the transaction gives."""

    kind: str
    match_field: str
    match_value: str
    reason: str

    @property
    def label(self) -> str:
        """E.g. "revenue account for SKU ADINKRA-STAMPS"."""
        kind = RuleKind(self.kind).label.split(" (")[0].lower()
        if self.match_field == "default":
            return f"default {kind} account"
        return f"{kind} account for {_FIELD_WORDS.get(self.match_field, self.match_field)} {self.match_value}"


@dataclass
class _Recording(RuleBook):
    """A rule book that remembers, for every lookup that found nothing, what it looked for."""

    wanted: list[tuple[str, dict[str, str], str]] = field(default_factory=list)

    def require(self, kind: str, what: str, **candidates: str) -> MappingRule | None:
        """Record the lookup's kind and candidates when no rule matches."""
        before = len(self.missing)
        rule = super().require(kind, what, **candidates)
        if rule is None:
            reason = self.missing[before] if len(self.missing) > before else f"{what} has no {kind} account"
            self.wanted.append((kind, candidates, reason))
        return rule


def _book_for(txn: Transaction) -> _Recording | None:
    """The rules the transaction is judged by: the version in force on its day, else the set's
    latest version, else none (a set without an approved version yet)."""
    channel = txn.channel
    connection = channel.ledger_connection
    if connection is None:
        return None
    mapping_set = MappingSet.objects.filter(channel=channel, connection=connection).first()
    if mapping_set is None:
        return None
    version = version_in_force(channel, connection, txn.business_date) or current_version(mapping_set)
    if version is None:
        version = MappingVersion(mapping_set=mapping_set, number=0, effective_from=txn.business_date)
        rules: dict[tuple[str, str, str], MappingRule] = {}
    else:
        rules = {
            (r.kind, r.match_field, r.match_value.lower()): r
            for r in version.rules.select_related("account", "tax_code")
        }
    return _Recording(version=version, discount_mode=mapping_set.discount_mode, rules=rules)


def suggested_rules(txn: Transaction) -> list[SuggestedRule]:
    """The rules that would map what a held transaction misses, most specific first per value."""
    if txn.status != TransactionStatus.NEEDS_MAPPING:
        return []
    book = _book_for(txn)
    if book is None:
        return []
    # What was missing is recorded; an unbalanced document is not a mapping matter.
    with contextlib.suppress(NeedsMapping, Unbalanced):
        draft_lines(document_of(txn), book)
    out: list[SuggestedRule] = []
    for kind, candidates, reason in book.wanted:
        allowed = ALLOWED_MATCH_FIELDS.get(kind, frozenset({"default"}))
        fields = [(f, candidates[f]) for f in _ORDER if candidates.get(f) and f in allowed]
        for match_field, value in fields or [("default", "")]:
            rule = SuggestedRule(kind, match_field, value, reason)
            if rule not in out:
                out.append(rule)
    return out


@dataclass
class HeldByRule:
    """A mapping set whose held transactions miss the same value, with how many and since when."""

    mapping_set: MappingSet
    count: int
    earliest: date
    numbers: list[str] = field(default_factory=list)


def waiting_for(reason: str, connection_id: Any) -> list[HeldByRule]:
    """Every mapping set of the ledger holding transactions that give ``reason``, largest first."""
    sets = {
        ms.channel_id: ms
        for ms in MappingSet.objects.filter(connection_id=connection_id).select_related(
            "channel", "connection"
        )
    }
    found: dict[Any, HeldByRule] = {}
    held = Transaction.objects.filter(status=TransactionStatus.NEEDS_MAPPING, channel_id__in=list(sets))
    for channel_id, reasons, day, number in held.values_list(
        "channel_id", "status_reasons", "business_date", "number"
    ).order_by("business_date"):
        if reason not in (reasons or []):
            continue
        entry = found.setdefault(channel_id, HeldByRule(sets[channel_id], 0, day))
        entry.count += 1
        entry.earliest = min(entry.earliest, day)
        if len(entry.numbers) < 5:
            entry.numbers.append(number)
    return sorted(found.values(), key=lambda h: (-h.count, h.mapping_set.channel.name))
