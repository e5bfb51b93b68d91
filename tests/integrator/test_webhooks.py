"""The webhook receiver: the first stage of the spine, through POST /hooks/<channel-slug>/."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal
from typing import Any

import pytest

from integrator.choices import EventStatus, PostingState, TransactionStatus
from integrator.models import BookEntry, InboundEvent, JournalEntry, Posting, Transaction
from tests.conftest import SECRET, sale_event, signed_headers


def test_a_signed_sale_flows_into_balanced_books(channel: Any, post_event: Any) -> None:
    response = post_event("till", sale_event("S-1"))
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    txn = Transaction.objects.get()
    assert (txn.kind, txn.external_id, txn.total, txn.tax_total) == (
        "sale",
        "S-1",
        Decimal("144.00"),
        Decimal("24.00"),
    )
    assert txn.status == TransactionStatus.POSTED
    entry = JournalEntry.objects.get()
    lines = {(ln.account.code, ln.debit, ln.credit) for ln in entry.lines.select_related("account")}
    assert lines == {
        ("1100", Decimal("144.00"), Decimal("0")),
        ("4000", Decimal("0"), Decimal("120.00")),
        ("2100", Decimal("0"), Decimal("24.00")),
    }
    posting = Posting.objects.get()
    assert posting.state == PostingState.POSTED and posting.attempts == 1
    book = BookEntry.objects.get()
    assert book.reference == entry.reference and book.idempotency_key == posting.idempotency_key


def test_duplicate_delivery_is_acknowledged_and_does_nothing_new(channel: Any, post_event: Any) -> None:
    event = sale_event("S-2")
    assert post_event("till", event).status_code == 202
    for _ in range(3):
        again = post_event("till", event)
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
    assert InboundEvent.objects.get().deliveries == 4
    assert (
        Transaction.objects.count(),
        JournalEntry.objects.count(),
        Posting.objects.count(),
        BookEntry.objects.count(),
    ) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unsigned", 401),
        ("wrong_secret", 401),
        ("tampered", 401),
        ("stale", 401),
        ("future", 401),
        ("bad_timestamp", 401),
    ],
)
def test_unauthenticated_requests_are_refused_and_logged(
    channel: Any, client: Any, caplog: Any, case: str, expected: int
) -> None:
    body = json.dumps(sale_event("S-3")).encode()
    headers = signed_headers(body)
    if case == "unsigned":
        headers = {}
    elif case == "wrong_secret":
        headers = signed_headers(body, secret="not-the-secret")
    elif case == "tampered":
        body = body.replace(b"120.00", b"1.00")
    elif case == "stale":
        headers = signed_headers(body, timestamp=int(time.time()) - 301)
    elif case == "future":
        headers = signed_headers(body, timestamp=int(time.time()) + 600)
    elif case == "bad_timestamp":
        headers["HTTP_X_INTEGRATOR_TIMESTAMP"] = "yesterday"
    with caplog.at_level(logging.WARNING, logger="integrator.security"):
        response = client.post("/hooks/till/", data=body, content_type="application/json", **headers)
    assert response.status_code == expected
    assert InboundEvent.objects.count() == 0
    assert any("webhook refused" in r.getMessage() and "status=401" in r.getMessage() for r in caplog.records)


def test_a_rotated_secret_keeps_working_during_the_window(channel: Any, post_event: Any) -> None:
    channel.webhook_secrets = ["new-secret", SECRET]
    channel.save()
    assert post_event("till", sale_event("S-4"), secret=SECRET).status_code == 202
    assert post_event("till", sale_event("S-5"), secret="new-secret").status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"id": "x"}',
        json.dumps(
            {
                "id": "e",
                "type": "sale.completed",
                "created_at": "2026-01-01T00:00:00Z",
                "data": {},
                "extra": 1,
            }
        ).encode(),
        b"\xff\xfe\x00garbage",
        b'{"id": "e\\u0000", "type": "sale.completed", "created_at": "x", "data": {}}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_malformed_bodies_get_400_never_500(channel: Any, client: Any, body: bytes, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="integrator.security"):
        response = client.post(
            "/hooks/till/", data=body, content_type="application/json", **signed_headers(body)
        )
    assert response.status_code == 400
    assert InboundEvent.objects.count() == 0
    assert any("status=400" in r.getMessage() for r in caplog.records)


def test_oversized_body_gets_413_before_parsing(channel: Any, client: Any) -> None:
    body = b'{"pad": "' + b"x" * 1_048_600 + b'"}'
    response = client.post("/hooks/till/", data=body, content_type="application/json", **signed_headers(body))
    assert response.status_code == 413
    assert InboundEvent.objects.count() == 0


def test_unknown_channel_and_wrong_method(channel: Any, client: Any) -> None:
    assert client.post("/hooks/nope/", data=b"{}", content_type="application/json").status_code == 404
    assert client.get("/hooks/till/").status_code == 405


def test_invalid_amounts_are_stored_then_quarantined_not_500(channel: Any, post_event: Any) -> None:
    """A well-formed, signed event whose content cannot be booked is kept and explained."""
    event = sale_event("S-6", currency="XOF", total="100.50", lines=[
        {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "100.50"}])  # fmt: skip
    assert post_event("till", event).status_code == 202
    stored = InboundEvent.objects.get()
    assert stored.status == EventStatus.QUARANTINED
    assert "more decimals than XOF allows" in stored.error
    assert Transaction.objects.count() == 0


def test_unknown_currency_is_quarantined(channel: Any, post_event: Any) -> None:
    assert post_event("till", sale_event("S-7", currency="ABC")).status_code == 202
    assert "unknown currency" in InboundEvent.objects.get().error
