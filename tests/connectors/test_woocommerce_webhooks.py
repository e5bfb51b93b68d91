"""WooCommerce receiving: the signature exactly as WC_Webhook signs, the revision dedupe key, the ping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import MalformedPayload, SignatureInvalid, WebhookRequest
from connectors.sandbox.woocommerce import sign_body, wp_json_encode
from connectors.sources.woocommerce import order_revision_key, sign
from tests.fixtures.woocommerce import OLD_SECRET, SECRET, load, make_source

NOW = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


def _request(body: bytes, **headers: str) -> WebhookRequest:
    return WebhookRequest(body=body, headers=headers, url="https://books.example/hooks/woo/", received_at=NOW)


def _delivery(
    body: bytes, secret: str = SECRET, topic: str = "order.created", **extra: str
) -> WebhookRequest:
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": topic.split(".")[0],
        "X-WC-Webhook-Event": topic.split(".")[1],
        "X-WC-Webhook-Signature": sign(body, secret),
        "X-WC-Webhook-ID": "7",
        "X-WC-Webhook-Delivery-ID": "a3f1c0b9e6a1d4e7f8a2b5c6d7e8f9a0",
        "X-WC-Webhook-Source": "https://kente-and-clay.example/",
        **extra,
    }
    return _request(body, **headers)


def test_signature_is_base64_hmac_sha256_of_the_body_as_sent() -> None:
    # WooCommerce signs the wp_json_encode output byte for byte (escaped slashes and all).
    body = wp_json_encode(load("order_two_vat_rates_gbp"))
    assert b"\\/" in body
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(body, SECRET) == sign_body(body, SECRET) == expected
    make_source().verify_webhook(_delivery(body))


@pytest.mark.parametrize(
    ("case", "mutate"),
    [
        ("tampered body", lambda b, h: (b.replace(b"120.75", b"020.75"), h)),
        ("re-encoded body", lambda b, h: (json.dumps(json.loads(b)).encode(), h)),
        ("wrong secret", lambda b, h: (b, {**h, "X-WC-Webhook-Signature": sign(b, "not-the-secret")})),
        ("missing header", lambda b, h: (b, {k: x for k, x in h.items() if k != "X-WC-Webhook-Signature"})),
        ("not base64", lambda b, h: (b, {**h, "X-WC-Webhook-Signature": "%%%not-base64%%%"})),
        (
            "hex digest",
            lambda b, h: (
                b,
                {**h, "X-WC-Webhook-Signature": hmac.new(SECRET.encode(), b, "sha256").hexdigest()},
            ),
        ),
    ],
)
def test_forged_or_tampered_deliveries_are_refused(case: str, mutate: Any) -> None:
    body = wp_json_encode(load("order_two_vat_rates_gbp"))
    good = _delivery(body)
    new_body, headers = mutate(body, dict(good.headers))
    with pytest.raises(SignatureInvalid):
        make_source().verify_webhook(_request(new_body, **headers))


def test_the_previous_secret_still_verifies_during_a_rotation_and_no_secret_verifies_nothing() -> None:
    body = wp_json_encode(load("order_xof_fee"))
    make_source().verify_webhook(_delivery(body, secret=OLD_SECRET))
    bare = make_source()
    bare.config = type(bare.config)(channel_slug="woo", currency="GBP", webhook_secrets=())
    with pytest.raises(SignatureInvalid, match="no webhook secret"):
        bare.verify_webhook(_delivery(body))


def test_the_dedupe_key_is_the_order_revision_not_the_delivery_id() -> None:
    order = load("order_two_vat_rates_gbp")
    body = wp_json_encode(order)
    first = make_source().identify_webhook(_delivery(body, **{"X-WC-Webhook-Delivery-ID": "d1"}))
    second = make_source().identify_webhook(
        _delivery(body, topic="order.updated", **{"X-WC-Webhook-Delivery-ID": "d2"})
    )
    assert first.dedupe_key == second.dedupe_key == order_revision_key(order)
    assert first.dedupe_key.startswith("order:5101:2026-11-20T10:15:09:")
    assert (first.event_type, second.event_type) == ("order.created", "order.updated")
    assert first.extra == {
        "webhook_id": "7",
        "delivery_id": "d1",
        "source": "https://kente-and-clay.example/",
    }


def test_two_changes_in_the_same_second_are_two_revisions() -> None:
    pending = load("order_two_vat_rates_gbp") | {"status": "pending", "date_paid_gmt": None}
    paid = load("order_two_vat_rates_gbp")
    refunded = paid | {"refunds": [{"id": 5120, "refund": "", "total": "-43.20"}]}
    keys = {order_revision_key(o) for o in (pending, paid, refunded)}
    assert len(keys) == 3
    assert all(k.startswith("order:5101:2026-11-20T10:15:09:") for k in keys)
    assert order_revision_key(load("order_two_vat_rates_gbp")) == order_revision_key(paid)


def test_deleted_and_other_topics_are_identified() -> None:
    deleted = make_source().identify_webhook(_delivery(b'{"id":5101}', topic="order.deleted"))
    assert (deleted.dedupe_key, deleted.event_type) == ("order:5101:deleted", "order.deleted")
    product = make_source().identify_webhook(
        _delivery(b'{"id":93,"date_modified_gmt":"2026-11-20T09:00:00"}', topic="product.updated")
    )
    assert product.dedupe_key == "product.updated:93:2026-11-20T09:00:00"
    assert make_source().parse_event("product.updated", {"id": 93}) == []


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"{not json", {}, "not JSON"),
        (b"[1, 2]", {}, "not a JSON object"),
        (b'{"status": "processing"}', {}, "order id"),
        (b'{"id": 5101}', {"X-WC-Webhook-Topic": ""}, "X-WC-Webhook-Topic"),
    ],
)
def test_malformed_deliveries_are_refused(body: bytes, headers: dict[str, str], message: str) -> None:
    request = _delivery(body)
    with pytest.raises(MalformedPayload, match=message):
        make_source().identify_webhook(_request(body, **{**request.headers, **headers}))


def test_the_creation_ping_is_a_handshake_not_an_event() -> None:
    ping = _request(
        b"webhook_id=12",
        **{
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
        },
    )
    reply = make_source().handle_handshake(ping)
    assert reply is not None and reply.status == 200
    assert reply.record["webhook_id"] == "12"
    assert reply.record["user_agent"].startswith("WooCommerce/")
    # Anything else is not the ping: a signed delivery, another body, a topic header.
    body = wp_json_encode(load("order_two_vat_rates_gbp"))
    assert make_source().handle_handshake(_delivery(body)) is None
    assert make_source().handle_handshake(_request(b"webhook_id=12&x=1")) is None
    assert (
        make_source().handle_handshake(_request(b"webhook_id=12", **{"X-WC-Webhook-Topic": "order.created"}))
        is None
    )
    assert make_source().handle_handshake(_request(b"webhook_id=", **{})) is None
