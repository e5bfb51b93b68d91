"""Alerts fire once per cause, by e-mail (Django's locmem backend in tests) and on the dashboard,
as each person's preferences say: dead letters, re-authorisation, daily budgets, reconciliation
failing two days running, and the inventory hook."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.sandbox.xero import XeroLimits, XeroSandbox
from integrator.choices import AlertKind, PostingState
from integrator.models import Alert, AuditEvent, LedgerAccount, LedgerConnection, Posting
from integrator.services.alerts import (
    alert_choices,
    alerts_for,
    check_alerts,
    notify_inventory_threshold,
    resolve_alerts,
    set_alert_preferences,
)
from integrator.services.ledger_setup import test_ledger_connection as run_connection_test
from integrator.services.posting import replay_posting, run_outbox
from reconciliation.services.runs import run_reconciliation
from tests.conftest import sale_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(users: dict[str, Any]) -> dict[str, Any]:
    """The role users, each with an e-mail address."""
    for role, user in users.items():
        user.email = f"{role}@example.org"
        user.save(update_fields=["email"])
    return users


def dead_letter(ledger: Any, post_event: Any, number: str, day: str = "2025-03-05") -> Posting:
    """A sale whose revenue account the ledger no longer has: refused for good."""
    LedgerAccount.objects.filter(connection=ledger, code="4000").update(active=False)
    assert post_event("till", sale_event(number, occurred_at=f"{day}T10:00:00+00:00")).status_code == 202
    run_outbox(worker="test")
    posting = Posting.objects.get(entry__transaction__number=number)
    assert posting.state == PostingState.DEAD
    return posting


def test_a_dead_letter_alerts_once_and_closes_when_replayed(
    channel: Any,
    ledger: Any,
    post_event: Any,
    people: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    posting = dead_letter(ledger, post_event, "S-DEAD")
    with django_capture_on_commit_callbacks(execute=True):
        assert check_alerts() == 1
    alert = Alert.objects.get(kind=AlertKind.DEAD_LETTER)
    assert alert.cause_key == f"posting:{posting.pk}" and alert.url == f"/postings/{posting.pk}/"
    # The default recipients of dead letters: clerk, manager, integration admin; one message each.
    assert sorted(m.to[0] for m in mailoutbox) == [
        "finance_clerk@example.org", "finance_manager@example.org", "integration_admin@example.org",
    ]  # fmt: skip
    assert mailoutbox[0].subject == f"[Integrator] Dead letter: {posting.entry.reference}"
    assert (
        f"/postings/{posting.pk}/" in mailoutbox[0].body
        and "unknown or inactive account" in mailoutbox[0].body
    )
    assert alert.emailed_to == 3

    # The same dead letter, seen again and again: nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        assert check_alerts() == 0
        assert check_alerts() == 0
    assert len(mailoutbox) == 3 and Alert.objects.count() == 1

    # Fixed and replayed: the cause is gone, the alert closes.
    LedgerAccount.objects.filter(connection=ledger, code="4000").update(active=True)
    replay_posting(posting)
    run_outbox(worker="test")
    check_alerts()
    alert.refresh_from_db()
    assert alert.resolved_at is not None and alerts_for(people["finance_clerk"]) == []
    assert AuditEvent.objects.filter(action="alert.raised").count() == 1


def test_preferences_choose_email_and_dashboard_per_kind(
    channel: Any,
    ledger: Any,
    post_event: Any,
    people: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    clerk, auditor = people["finance_clerk"], people["auditor"]
    defaults = {c.kind: (c.email, c.dashboard, c.default) for c in alert_choices(clerk)}
    assert defaults[AlertKind.DEAD_LETTER] == (True, True, True)
    assert defaults[AlertKind.DAILY_BUDGET] == (False, False, True)
    set_alert_preferences(
        clerk, {AlertKind.DEAD_LETTER: (False, True)}, email_address="ama@example.org", actor=clerk
    )
    set_alert_preferences(auditor, {AlertKind.DEAD_LETTER: (True, False)}, actor=auditor)
    dead_letter(ledger, post_event, "S-PREF")
    with django_capture_on_commit_callbacks(execute=True):
        check_alerts()
    told = sorted(m.to[0] for m in mailoutbox)
    assert told == ["auditor@example.org", "finance_manager@example.org", "integration_admin@example.org"]
    assert [a.kind for a in alerts_for(clerk)] == [AlertKind.DEAD_LETTER]  # on the clerk's dashboard
    assert alerts_for(auditor) == []  # e-mail only
    clerk.refresh_from_db()
    assert clerk.email == "ama@example.org"
    row = AuditEvent.objects.filter(action="alert.preferences_changed", object_id=str(clerk.pk)).get()
    assert row.before["dead_letter"] == [True, True] and row.after["dead_letter"] == [False, True]


def test_a_connection_needing_reauthorisation_alerts_once_per_episode(
    ledger: Any, people: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    conn = LedgerConnection.objects.create(platform="quickbooks", name="QBO", functional_currency="GBP")
    LedgerConnection.objects.filter(pk=conn.pk).update(needs_reauth=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert check_alerts() == 1
        assert check_alerts() == 0
    assert sorted(m.to[0] for m in mailoutbox) == [
        "finance_manager@example.org",
        "integration_admin@example.org",
    ]
    LedgerConnection.objects.filter(pk=conn.pk).update(needs_reauth=False)  # connected again
    check_alerts()
    LedgerConnection.objects.filter(pk=conn.pk).update(needs_reauth=True)  # and lost again: a new episode
    assert check_alerts() == 1
    assert Alert.objects.filter(kind=AlertKind.NEEDS_REAUTH).count() == 2


def test_a_nearly_spent_daily_budget_alerts_once_a_day(
    people: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # The organisation has only 300 of Xero's 5,000 daily calls left (other apps used the rest).
    with XeroSandbox(base_currency="GBP", limits=XeroLimits(per_day=300, per_minute=None)) as xero:
        conn = LedgerConnection.objects.create(
            platform="xero", name="Xero", functional_currency="GBP", base_url=xero.url,
            credentials=xero.credentials(), settings=xero.ledger_settings(),
        )  # fmt: skip
        assert run_connection_test(conn).ok  # one call: Xero says 299 left
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert check_alerts(now) == 1
        assert check_alerts(now) == 0
    alert = Alert.objects.get(kind=AlertKind.DAILY_BUDGET)
    assert "299 of its 5000 calls left today" in alert.message
    assert check_alerts(now + timedelta(days=1)) == 1  # tomorrow is another cause
    assert Alert.objects.filter(kind=AlertKind.DAILY_BUDGET, resolved_at__isnull=True).count() == 1


def test_reconciliation_failing_two_days_running_alerts_once_per_streak(
    channel: Any, ledger: Any, post_event: Any, people: Any
) -> None:
    dead_letter(ledger, post_event, "S-5", "2025-03-05")
    dead_letter(ledger, post_event, "S-6", "2025-03-06")
    dead_letter(ledger, post_event, "S-7", "2025-03-07")
    run_reconciliation(day=date(2025, 3, 5))
    assert check_alerts() == 3  # the three dead letters only: one failing day is not two
    assert not Alert.objects.filter(kind=AlertKind.RECONCILIATION).exists()
    run_reconciliation(day=date(2025, 3, 6))
    check_alerts()
    alert = Alert.objects.get(kind=AlertKind.RECONCILIATION)
    assert alert.title == "Reconciliation failing since 05 Mar 2025"
    run_reconciliation(day=date(2025, 3, 7))  # a third day of the same streak: the same cause
    check_alerts()
    assert Alert.objects.filter(kind=AlertKind.RECONCILIATION).count() == 1


def test_the_inventory_hook_alerts_once_per_product_and_place(
    people: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = notify_inventory_threshold("KENTE-12", "Dakar pop-up", 2, 5, name="Kente scarf")
        again = notify_inventory_threshold("KENTE-12", "Dakar pop-up", 1, 5, name="Kente scarf")
    assert first is not None and again is None
    assert first.title == "Low stock: Kente scarf (KENTE-12) at Dakar pop-up"
    assert sorted(m.to[0] for m in mailoutbox) == ["finance_clerk@example.org", "finance_manager@example.org"]
    assert resolve_alerts(AlertKind.INVENTORY, [], prefix="stock:") == 1  # restocked
    assert notify_inventory_threshold("KENTE-12", "Dakar pop-up", 0, 5) is not None  # and low again
