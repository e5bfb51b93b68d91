"""Maker-checker mapping changes through the service layer: who may do what, freezing, conflicts,
effective dating, held transactions, and the audit trail of every step.

Given the standard GBP till (version 1 from 2020: textiles -> 4000, SKU BASKET-1 -> 4010), when a
clerk drafts and submits a change and a manager decides, then the books follow the approved
version from its effective date and nothing else.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from integrator.choices import MappingVersionStatus, TransactionStatus
from integrator.models import (
    AuditEvent,
    JournalEntry,
    LedgerAccount,
    LedgerConnection,
    MappingChangeRequest,
    MappingSet,
    RepostRequest,
    Transaction,
)
from integrator.models.mapping_changes import ChangeStatus
from integrator.services import mapping_changes as svc
from tests.conftest import make_channel, sale_event


def make_user(username: str, role: str) -> Any:
    """A user in one of the role groups."""
    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions


def account(conn: LedgerConnection, code: str) -> LedgerAccount:
    """An account of the test chart by code."""
    return LedgerAccount.objects.get(connection=conn, code=code)


def today() -> date:
    """Today in the test channels' time zone (Europe/London)."""
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    return timezone.now().astimezone(ZoneInfo("Europe/London")).date()


def textiles_change(
    mapping_set: MappingSet,
    author: Any,
    *,
    to: str = "4010",
    effective_from: date | None = None,
    submit: bool = True,
    title: str = "Textiles to homeware sales",
) -> MappingChangeRequest:
    """A change moving category 'textiles' revenue to another account, optionally submitted."""
    change = svc.draft_change(
        mapping_set, actor=author, title=title, reason="New product grouping", effective_from=effective_from
    )
    svc.set_item(
        change,
        actor=author,
        kind="revenue",
        match_field="category",
        match_value="textiles",
        account=account(mapping_set.connection, to),
    )
    if submit:
        change = svc.submit_change(change, actor=author)
    return change


@pytest.fixture
def mset(channel: Any) -> MappingSet:
    """The till's mapping set (version 1 active from 2020-01-01)."""
    return MappingSet.objects.get(channel=channel)


# -- who may do what ----------------------------------------------------------------------------


def test_the_author_can_never_approve_their_own_change(mset: MappingSet, users: Any) -> None:
    manager = users["finance_manager"]
    change = textiles_change(mset, manager)
    with pytest.raises(PermissionDenied, match="your own change"):
        svc.approve_change(change, actor=manager, comment="looks fine")
    with pytest.raises(PermissionDenied, match="your own change"):
        svc.reject_change(change, actor=manager, comment="changed my mind")
    change.refresh_from_db()
    assert change.status == ChangeStatus.SUBMITTED and change.version is None
    assert mset.versions.count() == 1
    other = make_user("manager2", "finance_manager")
    approved = svc.approve_change(change, actor=other, comment="agreed")
    assert approved.status == ChangeStatus.APPROVED and approved.reviewer == other


def test_a_clerk_cannot_approve_even_someone_elses_change(mset: MappingSet, users: Any) -> None:
    change = textiles_change(mset, users["finance_clerk"])
    clerk2 = make_user("clerk2", "finance_clerk")
    for actor in (clerk2, users["auditor"], users["integration_admin"]):
        with pytest.raises(PermissionDenied, match="finance manager"):
            svc.approve_change(change, actor=actor)
    change.refresh_from_db()
    assert change.status == ChangeStatus.SUBMITTED
    with pytest.raises(PermissionDenied):
        svc.draft_change(mset, actor=users["auditor"], title="auditors read only")


def test_a_submitted_change_is_frozen(mset: MappingSet, users: Any) -> None:
    clerk = users["finance_clerk"]
    change = textiles_change(mset, clerk)
    with pytest.raises(svc.MappingChangeError, match="can no longer be edited"):
        svc.set_item(
            change,
            actor=clerk,
            kind="shipping",
            match_field="default",
            account=account(mset.connection, "4000"),
        )
    with pytest.raises(svc.MappingChangeError, match="can no longer be edited"):
        svc.update_change(change, actor=clerk, title="sneaky")
    with pytest.raises(svc.MappingChangeError):
        svc.remove_item(change, change.items.get(), actor=clerk)
    assert change.items.count() == 1 and MappingChangeRequest.objects.get(pk=change.pk).title == change.title


