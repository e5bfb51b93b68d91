"""Maker-checker changes to chart-of-accounts mappings.

:mod:`.workflow` holds the writes (draft, edit, submit, approve, reject, withdraw), each atomic,
permission-checked and audited; :mod:`.rules` what a rule is and how an item is validated and
compared with the active version; :mod:`.review` the read-only views a reviewer needs (conflicts,
impact preview, held transactions grouped by what is missing); :mod:`.fixes` which rule would
release a held transaction and which other channels wait for the same rule.
"""

from integrator.services.mapping_changes.fixes import HeldByRule, SuggestedRule, suggested_rules, waiting_for
from integrator.services.mapping_changes.review import (
    HeldGroup,
    ImpactPreview,
    JournalChange,
    conflicting_changes,
    held_groups,
    impact_preview,
    proposed_book_rules,
)
from integrator.services.mapping_changes.rules import (
    ALLOWED_MATCH_FIELDS,
    ItemCheck,
    ItemInvalid,
    MappingChangeError,
    RuleKey,
    active_rules,
    business_today,
    change_diff,
    change_sets,
    check_item,
    current_version,
    proposed_rules,
    rule_key,
    rule_view,
    rules_of,
)
from integrator.services.mapping_changes.workflow import (
    APPROVE_PERMISSION,
    approve_change,
    draft_change,
    mapping_set_for,
    reject_change,
    remove_item,
    set_item,
    set_targets,
    submit_change,
    update_change,
    withdraw_change,
)

__all__ = [
    "ALLOWED_MATCH_FIELDS",
    "APPROVE_PERMISSION",
    "HeldByRule",
    "HeldGroup",
    "ImpactPreview",
    "ItemCheck",
    "ItemInvalid",
    "JournalChange",
    "MappingChangeError",
    "RuleKey",
    "SuggestedRule",
    "active_rules",
    "approve_change",
    "business_today",
    "change_diff",
    "change_sets",
    "check_item",
    "conflicting_changes",
    "current_version",
    "draft_change",
    "held_groups",
    "impact_preview",
    "mapping_set_for",
    "proposed_book_rules",
    "proposed_rules",
    "reject_change",
    "remove_item",
    "rule_key",
    "rule_view",
    "rules_of",
    "set_item",
    "set_targets",
    "submit_change",
    "suggested_rules",
    "update_change",
    "waiting_for",
    "withdraw_change",
]
