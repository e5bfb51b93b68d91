"""Stripe webhook signatures and event identity, through StripeSource's public methods.

Headers are built the way Stripe builds them (``StripeSandbox``'s signer, which is written
independently of the verifier), and one test sends a real webhook over HTTP to a loopback receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from connectors.base import MalformedPayload, SignatureInvalid, SourceConfig, WebhookRequest
from connectors.sandbox.stripe import StripeSandbox, stripe_signature_header
from connectors.sources.stripe import StripeSource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe"
CURRENT = "whsec_test_CurrentSigningSecret0001"
PREVIOUS = "whsec_test_PreviousSigningSecret001"
SENT_AT = 1763539801  # the fixture event's own time


def body_of(name: str) -> bytes:
    """A fixture event as Stripe would send it (pretty-printed JSON, byte for byte)."""
    return json.dumps(json.loads((FIXTURES / name).read_text()), indent=2).encode()


def source(*secrets: str) -> StripeSource:
    return StripeSource(SourceConfig(channel_slug="stripe-sig", currency="GBP", webhook_secrets=secrets))


def request(body: bytes, header: str | None, received: int = SENT_AT + 2) -> WebhookRequest:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return WebhookRequest(
        body=body,
        headers=headers,
        url="https://integrator.example/hooks/stripe-shop/",
        received_at=datetime.fromtimestamp(received, tz=UTC),
    )


BODY = body_of("event_charge_succeeded_gbp.json")


def test_a_correctly_signed_webhook_is_accepted() -> None:
    header = stripe_signature_header(BODY, CURRENT, SENT_AT)
    source(CURRENT).verify_webhook(request(BODY, header))  # no exception


def test_the_signature_is_hex_hmac_sha256_of_timestamp_dot_raw_body() -> None:
    """Pin the scheme itself, not just our signer and verifier agreeing with each other."""
    digest = hmac.new(CURRENT.encode(), f"{SENT_AT}.".encode() + BODY, hashlib.sha256).hexdigest()
    source(CURRENT).verify_webhook(request(BODY, f"t={SENT_AT},v1={digest}"))
    with pytest.raises(SignatureInvalid):
        source(CURRENT).verify_webhook(request(BODY, f"t={SENT_AT},v1={digest[:-1]}0"))


def test_a_tampered_body_is_rejected() -> None:
    header = stripe_signature_header(BODY, CURRENT, SENT_AT)
    tampered = BODY.replace(b'"amount": 4500', b'"amount": 4501', 1)
    assert tampered != BODY
    with pytest.raises(SignatureInvalid, match="no v1 signature matches"):
        source(CURRENT).verify_webhook(request(tampered, header))


def test_reserialised_json_is_not_the_signed_body() -> None:
    """Verification is over the raw bytes: the same JSON with other whitespace does not verify."""
    header = stripe_signature_header(BODY, CURRENT, SENT_AT)
    compact = json.dumps(json.loads(BODY)).encode()
    with pytest.raises(SignatureInvalid):
        source(CURRENT).verify_webhook(request(compact, header))


def test_a_wrong_secret_is_rejected() -> None:
    header = stripe_signature_header(BODY, "whsec_someone_else", SENT_AT)
    with pytest.raises(SignatureInvalid, match="no v1 signature matches"):
        source(CURRENT).verify_webhook(request(BODY, header))


def test_a_timestamp_301_seconds_old_is_rejected_and_300_accepted() -> None:
    header = stripe_signature_header(BODY, CURRENT, SENT_AT)
    source(CURRENT).verify_webhook(request(BODY, header, received=SENT_AT + 300))
    with pytest.raises(SignatureInvalid, match="301 s old"):
        source(CURRENT).verify_webhook(request(BODY, header, received=SENT_AT + 301))


def test_a_timestamp_ten_minutes_in_the_future_is_rejected() -> None:
    header = stripe_signature_header(BODY, CURRENT, SENT_AT + 600)
    with pytest.raises(SignatureInvalid, match="600 s in the future"):
        source(CURRENT).verify_webhook(request(BODY, header, received=SENT_AT))


def test_the_tolerance_can_be_set_per_channel() -> None:
    header = stripe_signature_header(BODY, CURRENT, SENT_AT)
    strict = StripeSource(
        SourceConfig(
            channel_slug="s", currency="GBP", webhook_secrets=(CURRENT,), settings={"signature_tolerance": 60}
        )
    )
    with pytest.raises(SignatureInvalid, match="tolerance 60 s"):
        strict.verify_webhook(request(BODY, header, received=SENT_AT + 61))


def test_a_missing_header_is_rejected() -> None:
    with pytest.raises(SignatureInvalid, match="missing Stripe-Signature"):
        source(CURRENT).verify_webhook(request(BODY, None))


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "missing"),
        ("garbage", "has no '='"),
        ("v1=abcdef", "exactly one t="),
        (f"t={SENT_AT}", "no v1 signature"),
        (f"t=12x4,v1={'0' * 64}", "not an integer"),
        (f"t={SENT_AT},t={SENT_AT},v1={'0' * 64}", "exactly one t="),
        (f"t={SENT_AT},v0={'0' * 64}", "no v1 signature"),
    ],
)
def test_a_malformed_header_is_rejected_with_a_clear_reason(header: str, reason: str) -> None:
    with pytest.raises(SignatureInvalid, match=reason):
        source(CURRENT).verify_webhook(request(BODY, header))


def test_a_v0_signature_alone_does_not_authenticate() -> None:
    """v0 is Stripe's test-mode scheme: even a 'correct' HMAC under v0 is not accepted."""
    digest = hmac.new(CURRENT.encode(), f"{SENT_AT}.".encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureInvalid, match="no v1"):
        source(CURRENT).verify_webhook(request(BODY, f"t={SENT_AT},v0={digest}"))


