"""Rules of a mapping change: identity, validation, diff against the active version, and the rule
list a change would produce. Pure reads, shared by the workflow, the review helpers, the screens, the
API and the rules import."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from integrator.choices import AccountType, MappingVersionStatus, RuleKind
from integrator.models import (
    LedgerAccount,
    MappingChangeItem,
    MappingChangeRequest,
    MappingRule,
    MappingSet,
    MappingVersion,
    TaxCode,
)
from integrator.models.mapping_changes import ChangeAction

__all__ = [
    "ALLOWED_MATCH_FIELDS",
    "EXPECTED_TYPES",
    "ItemCheck",
    "ItemInvalid",
    "MappingChangeError",
    "RuleKey",
    "active_rules",
    "business_today",
    "change_diff",
    "change_sets",
    "check_item",
    "current_version",
    "proposed_rules",
    "rule_key",
    "rule_view",
    "rules_of",
]

RuleKey = tuple[str, str, str]

_PRODUCT_FIELDS = frozenset({"sku", "category", "default"})
#: Which match fields the journal consults for each kind of rule (anything else would never match).
ALLOWED_MATCH_FIELDS: dict[str, frozenset[str]] = {
    RuleKind.REVENUE: _PRODUCT_FIELDS,
    RuleKind.DISCOUNT: _PRODUCT_FIELDS,
    RuleKind.RETURNS: _PRODUCT_FIELDS,
    RuleKind.COGS: _PRODUCT_FIELDS,
    RuleKind.INVENTORY: _PRODUCT_FIELDS,
    RuleKind.TAX: frozenset({"tax", "default"}),
    RuleKind.CLEARING: frozenset({"method", "default"}),
}
#: Account types a rule usually points at; anything else is a warning, not an error.
EXPECTED_TYPES: dict[str, frozenset[str]] = {
    RuleKind.REVENUE: frozenset({AccountType.REVENUE}),
    RuleKind.TAX: frozenset({AccountType.LIABILITY}),
    RuleKind.SHIPPING: frozenset({AccountType.REVENUE}),
    RuleKind.DISCOUNT: frozenset({AccountType.REVENUE, AccountType.EXPENSE}),
    RuleKind.GIFT_CARD: frozenset({AccountType.LIABILITY}),
    RuleKind.TIP: frozenset({AccountType.LIABILITY, AccountType.REVENUE}),
    RuleKind.FEE: frozenset({AccountType.EXPENSE}),
    RuleKind.CLEARING: frozenset({AccountType.ASSET}),
    RuleKind.RETURNS: frozenset({AccountType.REVENUE, AccountType.EXPENSE}),
    RuleKind.ROUNDING: frozenset({AccountType.EXPENSE, AccountType.REVENUE}),
    RuleKind.RECEIVABLE: frozenset({AccountType.ASSET}),
    RuleKind.BANK: frozenset({AccountType.ASSET}),
    RuleKind.ADJUSTMENT: frozenset({AccountType.EXPENSE, AccountType.ASSET}),
    RuleKind.COGS: frozenset({AccountType.EXPENSE}),
    RuleKind.INVENTORY: frozenset({AccountType.ASSET}),
}


class MappingChangeError(Exception):
    """The change cannot move on in its current state (frozen, stale, wrong date ...)."""


class ItemInvalid(MappingChangeError):
    """An item failed validation; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {m}" for k, msgs in errors.items() for m in msgs))
        self.errors = errors


# -- small helpers --------------------------------------------------------------------------------


def rule_key(kind: str, match_field: str, match_value: str) -> RuleKey:
    """The identity of a rule across versions (matching is case-insensitive, as in RuleBook)."""
    return (kind, match_field, (match_value or "").strip().lower())


def rule_view(rule: MappingRule | MappingChangeItem) -> dict[str, str]:
    """A JSON-safe picture of a rule (or of what an item proposes) for diffs and the audit trail."""
    account = rule.account
    return {
        "kind": rule.kind,
        "match_field": rule.match_field,
        "match_value": rule.match_value,
        "account": account.code if account else "",
        "account_name": account.name if account else "",
        "tax_code": rule.tax_code.code if rule.tax_code else "",
        "item_ref": rule.item_ref,
    }


def business_today(mapping_set: MappingSet) -> date:
    """Today in the channel's time zone: business dates are counted there."""
    return timezone.now().astimezone(ZoneInfo(mapping_set.channel.timezone or "UTC")).date()


def current_version(mapping_set: MappingSet) -> MappingVersion | None:
    """The latest active version: the one new changes are drafted against."""
    return (
        mapping_set.versions.filter(status=MappingVersionStatus.ACTIVE)
        .order_by("-effective_from", "-number")
        .first()
    )


@dataclass
class ItemCheck:
    """The result of validating one item: blocking errors per field, and warnings."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    action: str = ""

    def add(self, name: str, message: str) -> None:
        """Record an error on a field."""
        self.errors.setdefault(name, []).append(message)

    @property
    def ok(self) -> bool:
        """No blocking errors."""
        return not self.errors


def rules_of(mapping_set: MappingSet) -> dict[RuleKey, MappingRule]:
    """The rules of a set's current version, by rule key."""
    version = current_version(mapping_set)
    if version is None:
        return {}
    return {
        rule_key(r.kind, r.match_field, r.match_value): r
        for r in version.rules.select_related("account", "tax_code")
    }


def active_rules(change: MappingChangeRequest) -> dict[RuleKey, MappingRule]:
    """The rules of the change's own set's current version (what a change is compared with)."""
    return rules_of(change.mapping_set)