def test_only_the_author_edits_a_draft(mset: MappingSet, users: Any) -> None:
    change = textiles_change(mset, users["finance_clerk"], submit=False)
    with pytest.raises(PermissionDenied, match="author"):
        svc.set_item(
            change,
            actor=users["finance_manager"],
            kind="shipping",
            match_field="default",
            account=account(mset.connection, "4000"),
        )
    with pytest.raises(PermissionDenied, match="author"):
        svc.submit_change(change, actor=users["finance_manager"])


def test_items_are_validated_like_the_journal_uses_them(mset: MappingSet, users: Any) -> None:
    clerk = users["finance_clerk"]
    change = svc.draft_change(mset, actor=clerk, title="Bad items")
    with pytest.raises(svc.ItemInvalid) as bad:
        svc.set_item(change, actor=clerk, kind="shipping", match_field="sku", match_value="X", account=None)
    assert set(bad.value.errors) == {"match_field", "account"}
    with pytest.raises(svc.ItemInvalid, match="already exists"):
        svc.set_item(
            change,
            actor=clerk,
            action="add",
            kind="revenue",
            match_field="sku",
            match_value="basket-1",
            account=account(mset.connection, "4000"),
        )
    with pytest.raises(svc.ItemInvalid, match="no such rule"):
        svc.set_item(
            change, actor=clerk, action="remove", kind="revenue", match_field="sku", match_value="NOPE"
        )
    check = svc.check_item(
        change, action=None, kind="fee", match_field="default", account=account(mset.connection, "4000")
    )
    assert check.ok and check.action == "edit" and "expense" in check.warnings[0]
    with pytest.raises(svc.MappingChangeError, match="no items"):
        svc.submit_change(change, actor=clerk)


# -- conflicts ------------------------------------------------------------------------------------


def test_two_open_changes_touching_the_same_rule_are_flagged_and_the_second_is_stale(
    mset: MappingSet, users: Any
) -> None:
    clerk, manager = users["finance_clerk"], users["finance_manager"]
    first = textiles_change(mset, clerk, to="4010", title="First")
    second = textiles_change(mset, make_user("clerk2", "finance_clerk"), to="4100", title="Second")
    unrelated = svc.draft_change(mset, actor=clerk, title="Shipping")
    svc.set_item(
        unrelated,
        actor=clerk,
        kind="shipping",
        match_field="default",
        account=account(mset.connection, "4000"),
    )
    flagged = svc.conflicting_changes(first)
    assert [c["change"].pk for c in flagged] == [second.pk]
    assert flagged[0]["rules"] == ["revenue category=textiles"]
    assert svc.conflicting_changes(unrelated) == []
    svc.approve_change(first, actor=manager, comment="ok")
    with pytest.raises(svc.MappingChangeError, match="changed since submission"):
        svc.approve_change(second, actor=manager)
    second.refresh_from_db()
    assert second.status == ChangeStatus.SUBMITTED


# -- approval, versions and effective dates ----------------------------------------------------


def test_approval_creates_an_active_version_with_who_when_why(mset: MappingSet, users: Any) -> None:
    clerk, manager = users["finance_clerk"], users["finance_manager"]
    change = textiles_change(mset, clerk)
    assert change.diff == [
        {
            "action": "edit",
            "kind": "revenue",
            "match_field": "category",
            "match_value": "textiles",
            "before": {
                "kind": "revenue",
                "match_field": "category",
                "match_value": "textiles",
                "account": "4000",
                "account_name": "Sales textiles",
                "tax_code": "",
                "item_ref": "",
            },
            "after": {
                "kind": "revenue",
                "match_field": "category",
                "match_value": "textiles",
                "account": "4010",
                "account_name": "Sales homeware",
                "tax_code": "",
                "item_ref": "",
            },
            "problem": "",
        }
    ]
    approved = svc.approve_change(change, actor=manager, comment="agreed with the accountant")
    version = approved.version
    assert version is not None and version.number == 2 and version.status == MappingVersionStatus.ACTIVE
    assert version.effective_from == today()
    assert version.created_by == clerk and version.approved_by == manager
    assert "Textiles to homeware sales" in version.note and "New product grouping" in version.note
    rules = {
        (r.kind, r.match_field, r.match_value): r.account.code
        for r in version.rules.select_related("account")
    }
    assert rules[("revenue", "category", "textiles")] == "4010"
    assert len(rules) == mset.versions.get(number=1).rules.count()  # everything else carried over


