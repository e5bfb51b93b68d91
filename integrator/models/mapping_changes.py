"""Maker-checker changes to mappings, and the re-posting of past documents they may require.

A :class:`MappingChangeRequest` is a proposed set of rule additions, edits and removals against a
mapping set. A clerk drafts it, submits it (it is frozen from then on) and a finance manager other
than its author approves or rejects it. Approval creates a new :class:`~integrator.models.MappingVersion`;
if the change takes effect on a past date, a :class:`RepostRequest` lists the documents already
journaled under the old rules, and executing it posts a reversal and a new entry for each (never an
edit of what the ledger has), one :class:`RepostResult` per document.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from integrator.choices import ChangeAction, ChangeStatus, RepostOutcome, RepostStatus

__all__ = [
    "ChangeAction",
    "ChangeStatus",
    "MappingChangeItem",
    "MappingChangeRequest",
    "MappingChangeTarget",
    "RepostOutcome",
    "RepostRequest",
    "RepostResult",
    "RepostStatus",
]


class MappingChangeRequest(models.Model):
    """A proposed change to a mapping set's rules, approved by someone other than its author.

    ``base_version`` is the version the draft was compared with; ``diff`` is the frozen
    rule-by-rule comparison taken at submission (and refreshed at the decision), so the reviewer and
    the audit trail see exactly what was approved. ``version`` is the mapping version the approval
    created.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mapping_set = models.ForeignKey(
        "integrator.MappingSet", on_delete=models.CASCADE, related_name="change_requests"
    )
    title = models.CharField(max_length=200)
    reason = models.TextField(blank=True, help_text="Why the change is needed (shown to the reviewer).")
    status = models.CharField(max_length=10, choices=ChangeStatus.choices, default=ChangeStatus.DRAFT)
    effective_from = models.DateField(help_text="First business day the new rules apply to.")
    base_version = models.ForeignKey(
        "integrator.MappingVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    version = models.ForeignKey(
        "integrator.MappingVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="change_requests",
        help_text="The version created when the change was approved.",
    )
    diff = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="mapping_changes_authored"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mapping_changes_reviewed",
    )
    review_comment = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("submit_mappingchangerequest", "Can submit a mapping change for approval"),
            ("approve_mappingchangerequest", "Can approve or reject mapping changes of others"),
        ]

    def __str__(self) -> str:
        return f"{self.title} [{self.status}]"

    @property
    def is_open(self) -> bool:
        """Draft or submitted: not decided yet."""
        return self.status in (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED)


class MappingChangeTarget(models.Model):
    """Another mapping set a change applies to as well: the same SKU or account mapped for several
    channels of the same ledger in one change, one approval.

    The change's own ``mapping_set`` stays its primary set; each target has its own ``diff``
    (frozen at submission against that set's active version), and the approval creates one new
    ``version`` per target (and a ``repost`` where a past date requires one). Items are applied as
    "add or change" to a target (a rule one channel lacks is added there), removals as removals.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    change = models.ForeignKey(MappingChangeRequest, on_delete=models.CASCADE, related_name="targets")
    mapping_set = models.ForeignKey(
        "integrator.MappingSet", on_delete=models.CASCADE, related_name="shared_change_targets"
    )
    base_version = models.ForeignKey(
        "integrator.MappingVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    version = models.ForeignKey(
        "integrator.MappingVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="shared_change_targets",
        help_text="The version the approval created for this mapping set.",
    )
    repost = models.ForeignKey(
        "integrator.RepostRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    diff = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["change", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["change", "mapping_set"], name="uniq_change_target_set")
        ]

    def __str__(self) -> str:
        return f"{self.change_id} also on {self.mapping_set_id}"


class MappingChangeItem(models.Model):
    """One rule touched by a change: its key (kind, match field, match value) and, unless it is a
    removal, the account, tax code and ledger item it should map to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    change = models.ForeignKey(MappingChangeRequest, on_delete=models.CASCADE, related_name="items")
    action = models.CharField(max_length=6, choices=ChangeAction.choices)
    kind = models.CharField(max_length=20)
    match_field = models.CharField(max_length=10, default="default")
    match_value = models.CharField(max_length=120, blank=True)
    account = models.ForeignKey(
        "integrator.LedgerAccount", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tax_code = models.ForeignKey(
        "integrator.TaxCode", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    item_ref = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["change", "kind", "match_field", "match_value"]
        constraints = [
            models.UniqueConstraint(
                fields=["change", "kind", "match_field", "match_value"], name="uniq_change_item_rule"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.match_field}={self.match_value or '*'}"


class RepostRequest(models.Model):
    """An approved re-posting of past documents after a change that takes effect on a past date.

    Created by the approval (the manager confirms the re-posting when approving a past-dated
    change) with a preview; nothing is posted until someone with the ``execute_repostrequest``
    permission executes it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mapping_set = models.ForeignKey(
        "integrator.MappingSet", on_delete=models.CASCADE, related_name="repost_requests"
    )
    change = models.OneToOneField(
        MappingChangeRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="repost"
    )
    version = models.ForeignKey("integrator.MappingVersion", on_delete=models.PROTECT, related_name="+")
    since = models.DateField(help_text="First business day re-posted (the version's effective date).")
    status = models.CharField(max_length=10, choices=RepostStatus.choices, default=RepostStatus.PENDING)
    preview = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    executed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("execute_repostrequest", "Can execute an approved re-posting")]

    def __str__(self) -> str:
        return f"Re-post from {self.since} [{self.status}]"


class RepostResult(models.Model):
    """What one re-posting did to one document: the reversal and the new entry it made, or why not."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    repost = models.ForeignKey(RepostRequest, on_delete=models.CASCADE, related_name="results")
    transaction = models.ForeignKey("integrator.Transaction", on_delete=models.PROTECT, related_name="+")
    original_entry = models.ForeignKey("integrator.JournalEntry", on_delete=models.PROTECT, related_name="+")
    reversal_entry = models.ForeignKey(
        "integrator.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    new_entry = models.ForeignKey(
        "integrator.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=14, choices=RepostOutcome.choices)
    message = models.TextField(blank=True)
    delta = models.JSONField(default=list, blank=True, help_text="Net change per account: new minus old.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["repost", "created_at"]

    def __str__(self) -> str:
        return f"{self.original_entry_id} {self.outcome}"
