"""One mapping change for several channels, and a held transaction's link to the mapping it needs.

Before, the same SKU sold on three channels needed three change requests and three approvals;
now one change covers every channel of the ledger the author ticks: one approval, one new version
per mapping set, all audited, all or nothing. A transaction held for want of a mapping links to a
draft change already filled in with the missing rule and every channel waiting for it.
"""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from typing import Any

import pytest
from django.test import Client

from integrator.choices import TransactionStatus
from integrator.models import (
    AuditEvent,
    LedgerAccount,
    LedgerConnection,
    MappingChangeRequest,
    MappingRule,
    MappingSet,
    Transaction,
)
from integrator.models.mapping_changes import ChangeStatus
from integrator.services import mapping_changes as svc
from integrator.services.pipeline import retry_held_transactions
from tests.conftest import make_channel, sale_event
from tests.integrator.test_mapping_api import as_user
from tests.integrator.test_mapping_changes import make_user

SKU = "ADINKRA-STAMPS"
STAMPS = [{"sku": SKU, "name": "Adinkra stamp set", "category": "crafts", "quantity": 1,
           "unit_price": "120.00", "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "24.00"}]}]  # fmt: skip


@pytest.fixture
def shops(ledger: LedgerConnection, post_event: Any) -> dict[str, MappingSet]:
    """Three channels of one ledger without a default revenue account; a stamp set sold on the web
    shop (20 Nov) and on the pop-up (21 Nov) is held, the wholesale channel already maps the SKU."""
    sets = {}
    for slug in ("web", "popup", "wholesale"):
        channel = make_channel(ledger, slug=slug, with_default_revenue=False)
        sets[slug] = MappingSet.objects.get(channel=channel)
    wholesale_version = svc.current_version(sets["wholesale"])
    assert wholesale_version is not None
    MappingRule.objects.create(version=wholesale_version, kind="revenue", match_field="sku", match_value=SKU,
                               account=_account(ledger, "4000"))  # fmt: skip
    post_event("web", sale_event("W-1", lines=STAMPS))
    post_event("popup", sale_event("P-1", lines=STAMPS, occurred_at="2026-11-21T11:00:00+00:00"))
    assert Transaction.objects.filter(status=TransactionStatus.NEEDS_MAPPING).count() == 2
    return sets


def _account(ledger: LedgerConnection, code: str) -> LedgerAccount:
    return LedgerAccount.objects.get(connection=ledger, code=code)


def _stamps_change(sets: dict[str, MappingSet], author: Any, *, also: tuple[str, ...] = ("popup", "wholesale"),
                   action: str | None = None) -> MappingChangeRequest:  # fmt: skip
    change = svc.draft_change(sets["web"], actor=author, title="Stamp sets are homeware",
                              effective_from=date(2026, 11, 20), also=[sets[s] for s in also])  # fmt: skip
    svc.set_item(change, actor=author, action=action, kind="revenue", match_field="sku", match_value=SKU,
                 account=_account(sets["web"].connection, "4010"))  # fmt: skip
    return change


def _rule(mapping_set: MappingSet) -> MappingRule | None:
    version = svc.current_version(mapping_set)
    assert version is not None
    return version.rules.filter(kind="revenue", match_field="sku", match_value=SKU).first()


def test_one_change_one_approval_one_new_version_per_channel(
    shops: dict[str, MappingSet], users: Any
) -> None:
    clerk, manager = users["finance_clerk"], users["finance_manager"]
    change = _stamps_change(shops, clerk)
    change = svc.submit_change(change, actor=clerk)
    diffs = {t.mapping_set.channel.slug: [(r["action"], r["before"] and r["before"]["account"]) for r in t.diff]
             for t in change.targets.all()}  # fmt: skip
    assert diffs == {"popup": [("add", None)], "wholesale": [("edit", "4000")]}
    versions_before = {slug: svc.current_version(ms).number for slug, ms in shops.items()}  # type: ignore[union-attr]

    approved = svc.approve_change(change, actor=manager, comment="one approval for all three")
    assert approved.status == ChangeStatus.APPROVED
    for slug, ms in shops.items():
        version = svc.current_version(ms)
        assert version is not None and version.number == versions_before[slug] + 1, slug
        rule = _rule(ms)
        assert rule is not None and rule.account.code == "4010", slug
        assert version.approved_by == manager and version.created_by == clerk
    targets = {t.mapping_set.channel.slug: t.version.number for t in approved.targets.all()}  # type: ignore[union-attr]
    assert targets == {"popup": 2, "wholesale": 2}
    trail = AuditEvent.objects.get(action="mapping_change.approved", object_id=str(change.pk))
    assert trail.after["versions"] == {"web": 2, "popup": 2, "wholesale": 2}
    assert AuditEvent.objects.filter(action="mapping_version.activated").count() == 3 + 3  # + the fixtures'
    channels = AuditEvent.objects.get(action="mapping_change.channels_set")
    assert channels.before == {"also": []} and channels.after == {"also": ["popup", "wholesale"]}

    for ms in shops.values():
        retry_held_transactions(channel_id=ms.channel_id)
    assert not Transaction.objects.filter(status=TransactionStatus.NEEDS_MAPPING).exists()


def test_all_or_nothing_when_one_channel_changed_meanwhile(shops: dict[str, MappingSet], users: Any) -> None:
    clerk, manager = users["finance_clerk"], users["finance_manager"]
    change = svc.submit_change(_stamps_change(shops, clerk), actor=clerk)
    # Meanwhile another change maps the SKU on the pop-up to textiles.
    other = svc.draft_change(shops["popup"], actor=make_user("clerk2", "finance_clerk"), title="Pop-up stamps",
                             effective_from=date(2026, 11, 20))  # fmt: skip
    svc.set_item(other, actor=other.author, kind="revenue", match_field="sku", match_value=SKU,
                 account=_account(shops["popup"].connection, "4000"))  # fmt: skip
    svc.approve_change(svc.submit_change(other, actor=other.author), actor=manager)
    numbers = {slug: svc.current_version(ms).number for slug, ms in shops.items()}  # type: ignore[union-attr]

    with pytest.raises(svc.MappingChangeError, match=r"changed since submission \(Channel popup\)"):
        svc.approve_change(change, actor=manager)
    assert {slug: svc.current_version(ms).number for slug, ms in shops.items()} == numbers  # type: ignore[union-attr]
    assert MappingChangeRequest.objects.get(pk=change.pk).status == ChangeStatus.SUBMITTED


def test_channels_must_share_the_ledger_and_removals_must_fit_every_channel(
    shops: dict[str, MappingSet], users: Any
) -> None:
    clerk = users["finance_clerk"]
    elsewhere = LedgerConnection.objects.create(
        platform="builtin", name="Other books", functional_currency="GBP"
    )
    foreign = MappingSet.objects.create(channel=shops["web"].channel, connection=elsewhere)
    change = svc.draft_change(shops["wholesale"], actor=clerk, title="Drop the SKU rule")
    with pytest.raises(svc.ItemInvalid, match="another ledger"):
        svc.set_targets(change, mapping_sets=[foreign], actor=clerk)
    svc.set_targets(change, mapping_sets=[shops["web"]], actor=clerk)
    svc.set_item(change, actor=clerk, action="remove", kind="revenue", match_field="sku", match_value=SKU)
    with pytest.raises(svc.MappingChangeError, match="Channel web: this channel has no such rule to remove"):
        svc.submit_change(change, actor=clerk)
    with pytest.raises(svc.MappingChangeError, match="can no longer be edited"):
        svc.set_targets(svc.approve_change(_submitted_single(shops, clerk), actor=users["finance_manager"]),
                        mapping_sets=[], actor=clerk)  # fmt: skip


def _submitted_single(shops: dict[str, MappingSet], clerk: Any) -> MappingChangeRequest:
    return svc.submit_change(_stamps_change(shops, clerk, also=()), actor=clerk)


def test_the_api_drafts_a_change_for_several_channels(shops: dict[str, MappingSet], users: Any) -> None:
    clerk = as_user(users["finance_clerk"])
    account = _account(shops["web"].connection, "4010")
    created = clerk.post("/api/v1/mapping-changes/", {
        "mapping_set": str(shops["web"].pk), "title": "Stamps", "effective_from": "2026-11-20",
        "also_mapping_sets": [str(shops["popup"].pk)],
        "items": [{"kind": "revenue", "match_field": "sku", "match_value": SKU, "account": str(account.pk)}],
    }, content_type="application/json")  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert [t["channel_slug"] for t in body["targets"]] == ["popup"]
    change_id = body["id"]
    patched = clerk.patch(f"/api/v1/mapping-changes/{change_id}/",
                          {"also_mapping_sets": [str(shops["popup"].pk), str(shops["wholesale"].pk)]},
                          content_type="application/json")  # fmt: skip
    assert sorted(t["channel_slug"] for t in patched.json()["targets"]) == ["popup", "wholesale"]
    assert clerk.post(f"/api/v1/mapping-changes/{change_id}/submit/").status_code == 200
    manager = as_user(users["finance_manager"])
    approved = manager.post(f"/api/v1/mapping-changes/{change_id}/approve/", {"comment": "ok"},
                            content_type="application/json")  # fmt: skip
    assert approved.status_code == 200, approved.content
    assert {t["channel_slug"]: t["version_number"] for t in approved.json()["targets"]} == {
        "popup": 2, "wholesale": 2}  # fmt: skip


def test_a_held_transaction_links_to_a_prefilled_draft_for_every_waiting_channel(
    shops: dict[str, MappingSet], users: Any
) -> None:
    held = Transaction.objects.get(external_id="W-1")
    clerk = as_user(users["finance_clerk"])
    page = clerk.get(f"/transactions/{held.pk}/").content.decode()
    link = re.search(rf'<a href="([^"]+)" data-fix="revenue:sku:{SKU}">Draft the revenue account for SKU {SKU}</a>',
                     page)  # fmt: skip
    assert link is not None, "a link to the mapping that would fix it"
    assert 'data-fix="revenue:category:crafts"' in page, "the broader rule is offered too"
    auditor_page = as_user(users["auditor"]).get(f"/transactions/{held.pk}/").content.decode()
    assert "data-fix=" not in auditor_page and "a finance clerk drafts mapping changes" in auditor_page

    form_page = clerk.get(unescape(link.group(1)))
    html = form_page.content.decode()
    assert form_page.status_code == 200
    assert f'value="Map the revenue account for SKU {SKU}"' in html
    assert 'type="date" name="effective_from" value="2026-11-20"' in html, "the earliest held day"
    assert "2 transactions held since 20 Nov 2026: SKU ADINKRA-STAMPS has no revenue account." in html
    ticked = re.findall(r'<input type="checkbox" name="mapping_sets" value="([^"]+)"[^>]*checked', html)
    assert ticked == [str(shops["popup"].pk)], "the pop-up holds a stamp set too; wholesale does not"

    done = clerk.post(unescape(link.group(1)), {
        "title": f"Map the revenue account for SKU {SKU}", "reason": "held", "effective_from": "2026-11-20",
        "mapping_sets": [str(shops["popup"].pk)]})  # fmt: skip
    change = MappingChangeRequest.objects.get()
    assert done.status_code == 302
    assert done["Location"] == (
        f"/mappings/changes/{change.pk}/?kind=revenue&match_field=sku&match_value={SKU}#item-form"
    )
    assert change.mapping_set == shops["web"] and [t.mapping_set for t in change.targets.all()] == [
        shops["popup"]
    ]
    editor = clerk.get(done["Location"]).content.decode()
    assert re.search(r'<option value="sku" selected>SKU</option>', editor)
    assert f'name="match_value" value="{SKU}"' in editor
    assert 'data-target-channel="popup"' in editor and "Apply to these channels as well" in editor


def test_the_change_page_sets_the_channels(shops: dict[str, MappingSet], users: Any) -> None:
    clerk = users["finance_clerk"]
    change = _stamps_change(shops, clerk, also=())
    client: Client = as_user(clerk)
    response = client.post(f"/mappings/changes/{change.pk}/channels/",
                           {"mapping_set": [str(shops["popup"].pk), str(shops["wholesale"].pk)]}, follow=True)  # fmt: skip
    page = response.content.decode()
    assert response.redirect_chain == [(f"/mappings/changes/{change.pk}/", 302)]
    assert "The change covers Channel popup, Channel wholesale as well." in page
    assert 'data-target-channel="popup"' in page and 'data-target-channel="wholesale"' in page
    other = as_user(make_user("clerk2", "finance_clerk"))
    assert other.post(f"/mappings/changes/{change.pk}/channels/", {"mapping_set": []}).status_code == 403
    assert change.targets.count() == 2
