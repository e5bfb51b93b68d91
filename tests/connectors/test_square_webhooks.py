"""Square webhooks: signature over notification URL + raw body, rotation, identity.

Deliveries really travel: the Square sandbox signs and POSTs them over HTTP to a small receiver on
127.0.0.1, and the source verifies what the receiver got (raw bytes and headers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from connectors.base import MalformedPayload, SignatureInvalid, WebhookRequest, sales_source_class
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.square import SquareSandbox, make_event
from connectors.sources.square import SquareSource
from tests.fixtures.square import load, raw, source_for

KEY = "sig-key-current"
OLD_KEY = "sig-key-previous"


class Receiver(SandboxServer):
    """Stands in for our /hooks/ endpoint: keeps what arrived, answers 200."""

    vendor = "receiver"

    @route("POST", "/hooks/{slug}/")
    def hook(self, req: Request) -> Response:
        return Response(200, {"ok": True})

    def last(self, url: str) -> WebhookRequest:
        req = self.requests[-1]
        return WebhookRequest(body=req.body, headers=req.headers, url=url, received_at=datetime.now(UTC))


@pytest.fixture(scope="module")
def servers():
    with SquareSandbox() as square, Receiver() as receiver:
        yield square, receiver


def deliver(servers, body, *, key=KEY, notification_url=None, path="/hooks/sq-shop/") -> WebhookRequest:
    square, receiver = servers
    url = receiver.url + path
    answer = square.send_webhook(url, body, key, notification_url=notification_url)
    assert answer.status_code == 200
    return receiver.last(url)


def source(servers, *secrets: str, **settings) -> SquareSource:
    square, _ = servers
    src = source_for(square, "sq-shop", **settings)
    src.config = replace(src.config, webhook_secrets=tuple(secrets) or (KEY,))
    return src


def test_registry_finds_square_with_its_capabilities():
    cls = sales_source_class("square")
    assert cls is SquareSource
    assert cls.capabilities == frozenset({"webhook", "pull", "payouts"})


def test_signature_is_base64_hmac_sha256_of_url_then_body():
    body = raw("payment_created_gbp.json")
    url = "https://books.example.com/hooks/sq-shop/"
    expected = base64.b64encode(hmac.new(KEY.encode(), url.encode() + body, hashlib.sha256).digest()).decode()
    assert SquareSandbox.signature(KEY, url, body) == expected


def test_valid_signature_accepted(servers):
    request = deliver(servers, raw("payment_created_gbp.json"))
    assert request.header("X-Square-HmacSha256-Signature")
    source(servers).verify_webhook(request)  # no exception


def test_tampered_body_rejected(servers):
    request = deliver(servers, raw("payment_created_gbp.json"))
    tampered = replace(request, body=request.body.replace(b'"amount": 3600', b'"amount": 3601'))
    assert tampered.body != request.body
    with pytest.raises(SignatureInvalid):
        source(servers).verify_webhook(tampered)


def test_wrong_key_rejected(servers):
    request = deliver(servers, raw("payment_created_gbp.json"), key="someone-elses-key")
    with pytest.raises(SignatureInvalid):
        source(servers).verify_webhook(request)


@pytest.mark.parametrize(
    "received",
    [
        pytest.param("https://books.example.com/hooks/sq-shop", id="trailing-slash-missing"),
        pytest.param("http://books.example.com/hooks/sq-shop/", id="http-not-https"),
        pytest.param("https://books.example.com/hooks/sq-shop/?", id="extra-question-mark"),
        pytest.param("https://Books.example.com/hooks/sq-shop/", id="host-case"),
    ],
)
def test_url_differing_by_one_byte_rejected(servers, received):
    registered = "https://books.example.com/hooks/sq-shop/"
    request = deliver(servers, raw("refund_updated_partial_usd.json"), notification_url=registered)
    source(servers).verify_webhook(replace(request, url=registered))  # the exact URL verifies
    with pytest.raises(SignatureInvalid):
        source(servers).verify_webhook(replace(request, url=received))


def test_registered_notification_url_is_used_behind_a_proxy(servers):
    public = "https://books.example.com/hooks/sq-shop/"
    request = deliver(servers, raw("payout_paid_gbp.json"), notification_url=public)
    assert request.url.startswith("http://127.0.0.1:")  # what our server saw
    with pytest.raises(SignatureInvalid):
        source(servers).verify_webhook(request)
    source(servers, notification_url=public).verify_webhook(request)


def test_configured_notification_url_must_match_exactly(servers):
    request = deliver(
        servers, raw("payout_paid_gbp.json"), notification_url="https://books.example.com/hooks/sq-shop/"
    )
    with pytest.raises(SignatureInvalid):
        source(servers, notification_url="https://books.example.com/hooks/sq-shop").verify_webhook(request)


def test_missing_header_rejected(servers):
    request = deliver(servers, raw("order_updated_usd.json"))
    headers = {k: v for k, v in request.headers.items() if k.lower() != "x-square-hmacsha256-signature"}
    with pytest.raises(SignatureInvalid, match="missing"):
        source(servers).verify_webhook(replace(request, headers=headers))


def test_garbage_signature_rejected(servers):
    request = deliver(servers, raw("order_updated_usd.json"))
    headers = {k: v for k, v in request.headers.items() if k.lower() != "x-square-hmacsha256-signature"}
    headers["X-Square-HmacSha256-Signature"] = "not base64 at all é"
    with pytest.raises(SignatureInvalid):
        source(servers).verify_webhook(replace(request, headers=headers))


def test_no_key_configured_rejects_everything(servers):
    request = deliver(servers, raw("order_updated_usd.json"))
    src = source(servers)
    src.config = replace(src.config, webhook_secrets=())
    with pytest.raises(SignatureInvalid, match="no webhook signature key"):
        src.verify_webhook(request)


def test_rotated_key_accepted_old_and_new(servers):
    rotating = source(servers, KEY, OLD_KEY)
    rotating.verify_webhook(deliver(servers, raw("order_updated_usd.json"), key=OLD_KEY))
    rotating.verify_webhook(deliver(servers, raw("order_updated_usd.json"), key=KEY))
    # Once the rotation window closes the old key no longer works.
    with pytest.raises(SignatureInvalid):
        source(servers, KEY).verify_webhook(deliver(servers, raw("order_updated_usd.json"), key=OLD_KEY))


def test_identify_uses_event_id_and_type(servers):
    request = deliver(servers, raw("refund_updated_partial_usd.json"))
    envelope = source(servers).identify_webhook(request)
    assert envelope.dedupe_key == "7d1e9c2a-3b4f-4a6e-8c5d-2f0a1b3c4d5e"
    assert envelope.event_type == "refund.updated"
    assert envelope.extra["object_type"] == "refund"
    assert envelope.extra["merchant_id"] == "ML4K9PZT3Q8RB"


def test_retried_delivery_has_the_same_dedupe_key(servers):
    square, receiver = servers
    body = make_event("payment.updated", "payment", "p1", {"payment": {"id": "p1"}})
    url = receiver.url + "/hooks/sq-shop/"
    first_answer = square.send_webhook(url, body, KEY)
    first = receiver.last(url)
    second_answer = square.send_webhook(url, body, KEY, retry_number=1)
    second = receiver.last(url)
    assert first_answer.ok and second_answer.ok
    assert second.header("square-retry-number") == "1"
    src = source(servers)
    assert (
        src.identify_webhook(first).dedupe_key == src.identify_webhook(second).dedupe_key == body["event_id"]
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"type": "payment.created"}', id="no-event-id"),
        pytest.param(b'{"event_id": "", "type": "payment.created"}', id="empty-event-id"),
        pytest.param(b'{"event_id": "e1"}', id="no-type"),
    ],
)
def test_identify_refuses_malformed_bodies(servers, body):
    request = WebhookRequest(
        body=body, headers={}, url="https://x.example/hooks/a/", received_at=datetime.now(UTC)
    )
    with pytest.raises(MalformedPayload):
        source(servers).identify_webhook(request)


def test_fixture_event_ids_are_unique():
    names = [
        "payment_created_gbp.json",
        "order_updated_usd.json",
        "refund_updated_partial_usd.json",
        "payout_paid_gbp.json",
    ]
    ids = [load(n)["event_id"] for n in names]
    assert len(set(ids)) == len(ids)
