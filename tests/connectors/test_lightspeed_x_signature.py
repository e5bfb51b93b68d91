"""X-Series webhook signatures: the accept / reject table, form bodies, identities and decoding."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from connectors.base import MalformedPayload, SignatureInvalid, WebhookRequest
from connectors.sandbox.lightspeed_x import dumps
from connectors.sources.lightspeed_x import LightspeedXSource
from connectors.sources.lightspeed_x.signature import sign, signature_header, verify
from tests.fixtures.lightspeed_x import CLIENT_SECRET, OLD_CLIENT_SECRET, load

SECRETS = (CLIENT_SECRET, OLD_CLIENT_SECRET)


def _body(obj: dict, event_type: str | None = "sale.update") -> bytes:
    fields = {"payload": dumps(obj), "domain_prefix": "kente-nairobi", "environment": "prod"}
    if event_type:
        fields["type"] = event_type
    return urlencode(fields).encode()


def _request(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Signature"] = signature
    return WebhookRequest(
        body=body, headers=headers, url="https://books.example/hooks/lsx/", received_at=datetime.now(UTC)
    )


def _source() -> LightspeedXSource:
    from connectors.base import SourceConfig

    return LightspeedXSource(SourceConfig(channel_slug="lsx", currency="KES", webhook_secrets=SECRETS,
                                          base_url="http://127.0.0.1:9"))  # fmt: skip


BODY = _body(load("sale_split_tender_kes.json"))
MAC = hmac.new(CLIENT_SECRET.encode(), BODY, hashlib.sha256).digest()


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (
            f"signature={MAC.hex()}, algorithm=HMAC-SHA256",
            True,
        ),  # as the sandbox (and the vendor) lays it out
        (f"signature={MAC.hex()},algorithm=HMAC-SHA256", True),  # spaces do not matter
        (f"algorithm=hmac-sha256, signature={MAC.hex().upper()}", True),  # order, case of hex and name
        (
            f"signature={base64.b64encode(MAC).decode()}, algorithm=HMAC-SHA256",
            True,
        ),  # base64 of the same MAC
        (signature_header(OLD_CLIENT_SECRET, BODY), True),  # the previous secret during a rotation
        (signature_header("not-the-secret", BODY), False),
        (signature_header(CLIENT_SECRET, BODY + b"&x=1"), False),  # signed another body
        (f"signature={MAC.hex()}, algorithm=HMAC-SHA1", False),
        (f"signature={MAC.hex()}", False),  # no algorithm
        ("signature=zz, algorithm=HMAC-SHA256", False),
        (f"signature={MAC.hex()[:-2]}, algorithm=HMAC-SHA256", False),  # truncated
        ("", False),
    ],
)
def test_signature_table(header: str, accepted: bool) -> None:
    source = _source()
    request = _request(BODY, header)
    if accepted:
        source.verify_webhook(request)
    else:
        with pytest.raises(SignatureInvalid):
            source.verify_webhook(request)


def test_a_tampered_body_is_refused_with_the_right_signature() -> None:
    tampered = BODY.replace(b"1500", b"1400")
    assert tampered != BODY
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(signature_header(CLIENT_SECRET, BODY), tampered, SECRETS)


def test_missing_header_and_missing_secrets_are_refused() -> None:
    with pytest.raises(SignatureInvalid, match="missing X-Signature"):
        _source().verify_webhook(_request(BODY, None))
    with pytest.raises(SignatureInvalid, match="no webhook secret"):
        verify(signature_header(CLIENT_SECRET, BODY), BODY, ())


def test_sign_is_lower_case_hex_of_hmac_sha256() -> None:
    # Worked by hand with the standard library: HMAC-SHA256("key", "body").
    assert sign("key", b"body") == hmac.new(b"key", b"body", hashlib.sha256).hexdigest()
    assert len(sign("key", b"body")) == 64


def test_identity_is_the_sale_id_and_version_with_or_without_a_type_field() -> None:
    sale = load("sale_split_tender_kes.json")
    source = _source()
    with_type = source.identify_webhook(_request(_body(sale), "x"))
    without = source.identify_webhook(_request(_body(sale, None), "x"))
    assert with_type.dedupe_key == without.dedupe_key == f"sale:{sale['id']}:v{sale['version']}"
    assert with_type.event_type == without.event_type == "sale.update"
    assert with_type.extra["domain_prefix"] == "kente-nairobi"
    # Vend's older name for the same hook is accepted as a sale event.
    old_name = source.identify_webhook(_request(_body(sale, "register_sale.update"), "x"))
    assert old_name.event_type == "register_sale.update"


def test_identity_of_a_09_sale_and_of_a_register_closure() -> None:
    source = _source()
    v09 = load("register_sale_09_kes.json")
    assert source.identify_webhook(_request(_body(v09, None), "x")).dedupe_key == f"sale:{v09['id']}:v10100"
    closure = load("register_closure_xof.json")
    envelope = source.identify_webhook(_request(_body(closure, None), "x"))
    assert (envelope.dedupe_key, envelope.event_type) == (
        f"register_closure:{closure['id']}",
        "register_closure.create",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=",
        b"payload=not-json",
        b"payload=%5B1%2C2%5D",  # a JSON list
        b"type=sale.update",  # no payload
        urlencode({"payload": '{"id": "x"}'}).encode(),  # neither a sale nor a closure
        urlencode({"payload": '{"id": "x"}', "type": "sale.update"}).encode(),  # a sale without version
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        _source().identify_webhook(_request(body, "x"))


def test_decode_payload_reads_the_form_and_a_pulled_json_record_alike() -> None:
    sale = load("sale_split_tender_kes.json")
    source = _source()
    from_form = source.decode_payload(_body(sale).decode(), {})
    import json

    from_pull = source.decode_payload(json.dumps(sale, default=str), {})  # how the inbox stores a pull
    assert from_form["id"] == from_pull["id"] == sale["id"]
    assert from_form["line_items"][0]["price"] == Decimal("900.00000")  # a number, read exactly
    assert Decimal(from_pull["line_items"][0]["price"]) == Decimal("900.00000")  # a string, same digits
