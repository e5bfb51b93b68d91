"""Retention: the integration log is purged only past its (long) retention; personal data is
pseudonymised past its own, keeping what the books need."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from integrator.models import AuditEvent, InboundEvent, IntegrationCall, Transaction
from integrator.security.personal_data import pseudonym, pseudonymise_before, scrub_payload
from tests.conftest import sale_event

CUSTOMER = {"id": "C-77", "name": "Abena Owusu", "email": "abena@example.com", "company": "Owusu Textiles Ltd",
            "tax_number": "GB123456789"}  # fmt: skip
CONTACT = {
    "phone": "+44 20 7946 0000",
    "address": {"line1": "1 Kente Row", "city": "London", "postcode": "E1 6AN", "country": "GB"},
}


def _aged(model: Any, pk: Any, field: str, days: int) -> None:
    model.objects.filter(pk=pk).update(**{field: timezone.now() - timedelta(days=days)})


def test_integration_log_keeps_seven_years_by_default(db: Any, settings: Any) -> None:
    assert settings.INTEGRATION_LOG_RETENTION_DAYS >= 7 * 365
    old = IntegrationCall.objects.create(vendor="qbo", method="POST", url="http://127.0.0.1/old")
    kept = IntegrationCall.objects.create(vendor="qbo", method="POST", url="http://127.0.0.1/kept")
    _aged(IntegrationCall, old.pk, "created_at", settings.INTEGRATION_LOG_RETENTION_DAYS + 1)
    _aged(IntegrationCall, kept.pk, "created_at", settings.INTEGRATION_LOG_RETENTION_DAYS - 1)
    out = io.StringIO()
    call_command("purge_integration_log", "--dry-run", stdout=out)
    assert "would delete 1" in out.getvalue() and IntegrationCall.objects.count() == 2
    call_command("purge_integration_log", stdout=io.StringIO())
    assert list(IntegrationCall.objects.values_list("pk", flat=True)) == [kept.pk]


def test_retention_cannot_be_shortened_from_the_command_line(db: Any, settings: Any) -> None:
    with pytest.raises(CommandError, match="cannot be shorter"):
        call_command("purge_integration_log", "--days", "30", stdout=io.StringIO())
    settings.INTEGRATION_LOG_RETENTION_DAYS = 30  # shortening is a deliberate configuration change
    call_command("purge_integration_log", "--days", "30", stdout=io.StringIO())


@pytest.fixture
def old_sale(channel: Any, post_event: Any, settings: Any) -> Transaction:
    """A sale with a named customer, received and made longer ago than the personal-data retention."""
    post_event("till", sale_event("S-PII-1", customer=CUSTOMER))
    txn = Transaction.objects.get(external_id="S-PII-1")
    days = settings.PERSONAL_DATA_RETENTION_DAYS + 1
    _aged(Transaction, txn.pk, "occurred_at", days)
    for event in txn.events.all():
        _aged(InboundEvent, event.pk, "received_at", days)
    return txn


def test_personal_data_is_pseudonymised_after_retention(old_sale: Transaction, post_event: Any) -> None:
    post_event("till", sale_event("S-PII-2", customer=CUSTOMER))  # recent: left alone
    total_before = old_sale.total
    call_command("purge_personal_data", stdout=io.StringIO())
    old_sale.refresh_from_db()
    customer = old_sale.document["customer"]
    assert customer["name"] == pseudonym("Abena Owusu") and customer["email"].endswith(
        "@pseudonymised.invalid"
    )
    assert customer["external_id"] == "C-77" and customer["tax_number"] == "GB123456789", (
        "the books need these"
    )
    assert old_sale.total == total_before and old_sale.document["lines"]
    raw = old_sale.events.get().body
    for personal in ("Abena", "abena@example.com"):
        assert personal not in raw, personal
    assert json.loads(raw)["data"]["total"] == "144.00", "amounts stay in the raw payload"
    recent = Transaction.objects.get(external_id="S-PII-2")
    assert recent.document["customer"]["name"] == "Abena Owusu"
    row = AuditEvent.objects.get(action="personal_data.pseudonymised", object_type="integrator.Transaction")
    assert row.after["rows"] == 1 and "Abena" not in json.dumps(row.after)


def test_quarantined_payloads_lose_phones_and_addresses_too(
    channel: Any, post_event: Any, settings: Any
) -> None:
    """An event nobody could read (here: fields the source does not know) still holds personal data."""
    post_event("till", sale_event("S-PII-3", customer={**CUSTOMER, **CONTACT}))
    event = InboundEvent.objects.get(status="quarantined")
    _aged(InboundEvent, event.pk, "received_at", settings.PERSONAL_DATA_RETENTION_DAYS + 1)
    pseudonymise_before()
    event.refresh_from_db()
    for personal in ("Abena", "abena@example.com", "7946", "Kente Row", "E1 6AN", "London"):
        assert personal not in event.body, personal
    assert json.loads(event.body)["data"]["customer"]["address"] == "[removed]"


def test_pseudonymising_twice_changes_nothing_more(old_sale: Transaction) -> None:
    first = pseudonymise_before()
    assert first.changed["integrator.Transaction"] == 1 and first.changed["integrator.InboundEvent"] == 1
    old_sale.refresh_from_db()
    document = old_sale.document
    second = pseudonymise_before()
    assert set(second.changed.values()) == {0}
    old_sale.refresh_from_db()
    assert old_sale.document == document


def test_the_same_customer_gets_the_same_pseudonym() -> None:
    assert pseudonym("Abena Owusu") == pseudonym(" abena owusu ") != pseudonym("Tom Hughes")
    data, changed = scrub_payload({"order": {"customer": {"first_name": "Tom", "id": 5},
                                             "line_items": [{"name": "Kente cloth"}],
                                             "browser_ip": "203.0.113.9", "contact_email": "t@example.com"}})  # fmt: skip
    assert changed
    order = data["order"]
    assert order["customer"]["first_name"].startswith("customer-") and order["customer"]["id"] == 5
    assert order["line_items"][0]["name"] == "Kente cloth", "a product name is not a person's name"
    assert order["browser_ip"] == "[removed]" and order["contact_email"].endswith("@pseudonymised.invalid")