def test_effective_dating_picks_the_version_in_force_on_each_business_day(
    mset: MappingSet, users: Any, post_event: Any
) -> None:
    start = today() + timedelta(days=3)
    change = textiles_change(mset, users["finance_clerk"], effective_from=start)
    svc.approve_change(change, actor=users["finance_manager"])
    for sale_id, day in (
        ("D-0", today()),
        ("D-2", start - timedelta(days=1)),
        ("D-3", start),
        ("D-9", start + timedelta(days=6)),
    ):
        post_event("till", sale_event(sale_id, occurred_at=f"{day.isoformat()}T12:00:00+00:00"))
    got = {
        e.transaction.external_id: (
            e.mapping_version.number,
            {ln.account.code for ln in e.lines.all() if ln.role == "revenue"},
        )
        for e in JournalEntry.objects.select_related("transaction", "mapping_version").prefetch_related(
            "lines__account"
        )
    }
    assert got == {"D-0": (1, {"4000"}), "D-2": (1, {"4000"}), "D-3": (2, {"4010"}), "D-9": (2, {"4010"})}


def test_a_change_overridden_by_a_later_version_is_refused(mset: MappingSet, users: Any) -> None:
    manager = users["finance_manager"]
    later = textiles_change(mset, users["finance_clerk"], effective_from=today() + timedelta(days=10))
    svc.approve_change(later, actor=manager)
    earlier = textiles_change(mset, make_user("clerk2", "finance_clerk"), to="4100", effective_from=today())
    with pytest.raises(svc.MappingChangeError, match="after this change's date"):
        svc.approve_change(earlier, actor=manager)


def test_a_past_date_that_changes_booked_documents_needs_the_reposting_flow(
    mset: MappingSet, users: Any, post_event: Any
) -> None:
    post_event("till", sale_event("P-1", occurred_at="2026-11-20T10:00:00+00:00"))
    change = textiles_change(mset, users["finance_clerk"], effective_from=date(2026, 11, 1))
    with pytest.raises(svc.MappingChangeError, match="1 document"):
        svc.approve_change(change, actor=users["finance_manager"])
    change.refresh_from_db()
    assert change.status == ChangeStatus.SUBMITTED and mset.versions.count() == 1  # nothing half-made
    svc.approve_change(change, actor=users["finance_manager"], confirm_reposting=True)
    repost = RepostRequest.objects.get(change=change)
    assert repost.status == "pending" and repost.since == date(2026, 11, 1)
    assert repost.preview["counts"] == {"reposted": 1}
    assert JournalEntry.objects.count() == 1  # approval itself posts nothing


# -- held transactions -------------------------------------------------------------------------


