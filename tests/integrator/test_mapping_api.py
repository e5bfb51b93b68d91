"""The mapping API: sets, versions, change requests with approve / reject, re-postings, held
transactions. Maker-checker holds whatever the client sends."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from integrator.models import AuditEvent, LedgerAccount, MappingChangeRequest, MappingSet, RepostRequest
from tests.conftest import make_channel, sale_event
from tests.integrator.test_mapping_changes import make_user, today

API = "/api/v1"


def as_user(user: Any) -> Client:
    """A test client signed in as ``user``, its session verified with a second factor when the
    security app asks privileged roles for one."""
    client = Client()
    client.force_login(user)
    if apps.is_installed("django_otp.plugins.otp_totp"):
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="test phone", defaults={"confirmed": True}
        )
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def mset(channel: Any) -> MappingSet:
    return MappingSet.objects.get(channel=channel)


def draft_payload(mset: MappingSet, to: str = "4010", **extra: Any) -> dict[str, Any]:
    account = LedgerAccount.objects.get(connection=mset.connection, code=to)
    return {
        "mapping_set": str(mset.pk),
        "title": "Textiles to homeware",
        "reason": "regrouping",
        "items": [
            {
                "kind": "revenue",
                "match_field": "category",
                "match_value": "textiles",
                "account": str(account.pk),
            }
        ],
        **extra,
    }


def create_and_submit(client: Client, mset: MappingSet, **extra: Any) -> dict[str, Any]:
    created = client.post(
        f"{API}/mapping-changes/", draft_payload(mset, **extra), content_type="application/json"
    )
    assert created.status_code == 201, created.content
    submitted = client.post(f"{API}/mapping-changes/{created.json()['id']}/submit/")
    assert submitted.status_code == 200, submitted.content
    return submitted.json()


def test_author_approving_their_own_change_is_refused_by_the_api(mset: MappingSet, users: Any) -> None:
    manager = as_user(users["finance_manager"])
    change = create_and_submit(manager, mset)
    assert change["status"] == "submitted" and change["author"] == "finance_manager"
    refused = manager.post(
        f"{API}/mapping-changes/{change['id']}/approve/", {"comment": "mine"}, content_type="application/json"
    )
    assert refused.status_code == 403 and "your own change" in refused.json()["detail"]
    assert MappingChangeRequest.objects.get(pk=change["id"]).status == "submitted"
    other = as_user(make_user("manager2", "finance_manager"))
    ok = other.post(
        f"{API}/mapping-changes/{change['id']}/approve/", {"comment": "fine"}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["status"] == "approved" and ok.json()["version_number"] == 2
    assert ok.json()["reviewer"] == "manager2"


def test_a_clerk_cannot_approve_or_reject_through_the_api(mset: MappingSet, users: Any) -> None:
    change = create_and_submit(as_user(users["finance_clerk"]), mset)
    clerk2 = as_user(make_user("clerk2", "finance_clerk"))
    for verb in ("approve", "reject"):
        r = clerk2.post(
            f"{API}/mapping-changes/{change['id']}/{verb}/", {"comment": "x"}, content_type="application/json"
        )
        assert r.status_code == 403, verb
    auditor = as_user(users["auditor"])
    assert auditor.post(f"{API}/mapping-changes/{change['id']}/approve/").status_code == 403
    assert (
        auditor.post(
            f"{API}/mapping-changes/", draft_payload(mset), content_type="application/json"
        ).status_code
        == 403
    )
    assert MappingChangeRequest.objects.get(pk=change["id"]).status == "submitted"


def test_submitted_change_is_frozen_and_reject_needs_a_comment(mset: MappingSet, users: Any) -> None:
    clerk = as_user(users["finance_clerk"])
    change = create_and_submit(clerk, mset)
    r = clerk.patch(
        f"{API}/mapping-changes/{change['id']}/", {"title": "edited"}, content_type="application/json"
    )
    assert r.status_code == 409 and "can no longer be edited" in r.json()["detail"]
    account = LedgerAccount.objects.get(connection=mset.connection, code="4100")
    r = clerk.post(
        f"{API}/mapping-changes/{change['id']}/items/",
        {"kind": "shipping", "match_field": "default", "account": str(account.pk)},
        content_type="application/json",
    )
    assert r.status_code == 409
    manager = as_user(users["finance_manager"])
    r = manager.post(
        f"{API}/mapping-changes/{change['id']}/reject/", {"comment": ""}, content_type="application/json"
    )
    assert r.status_code == 400 and "comment" in r.json()
    r = manager.post(
        f"{API}/mapping-changes/{change['id']}/reject/",
        {"comment": "not now"},
        content_type="application/json",
    )
    assert (
        r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["review_comment"] == "not now"
    )
    assert clerk.delete(f"{API}/mapping-changes/{change['id']}/").status_code in (403, 405)


def test_drafts_are_edited_item_by_item_with_validation(mset: MappingSet, users: Any) -> None:
    clerk = as_user(users["finance_clerk"])
    created = clerk.post(
        f"{API}/mapping-changes/",
        {"mapping_set": str(mset.pk), "title": "Fees"},
        content_type="application/json",
    )
    change_id = created.json()["id"]
    assert created.json()["effective_from"] == today().isoformat() and created.json()["status"] == "draft"
    bad = clerk.post(
        f"{API}/mapping-changes/{change_id}/items/",
        {"kind": "fee", "match_field": "sku", "match_value": "X"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and set(bad.json()) == {"match_field", "account"}
    fees = LedgerAccount.objects.get(connection=mset.connection, code="6200")
    good = clerk.post(
        f"{API}/mapping-changes/{change_id}/items/",
        {"kind": "fee", "match_field": "default", "account": str(fees.pk)},
        content_type="application/json",
    )
    assert good.status_code == 200 and good.json()["items"][0]["action"] == "edit"
    item_id = good.json()["items"][0]["id"]
    diff = clerk.get(f"{API}/mapping-changes/{change_id}/diff/").json()["diff"]
    assert diff[0]["before"]["account"] == "6100" and diff[0]["after"]["account"] == "6200"
    other = as_user(users["finance_manager"])
    assert other.delete(f"{API}/mapping-changes/{change_id}/items/{item_id}/").status_code == 403
    assert clerk.delete(f"{API}/mapping-changes/{change_id}/items/{item_id}/").json()["items"] == []


def test_pending_changes_touching_the_same_rule_are_flagged(mset: MappingSet, users: Any) -> None:
    first = create_and_submit(as_user(users["finance_clerk"]), mset)
    second = create_and_submit(as_user(make_user("clerk2", "finance_clerk")), mset, to="4100")
    data = as_user(users["auditor"]).get(f"{API}/mapping-changes/{first['id']}/").json()
    assert data["conflicts"] == [
        {
            "change": second["id"],
            "title": "Textiles to homeware",
            "author": "clerk2",
            "status": "submitted",
            "rules": ["revenue category=textiles"],
        }
    ]
    manager = as_user(users["finance_manager"])
    assert manager.post(f"{API}/mapping-changes/{first['id']}/approve/").status_code == 200
    stale = manager.post(f"{API}/mapping-changes/{second['id']}/approve/")
    assert stale.status_code == 409 and "stale" in stale.json()["detail"]


def test_versions_sets_and_audit_are_readable_and_anonymous_is_refused(mset: MappingSet, users: Any) -> None:
    assert Client().get(f"{API}/mapping-versions/").status_code == 403
    change = create_and_submit(as_user(users["finance_clerk"]), mset)
    as_user(users["finance_manager"]).post(
        f"{API}/mapping-changes/{change['id']}/approve/", {"comment": "ok"}, content_type="application/json"
    )
    auditor = as_user(users["auditor"])
    sets = auditor.get(f"{API}/mapping-sets/").json()["results"]
    assert sets[0]["current_version"] == 2 and sets[0]["channel_slug"] == "till"
    versions = auditor.get(f"{API}/mapping-versions/?mapping_set={mset.pk}").json()["results"]
    v2 = next(v for v in versions if v["number"] == 2)
    assert (
        v2["created_by"] == "finance_clerk"
        and v2["approved_by"] == "finance_manager"
        and v2["status"] == "active"
    )
    assert {"kind": "revenue", "match_value": "textiles", "account_code": "4010"}.items() <= next(
        r for r in v2["rules"] if r["match_value"] == "textiles"
    ).items()
    trail = auditor.get(f"{API}/audit-events/?object_id={change['id']}").json()["results"]
    assert {
        "mapping_change.drafted",
        "mapping_change.item_set",
        "mapping_change.submitted",
        "mapping_change.approved",
    } <= {row["action"] for row in trail}


def test_held_transactions_and_their_groups(ledger: Any, users: Any, post_event: Any) -> None:
    make_channel(ledger, with_default_revenue=False)
    line = {
        "sku": "KENTE-99",
        "name": "Kente",
        "category": "silk",
        "quantity": 1,
        "unit_price": "100.00",
        "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "20.00"}],
    }
    for i in range(3):
        post_event("till", sale_event(f"K-{i}", lines=[line], total="120.00"))
    auditor = as_user(users["auditor"])
    held = auditor.get(f"{API}/held-transactions/").json()["results"]
    assert len(held) == 3 and held[0]["status_reasons"] == ["SKU KENTE-99 has no revenue account"]
    groups = auditor.get(f"{API}/held-transactions/groups/").json()
    assert [(g["reason"], g["count"], g["totals"]) for g in groups] == [
        ("SKU KENTE-99 has no revenue account", 3, {"GBP": "360.0000"})
    ]


def test_reposting_is_previewed_and_executed_through_the_api(
    mset: MappingSet, users: Any, post_event: Any, django_capture_on_commit_callbacks: Any
) -> None:
    post_event("till", sale_event("A-1", occurred_at="2026-11-20T10:00:00+00:00"))
    change = create_and_submit(as_user(users["finance_clerk"]), mset, effective_from="2026-11-01")
    manager = as_user(users["finance_manager"])
    r = manager.post(f"{API}/mapping-changes/{change['id']}/approve/", {}, content_type="application/json")
    assert r.status_code == 409 and "re-posting" in r.json()["detail"]
    r = manager.post(
        f"{API}/mapping-changes/{change['id']}/approve/",
        {"confirm_reposting": True},
        content_type="application/json",
    )
    assert r.status_code == 200
    repost = RepostRequest.objects.get()
    preview = manager.get(f"{API}/reposts/{repost.pk}/").json()
    assert preview["status"] == "pending" and preview["preview"]["counts"] == {"reposted": 1}
    assert as_user(users["finance_clerk"]).post(f"{API}/reposts/{repost.pk}/execute/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        done = manager.post(f"{API}/reposts/{repost.pk}/execute/")
    assert done.status_code == 200 and done.json()["status"] == "done"
    [result] = done.json()["results"]
    assert result["outcome"] == "reposted" and result["reversal_reference"].endswith("/rev-v2")
    assert result["delta"] == [
        {"account": "4000", "amount": "120.00"},
        {"account": "4010", "amount": "-120.00"},
    ]
    assert manager.post(f"{API}/reposts/{repost.pk}/execute/").status_code == 409
    assert AuditEvent.objects.filter(action="repost.executed").count() == 1


def test_the_schema_documents_the_mapping_actions(users: Any) -> None:
    schema = as_user(users["auditor"]).get("/api/schema/").content.decode()
    for path in (
        "/api/v1/mapping-changes/{id}/approve/",
        "/api/v1/mapping-changes/{id}/reject/",
        "/api/v1/held-transactions/groups/",
        "/api/v1/reposts/{id}/execute/",
    ):
        assert path in schema, path