def test_several_v1_values_where_the_second_matches_are_accepted() -> None:
    header = stripe_signature_header(BODY, ["whsec_rolled_elsewhere", CURRENT], SENT_AT, v0=True)
    assert header.count("v1=") == 2 and "v0=" in header
    source(CURRENT).verify_webhook(request(BODY, header))


def test_a_delivery_signed_with_the_previous_secret_is_accepted_during_rotation() -> None:
    header = stripe_signature_header(BODY, PREVIOUS, SENT_AT)
    source(CURRENT, PREVIOUS).verify_webhook(request(BODY, header))
    with pytest.raises(SignatureInvalid):  # once the previous secret is dropped, it no longer verifies
        source(CURRENT).verify_webhook(request(BODY, header))


def test_a_channel_without_secrets_rejects_everything() -> None:
    header = stripe_signature_header(BODY, CURRENT, SENT_AT)
    with pytest.raises(SignatureInvalid, match="no webhook signing secret"):
        source().verify_webhook(request(BODY, header))


def test_a_naive_receipt_time_is_read_as_utc() -> None:
    header = stripe_signature_header(BODY, CURRENT, SENT_AT)
    naive = WebhookRequest(
        body=BODY,
        headers={"Stripe-Signature": header},
        url="https://integrator.example/hooks/x/",
        received_at=datetime.fromtimestamp(SENT_AT, tz=UTC).replace(tzinfo=None) + timedelta(seconds=5),
    )
    source(CURRENT).verify_webhook(naive)


# -- identity --------------------------------------------------------------------------------


def test_the_event_id_is_the_dedupe_key_and_type_the_event_type() -> None:
    envelope = source(CURRENT).identify_webhook(request(BODY, None))
    assert envelope.dedupe_key == "evt_3QAnanseGbp4500ChSucc1"
    assert envelope.event_type == "charge.succeeded"
    assert envelope.extra["object_id"] == "ch_3QAnanseGbp4500Chg0001"
    assert envelope.extra["livemode"] == "false"


def test_a_redelivered_event_has_the_same_dedupe_key() -> None:
    """Stripe retries re-send the same event id, with a fresh timestamp and signature."""
    first = source(CURRENT).identify_webhook(request(BODY, stripe_signature_header(BODY, CURRENT, SENT_AT)))
    again = source(CURRENT).identify_webhook(
        request(BODY, stripe_signature_header(BODY, CURRENT, SENT_AT + 3600))
    )
    assert first.dedupe_key == again.dedupe_key


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "charge.succeeded", "object": "event"}', "has no id"),
        (b'{"id": "", "type": "charge.succeeded"}', "has no id"),
        (b'{"id": "evt_1", "object": "event"}', "has no type"),
        (b'{"id": "ch_1", "type": "charge.succeeded", "object": "charge"}', "not an event"),
    ],
)
def test_a_malformed_event_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        source(CURRENT).identify_webhook(request(body, None))


# -- a real delivery over HTTP ---------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(({k: v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_the_sandbox_sends_a_webhook_that_verifies_on_arrival() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.received.clear()
    event = json.loads(BODY)
    try:
        answer = StripeSandbox().send_webhook(
            f"http://127.0.0.1:{server.server_address[1]}/hooks/stripe-shop/", event, [PREVIOUS, CURRENT]
        )
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200
    headers, body = _Receiver.received[0]
    assert json.loads(body) == event
    assert headers["Stripe-Signature"].count("v1=") == 2
    arrived = WebhookRequest(body=body, headers=headers, url="http://x/", received_at=datetime.now(UTC))
    stripe = source(CURRENT)
    stripe.verify_webhook(arrived)
    assert stripe.identify_webhook(arrived).dedupe_key == event["id"]
