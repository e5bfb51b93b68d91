"""The mapping screens: editor with search and inline validation, approval queue with diffs, version
history, held transactions grouped by what is missing, re-posting preview and results."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from integrator.models import LedgerAccount, MappingChangeRequest, MappingSet, RepostRequest
from integrator.services import mapping_changes as svc
from tests.conftest import make_channel, sale_event
from tests.integrator.test_mapping_api import as_user
from tests.integrator.test_mapping_changes import make_user, textiles_change

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def mset(channel: Any) -> MappingSet:
    return MappingSet.objects.get(channel=channel)


def test_screens_need_a_login_and_the_view_permission(mset: MappingSet, users: Any) -> None:
    for url in ("/mappings/", f"/mappings/sets/{mset.pk}/", "/mappings/approvals/", "/mappings/held/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    for role in ("finance_clerk", "auditor"):
        assert as_user(users[role]).get("/mappings/").status_code == 200


def test_author_approving_their_own_change_is_refused_on_screen(mset: MappingSet, users: Any) -> None:
    manager = users["finance_manager"]
    change = textiles_change(mset, manager)
    client = as_user(manager)
    page = client.get(f"/mappings/changes/{change.pk}/").content.decode()
    assert (
        "you cannot approve your own change" in page
        and 'action="/mappings/changes/' + str(change.pk) + '/approve/"' not in page
    )
    response = client.post(f"/mappings/changes/{change.pk}/approve/", {"comment": "self"})
    assert response.status_code == 403
    assert "You cannot approve your own change" in response.content.decode()
    assert MappingChangeRequest.objects.get(pk=change.pk).status == "submitted"


def test_a_clerk_cannot_approve_on_screen_and_a_manager_can(mset: MappingSet, users: Any) -> None:
    change = textiles_change(mset, users["finance_clerk"])
    clerk2 = as_user(make_user("clerk2", "finance_clerk"))
    assert "Approve</button>" not in clerk2.get(f"/mappings/changes/{change.pk}/").content.decode()
    assert clerk2.post(f"/mappings/changes/{change.pk}/approve/").status_code == 403
    manager = as_user(users["finance_manager"])
    page = manager.get(f"/mappings/changes/{change.pk}/").content.decode()
    assert "Approve</button>" in page and "Reject this change</button>" in page
    response = manager.post(f"/mappings/changes/{change.pk}/approve/", {"comment": "agreed"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == "approved" and change.review_comment == "agreed" and change.version.number == 2


def test_editor_drafts_a_change_with_inline_validation_and_submits_it(mset: MappingSet, users: Any) -> None:
    client = as_user(users["finance_clerk"])
    response = client.post(
        f"/mappings/sets/{mset.pk}/changes/new/",
        {"title": "Shipping to sales", "reason": "simpler", "effective_from": "2030-01-01"},
    )
    change = MappingChangeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/mappings/changes/{change.pk}/"
    sales = LedgerAccount.objects.get(connection=mset.connection, code="4000")
    vat = LedgerAccount.objects.get(connection=mset.connection, code="2100")
    # Inline validation (htmx): a default rule with a value, and a liability account for shipping.
    check = client.post(
        f"/mappings/changes/{change.pk}/items/validate/",
        {"kind": "shipping", "match_field": "default", "match_value": "x", "account": vat.pk},
        **HTMX,
    ).content.decode()
    assert (
        "A default rule has no match value." in check
        and "shipping rules usually use revenue accounts" in check
    )
    fine = client.post(
        f"/mappings/changes/{change.pk}/items/validate/",
        {"kind": "shipping", "match_field": "default", "account": sales.pk},
        **HTMX,
    ).content.decode()
    assert "Looks right: this item will edit the rule." in fine
    bad = client.post(
        f"/mappings/changes/{change.pk}/items/",
        {"kind": "shipping", "match_field": "sku", "match_value": "X"},
    )
    assert bad.status_code == 400 and "Shipping income rules match on: default." in bad.content.decode()
    assert (
        client.post(
            f"/mappings/changes/{change.pk}/items/",
            {"kind": "shipping", "match_field": "default", "account": sales.pk},
        ).status_code
        == 302
    )
    page = client.get(f"/mappings/changes/{change.pk}/").content.decode()
    assert "<del>4100 Shipping income</del>" in page and "<ins>4000 Sales textiles</ins>" in page
    assert client.post(f"/mappings/changes/{change.pk}/submit/").status_code == 302
    frozen = client.post(
        f"/mappings/changes/{change.pk}/items/",
        {"kind": "tip", "match_field": "default", "account": sales.pk},
    )
    assert frozen.status_code == 409 and "can no longer be edited" in frozen.content.decode()


def test_rule_search_swaps_rows_with_htmx(mset: MappingSet, users: Any) -> None:
    client = as_user(users["auditor"])
    rows = client.get(f"/mappings/sets/{mset.pk}/?q=basket", **HTMX).content.decode()
    assert "BASKET-1" in rows and "textiles" not in rows and "<html" not in rows
    page = client.get(f"/mappings/sets/{mset.pk}/").content.decode()
    assert "BASKET-1" in page and "textiles" in page and 'hx-get="/mappings/sets/' in page


def test_approval_queue_shows_diffs_and_flags_conflicts(mset: MappingSet, users: Any) -> None:
    first = textiles_change(mset, users["finance_clerk"], title="First")
    second = textiles_change(mset, make_user("clerk2", "finance_clerk"), to="4100", title="Second")
    page = as_user(users["finance_manager"]).get("/mappings/approvals/").content.decode()
    assert page.index("First") < page.index("Second")
    assert f'data-conflict="{second.pk}"' in page and f'data-conflict="{first.pk}"' in page
    assert "<del>4000 Sales textiles</del>" in page and "<ins>4100 Shipping income</ins>" in page
    assert "also touches revenue category=textiles" in page


def test_version_history_says_who_when_and_why(mset: MappingSet, users: Any) -> None:
    approved = svc.approve_change(
        textiles_change(mset, users["finance_clerk"]),
        actor=users["finance_manager"],
        comment="per the accountant",
    )
    rejected = textiles_change(mset, users["finance_clerk"], to="4100", title="Into shipping")
    svc.reject_change(rejected, actor=users["finance_manager"], comment="wrong account")
    page = as_user(users["auditor"]).get(f"/mappings/sets/{mset.pk}/history/").content.decode()
    assert 'data-version="2"' in page and 'data-version="1"' in page
    v2 = page[page.index('data-version="2"') : page.index('data-version="1"')]
    for part in (
        "finance_clerk",
        "finance_manager",
        "Textiles to homeware sales",
        "New product grouping",
        "per the accountant",
    ):
        assert part in v2, part
    assert "Into shipping" in page and "wrong account" in page and "Rejected" in page
    assert approved.version.number == 2


def test_held_view_groups_by_missing_value_with_totals(ledger: Any, users: Any, post_event: Any) -> None:
    make_channel(ledger, with_default_revenue=False)
    line = {
        "sku": "KENTE-12",
        "name": "Kente",
        "category": "silk",
        "quantity": 1,
        "unit_price": "1002.92",
        "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "200.58"}],
    }
    post_event("till", sale_event("G-1", lines=[line], total="1203.50"))
    page = as_user(users["finance_clerk"]).get("/mappings/held/").content.decode()
    assert "SKU KENTE-12 has no revenue account: 1 transaction, 1,203.50 GBP" in page


def test_reposting_preview_and_execution_on_screen(
    mset: MappingSet, users: Any, post_event: Any, django_capture_on_commit_callbacks: Any
) -> None:
    post_event("till", sale_event("S-9", occurred_at="2026-11-20T10:00:00+00:00"))
    change = textiles_change(mset, users["finance_clerk"], effective_from=date(2026, 11, 1))
    manager = as_user(users["finance_manager"])
    page = manager.get(f"/mappings/changes/{change.pk}/").content.decode()
    assert 'name="confirm_reposting"' in page
    refused = manager.post(f"/mappings/changes/{change.pk}/approve/", {"comment": "ok"})
    assert refused.status_code == 409 and "approve it with re-posting" in refused.content.decode()
    response = manager.post(
        f"/mappings/changes/{change.pk}/approve/", {"comment": "ok", "confirm_reposting": "on"}
    )
    repost = RepostRequest.objects.get()
    assert response["Location"] == f"/mappings/reposts/{repost.pk}/"
    preview = manager.get(response["Location"]).content.decode()
    assert (
        'data-outcome="reposted"' in preview and "sale S-9" in preview and "Execute the re-posting" in preview
    )
    assert as_user(users["finance_clerk"]).post(f"/mappings/reposts/{repost.pk}/execute/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert manager.post(f"/mappings/reposts/{repost.pk}/execute/").status_code == 302
    result = manager.get(f"/mappings/reposts/{repost.pk}/").content.decode()
    assert (
        'data-result="reposted"' in result
        and "till/sale/S-9/rev-v2" in result
        and "till/sale/S-9/v2" in result
    )


def test_impact_preview_loads_into_the_change_page(mset: MappingSet, users: Any, post_event: Any) -> None:
    post_event("till", sale_event("S-8", occurred_at="2026-11-20T10:00:00+00:00"))
    change = textiles_change(mset, users["finance_clerk"], submit=False)
    client = as_user(users["finance_clerk"])
    assert (
        f'hx-get="/mappings/changes/{change.pk}/impact/"'
        in client.get(f"/mappings/changes/{change.pk}/").content.decode()
    )
    fragment = client.get(f"/mappings/changes/{change.pk}/impact/", **HTMX).content.decode()
    assert "data-impact" in fragment and "<html" not in fragment
    assert '1</div><div class="label">of 1 transactions since' in fragment.replace("\n", "")


def test_a_channel_without_mappings_gets_a_set_and_a_first_version(
    ledger: Any, users: Any, post_event: Any, django_capture_on_commit_callbacks: Any
) -> None:
    channel = make_channel(ledger, slug="kiosk", mapped=False)
    clerk = as_user(users["finance_clerk"])
    page = clerk.get("/mappings/").content.decode()
    assert "Channels without mappings" in page and "Channel kiosk" in page
    response = clerk.post("/mappings/sets/new/", {"channel": channel.pk})
    mset = MappingSet.objects.get(channel=channel)
    assert response["Location"] == f"/mappings/sets/{mset.pk}/"
    assert "No approved version yet" in clerk.get(response["Location"]).content.decode()
    post_event("kiosk", sale_event("K-1", occurred_at="2026-11-20T10:00:00+00:00"))
    from integrator.models import AuditEvent, Transaction
    from tests.conftest import standard_rules

    assert Transaction.objects.get().status == "needs_mapping"
    change = svc.draft_change(
        mset, actor=users["finance_clerk"], title="First mappings", effective_from=date(2026, 11, 1)
    )
    for rule in standard_rules(ledger):
        svc.set_item(change, actor=users["finance_clerk"], **rule)
    assert {d["action"] for d in svc.change_diff(change)} == {"add"}
    svc.submit_change(change, actor=users["finance_clerk"])
    with django_capture_on_commit_callbacks(execute=True):
        svc.approve_change(change, actor=users["finance_manager"], comment="first set")
    assert mset.versions.get().number == 1 and Transaction.objects.get().status == "posted"
    assert AuditEvent.objects.filter(action="mapping_set.created", object_id=str(mset.pk)).exists()