def change_sets(change: MappingChangeRequest) -> list[MappingSet]:
    """Every mapping set a change applies to: its own first, then the other channels it covers."""
    others = [
        t.mapping_set
        for t in change.targets.select_related("mapping_set__channel").order_by("mapping_set__channel__name")
    ]
    return [change.mapping_set, *others]


def check_item(
    change: MappingChangeRequest,
    *,
    action: str | None,
    kind: str,
    match_field: str,
    match_value: str = "",
    account: LedgerAccount | None = None,
    tax_code: TaxCode | None = None,
    item_ref: str = "",
    base: dict[RuleKey, MappingRule] | None = None,
) -> ItemCheck:
    """Validate an item against the mapping set (used for inline validation and before saving).

    ``action`` None means "add or change": it becomes ``edit`` when the rule exists, else ``add``.
    """
    check = ItemCheck()
    base = active_rules(change) if base is None else base
    connection_id = change.mapping_set.connection_id
    if kind not in RuleKind.values:
        check.add("kind", f"Unknown kind {kind!r}.")
        return check
    allowed = ALLOWED_MATCH_FIELDS.get(kind, frozenset({"default"}))
    if match_field not in allowed:
        check.add(
            "match_field",
            f"{RuleKind(kind).label.split(' (')[0]} rules match on: {', '.join(sorted(allowed))}.",
        )
    value = (match_value or "").strip()
    if match_field == "default" and value:
        check.add("match_value", "A default rule has no match value.")
    if match_field != "default" and not value:
        check.add("match_value", "Say which value this rule matches.")
    key = rule_key(kind, match_field, value)
    exists = key in base
    action = action or (ChangeAction.EDIT if exists else ChangeAction.ADD)
    check.action = action
    if action not in ChangeAction.values:
        check.add("action", f"Unknown action {action!r}.")
    elif action == ChangeAction.ADD and exists:
        check.add("match_value", "This rule already exists: change it instead.")
    elif action in (ChangeAction.EDIT, ChangeAction.REMOVE) and not exists:
        check.add("match_value", "There is no such rule in the active version.")
    if action != ChangeAction.REMOVE:
        if account is None:
            check.add("account", "Choose the ledger account.")
        elif account.connection_id != connection_id:
            check.add("account", "This account belongs to another ledger.")
        else:
            if not account.active:
                check.add("account", f"Account {account.code} is inactive in the ledger.")
            expected = EXPECTED_TYPES.get(kind)
            if expected and account.type not in expected:
                check.warnings.append(
                    f"{account.code} is a {account.get_type_display().lower()} account; "
                    f"{kind} rules usually use {' or '.join(sorted(expected))} accounts."
                )
        if tax_code is not None and tax_code.connection_id != connection_id:
            check.add("tax_code", "This tax code belongs to another ledger.")
        if kind == RuleKind.TAX and tax_code is None:
            check.warnings.append("A tax rule without a tax code posts tax lines with no code.")
        if len(item_ref) > 100:
            check.add("item_ref", "At most 100 characters.")
        if action == ChangeAction.EDIT and exists:
            old = base[key]
            if (old.account_id, old.tax_code_id, old.item_ref) == (
                account.pk if account else None,
                tax_code.pk if tax_code else None,
                item_ref,
            ):
                check.warnings.append("Same as the active rule: this item changes nothing.")
    return check


# -- diff and the proposed rules -----------------------------------------------------------------


def change_diff(
    change: MappingChangeRequest, base: dict[RuleKey, MappingRule] | None = None, *, upsert: bool = False
) -> list[dict[str, Any]]:
    """Rule by rule: what the active version has (before) and what the change proposes (after).

    A row's ``problem`` is set when the item no longer fits the active version (the rule was added
    or removed by another change meanwhile). With ``upsert`` (the other channels a change covers)
    an item adds the rule where a channel lacks it and changes it where it has it; only removing a
    rule the channel does not have is a problem.
    """
    base = active_rules(change) if base is None else base
    rows = []
    for item in change.items.select_related("account", "tax_code"):
        key = rule_key(item.kind, item.match_field, item.match_value)
        old = base.get(key)
        problem = ""
        action = item.action
        if upsert and action != ChangeAction.REMOVE:
            action = ChangeAction.ADD if old is None else ChangeAction.EDIT
        elif action == ChangeAction.ADD and old is not None:
            problem = "this rule exists now: another change added it"
        elif action != ChangeAction.ADD and old is None:
            problem = (
                "this channel has no such rule to remove"
                if upsert
                else "this rule no longer exists in the active version"
            )
        rows.append(
            {
                "action": action,
                "kind": item.kind,
                "match_field": item.match_field,
                "match_value": item.match_value,
                "before": rule_view(old) if old is not None else None,
                "after": None if item.action == ChangeAction.REMOVE else rule_view(item),
                "problem": problem,
            }
        )
    return rows


def proposed_rules(
    change: MappingChangeRequest, base: dict[RuleKey, MappingRule] | None = None
) -> list[dict[str, Any]]:
    """The full rule list of the version the change would create (MappingRule field dicts)."""
    base = active_rules(change) if base is None else base
    rules: dict[RuleKey, dict[str, Any]] = {
        key: {
            "kind": r.kind,
            "match_field": r.match_field,
            "match_value": r.match_value,
            "account": r.account,
            "tax_code": r.tax_code,
            "item_ref": r.item_ref,
        }
        for key, r in base.items()
    }
    for item in change.items.select_related("account", "tax_code"):
        key = rule_key(item.kind, item.match_field, item.match_value)
        if item.action == ChangeAction.REMOVE:
            rules.pop(key, None)
        else:
            rules[key] = {
                "kind": item.kind,
                "match_field": item.match_field,
                "match_value": item.match_value,
                "account": item.account,
                "tax_code": item.tax_code,
                "item_ref": item.item_ref,
            }
    return list(rules.values())
