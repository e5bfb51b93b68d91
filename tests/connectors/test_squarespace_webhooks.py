"""Squarespace receiving: hex HMAC-SHA256 with the hex-decoded secret, the notification id as key."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import MalformedPayload, SignatureInvalid, SourceConfig, WebhookRequest
from connectors.sandbox.squarespace import sign_notification
from connectors.sources.squarespace import SIGNATURE_HEADER, SquarespaceSource, sign
from tests.fixtures.squarespace import OLD_SECRET, SECRET, load, make_source

NOW = datetime(2026, 11, 20, 15, 5, tzinfo=UTC)


def _request(body: bytes, **headers: str) -> WebhookRequest:
    return WebhookRequest(
        body=body, headers=headers, url="https://books.example/hooks/sqsp/", received_at=NOW
    )


def _signed(body: bytes, secret: str = SECRET) -> WebhookRequest:
    return _request(body, **{"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)})


def test_signature_is_hex_hmac_with_the_hex_decoded_secret() -> None:
    body = json.dumps(load("webhook_order_create")).encode()
    expected = hmac.new(bytes.fromhex(SECRET), body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET) == sign_notification(body, SECRET) == expected
    make_source().verify_webhook(_signed(body))
    make_source().verify_webhook(_signed(body, OLD_SECRET))  # the previous secret during a rotation
    upper = _request(body, **{SIGNATURE_HEADER: expected.upper()})
    make_source().verify_webhook(upper)  # hex is hex, whatever its case


@pytest.mark.parametrize(
    ("case", "mutate"),
    [
        ("tampered body", lambda b, s: (b.replace(b"order.create", b"order.update"), s)),
        ("wrong secret", lambda b, s: (b, sign(b, "ab" * 32))),
        # The classic mistake: the secret's text used as the key instead of its decoded bytes.
        ("secret not decoded", lambda b, s: (b, hmac.new(SECRET.encode(), b, hashlib.sha256).hexdigest())),
        ("base64 instead of hex", lambda b, s: (b, "PQ3BU1CuRY0J0aCnMAvJk4pA2XQNB3r5ZLRUuu42nWE=")),
        ("missing", lambda b, s: (b, "")),
    ],
)
def test_forged_or_tampered_notifications_are_refused(case: str, mutate: Any) -> None:
    body = json.dumps(load("webhook_order_create")).encode()
    new_body, signature = mutate(body, sign(body, SECRET))
    headers = {SIGNATURE_HEADER: signature} if signature else {}
    with pytest.raises(SignatureInvalid):
        make_source().verify_webhook(_request(new_body, **headers))


def test_a_secret_that_is_not_hex_can_never_match() -> None:
    body = b'{"id":"x"}'
    source = SquarespaceSource(
        SourceConfig(channel_slug="s", currency="USD", webhook_secrets=("not hex at all",))
    )
    with pytest.raises(SignatureInvalid, match="no hex webhook secret"):
        source.verify_webhook(_request(body, **{SIGNATURE_HEADER: sign(body, SECRET)}))


def test_the_notification_id_is_the_dedupe_key() -> None:
    created = make_source().identify_webhook(_signed(json.dumps(load("webhook_order_create")).encode()))
    updated = make_source().identify_webhook(
        _signed(json.dumps(load("webhook_order_update_refunded")).encode())
    )
    assert (created.dedupe_key, created.event_type) == ("64f0a1b2c3d4e5f6a7b8c901", "order.create")
    assert (updated.dedupe_key, updated.event_type) == ("64f0a1b2c3d4e5f6a7b8c902", "order.update")
    assert updated.extra == {
        "website_id": "5f3c3d55ac435e1a051f77b3",
        "subscription_id": "5f3c2155d947844beedda991",
        "order_id": "6571f2a9c3e84d1b2a7f9e01",
        "update": "REFUNDED",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"topic": "order.create", "data": {"orderId": "a"}}', "no id"),
        (b'{"id": "n1", "data": {"orderId": "a"}}', "no topic"),
    ],
)
def test_malformed_notifications_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(MalformedPayload, match=message):
        make_source().identify_webhook(_signed(body))


def test_topics_without_an_order_book_nothing() -> None:
    assert (
        make_source().parse_event(
            "extension.uninstall", {"id": "n", "topic": "extension.uninstall", "data": {}}
        )
        == []
    )
    with pytest.raises(MalformedPayload, match="orderId"):
        make_source().parse_event("order.create", {"id": "n", "topic": "order.create", "data": {}})