def test_held_transactions_are_grouped_and_flow_once_a_covering_change_is_approved(
    ledger: LedgerConnection, users: Any, post_event: Any, django_capture_on_commit_callbacks: Any
) -> None:
    channel = make_channel(ledger, with_default_revenue=False)
    line = {
        "sku": "ADINKRA",
        "name": "Stamps",
        "category": "crafts",
        "quantity": 1,
        "unit_price": "10.00",
        "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}],
    }
    post_event(
        "till", sale_event("H-1", lines=[line], total="12.00", occurred_at="2026-11-20T10:00:00+00:00")
    )
    post_event(
        "till",
        sale_event(
            "H-2",
            lines=[
                {**line, "quantity": 2, "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "4.00"}]}
            ],
            total="24.00",
            occurred_at="2026-11-21T10:00:00+00:00",
        ),
    )
    assert set(Transaction.objects.values_list("status", flat=True)) == {TransactionStatus.NEEDS_MAPPING}
    groups = svc.held_groups()
    assert [(g.reason, g.count, g.totals) for g in groups] == [
        ("SKU ADINKRA has no revenue account", 2, {"GBP": Decimal("36.00")})
    ]
    mset = MappingSet.objects.get(channel=channel)
    clerk, manager = users["finance_clerk"], users["finance_manager"]
    change = svc.draft_change(mset, actor=clerk, title="Crafts revenue", effective_from=today())
    svc.set_item(
        change,
        actor=clerk,
        kind="revenue",
        match_field="sku",
        match_value="ADINKRA",
        account=account(ledger, "4010"),
    )
    preview = svc.impact_preview(change)
    assert (preview.held_total, preview.held_resolved, preview.held_before_date) == (2, 0, 2)
    assert preview.held_earliest == date(2026, 11, 20)
    change = svc.update_change(change, actor=clerk, effective_from=date(2026, 11, 20))
    preview = svc.impact_preview(change)
    assert (preview.held_resolved, preview.held_still_missing) == (2, {})
    svc.submit_change(change, actor=clerk)
    with django_capture_on_commit_callbacks(execute=True):
        # Past date, but no booked document changes: no re-posting needed.
        approved = svc.approve_change(change, actor=manager, comment="crafts are homeware")
    assert set(Transaction.objects.values_list("status", flat=True)) == {TransactionStatus.POSTED}
    assert set(JournalEntry.objects.values_list("mapping_version", flat=True)) == {approved.version_id}
    assert svc.held_groups() == [] and not RepostRequest.objects.exists()


# -- impact preview ------------------------------------------------------------------------------


def test_impact_preview_shows_how_recent_journals_would_change(
    mset: MappingSet, users: Any, post_event: Any
) -> None:
    post_event("till", sale_event("R-1", occurred_at="2026-11-20T10:00:00+00:00"))
    basket = [
        {
            "sku": "BASKET-1",
            "name": "Basket",
            "category": "homeware",
            "quantity": 1,
            "unit_price": "10.00",
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}],
        }
    ]
    post_event(
        "till", sale_event("R-2", lines=basket, total="12.00", occurred_at="2026-11-21T10:00:00+00:00")
    )
    change = textiles_change(mset, users["finance_clerk"], submit=False)
    preview = svc.impact_preview(change)
    assert (preview.recent_checked, preview.recent_affected, preview.needs_reposting) == (2, 1, False)
    sample = preview.samples[0]
    assert sample.transaction.external_id == "R-1"
    assert sample.delta == [{"account": "4000", "amount": "120.00"}, {"account": "4010", "amount": "-120.00"}]
    assert {"account": "4010", "role": "revenue", "side": "Cr", "amount": "120.00"} in sample.after
    assert JournalEntry.objects.count() == 2  # a preview writes nothing


# -- the audit trail -----------------------------------------------------------------------------


def test_every_change_approval_and_rejection_is_audited_with_before_and_after(
    mset: MappingSet, users: Any
) -> None:
    clerk, manager = users["finance_clerk"], users["finance_manager"]
    approved = svc.approve_change(textiles_change(mset, clerk), actor=manager, comment="ok")
    rejected = textiles_change(mset, clerk, to="4100", title="Textiles to shipping?")
    svc.reject_change(rejected, actor=manager, comment="shipping income is not sales")
    rows = {(a.action, a.object_id): a for a in AuditEvent.objects.all()}
    for action in ("drafted", "item_set", "submitted", "approved"):
        assert ("mapping_change." + action, str(approved.pk)) in rows, action
    item = rows[("mapping_change.item_set", str(approved.pk))]
    assert item.before is None and item.after["account"] == "4010" and item.actor == clerk
    submitted = rows[("mapping_change.submitted", str(approved.pk))]
    assert submitted.before["status"] == "draft" and submitted.after["status"] == "submitted"
    done = rows[("mapping_change.approved", str(approved.pk))]
    assert (
        done.actor == manager and done.before["status"] == "submitted" and done.after["status"] == "approved"
    )
    assert done.before["rules"][0]["account"] == "4000" and done.after["rules"][0]["account"] == "4010"
    assert done.after["version"] == 2 and done.after["review_comment"] == "ok"
    assert ("mapping_version.activated", str(approved.version_id)) in rows
    no = rows[("mapping_change.rejected", str(rejected.pk))]
    assert no.before["status"] == "submitted" and no.after["status"] == "rejected"
    assert (
        no.after["review_comment"] == "shipping income is not sales"
        and no.after["diff"][0]["after"]["account"] == "4100"
    )


def test_reject_needs_a_reason_and_withdraw_is_the_authors(mset: MappingSet, users: Any) -> None:
    clerk, manager = users["finance_clerk"], users["finance_manager"]
    change = textiles_change(mset, clerk)
    with pytest.raises(svc.ItemInvalid, match="why"):
        svc.reject_change(change, actor=manager, comment="  ")
    with pytest.raises(PermissionDenied):
        svc.withdraw_change(change, actor=manager)
    svc.withdraw_change(change, actor=clerk)
    with pytest.raises(svc.MappingChangeError, match="only a submitted change"):
        svc.approve_change(change, actor=manager)
    assert AuditEvent.objects.filter(action="mapping_change.withdrawn", object_id=str(change.pk)).exists()
