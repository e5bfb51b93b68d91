"""Adobe Commerce webhooks: the RSA signature, the delivery's identity, Commerce's expected
answer, and reading the webhook's object (again from the API when the channel can call it)."""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import MalformedPayload, SignatureInvalid
from connectors.jsonwire import dumps
from connectors.sandbox.magento import DEFAULT_INTEGRATION, MagentoSandbox, generate_key_pair
from connectors.sources.magento.signature import sign
from tests.fixtures.magento import load, make_source, webhook_request

D = Decimal
INTEGRATION = {
    "consumer_key": DEFAULT_INTEGRATION.consumer_key,
    "consumer_secret": DEFAULT_INTEGRATION.consumer_secret,
    "access_token": DEFAULT_INTEGRATION.access_token,
    "access_token_secret": DEFAULT_INTEGRATION.access_token_secret,
}


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[rsa.RSAPrivateKey, str]]:
    """Two key pairs: the store's current one and the one it had before regenerating."""
    return {"current": generate_key_pair(), "previous": generate_key_pair()}


def _body(kind: str = "order", name: str = "order_discount_two_rates") -> bytes:
    return dumps({"eventName": f"sales_{kind}_save_after", "data": {kind: load(name)}})


def test_signature_accept_and_reject_table(keys: dict) -> None:
    private, public = keys["current"]
    old_private, old_public = keys["previous"]
    stranger, _ = generate_key_pair()
    body = _body()
    source = make_source(webhook_secrets=(public, old_public))
    accepted = {
        "base64 of the body, as Adobe documents": sign(body, private),
        "the raw body": sign(body, private, over_base64=False),
        "the previous key during a rotation": sign(body, old_private),
    }
    for label, signature in accepted.items():
        try:
            source.verify_webhook(webhook_request(body, signature))
        except SignatureInvalid as exc:
            pytest.fail(f"refused a delivery signed over {label}: {exc}")
    refused = {
        "tampered body": (body.replace(b"133.85", b"1.85"), sign(body, private)),
        "another store's key": (body, sign(body, stranger)),
        "missing header": (body, None),
        "empty header": (body, ""),
        "not base64": (body, "not*base64!"),
        "a signature of something else": (body, sign(b"{}", private)),
    }
    for label, (sent, signature) in refused.items():
        try:
            source.verify_webhook(webhook_request(sent, signature))
        except SignatureInvalid:
            continue
        pytest.fail(f"accepted a delivery with {label}")


def test_keys_without_armour_are_read_and_bad_or_weak_keys_never_match(keys: dict) -> None:
    private, public = keys["current"]
    body = _body()
    bare = "".join(line for line in public.strip().splitlines() if not line.startswith("-----"))
    make_source(webhook_secrets=(bare,)).verify_webhook(webhook_request(body, sign(body, private)))
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    from cryptography.hazmat.primitives import serialization

    weak_pem = (
        weak.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for configured in (("not a key",), (weak_pem,), ()):
        with pytest.raises(SignatureInvalid):
            make_source(webhook_secrets=configured).verify_webhook(webhook_request(body, sign(body, weak)))


def test_public_key_may_live_in_the_credentials(keys: dict) -> None:
    private, public = keys["current"]
    body = _body()
    source = make_source(credentials={"webhook_public_key": public})
    source.verify_webhook(webhook_request(body, sign(body, private)))


def test_identity_is_the_object_its_update_time_and_the_body() -> None:
    source = make_source()
    body = _body()
    envelope = source.identify_webhook(webhook_request(body, "x"))
    digest = hashlib.sha256(body).hexdigest()[:16]
    assert (envelope.dedupe_key, envelope.event_type) == (f"order:101:2026-11-20 15:40:02:{digest}", "order")
    assert envelope.extra["event_name"] == "sales_order_save_after"
    assert source.identify_webhook(webhook_request(body, "x")).dedupe_key == envelope.dedupe_key  # a retry
    # A save whose updated_at Magento has not refreshed yet is still a new delivery.
    cancelled = load("order_discount_two_rates") | {"status": "canceled", "state": "canceled"}
    stale = dumps({"eventName": "sales_order_save_after", "data": {"order": cancelled}})
    other = source.identify_webhook(webhook_request(stale, "x")).dedupe_key
    assert other.startswith("order:101:2026-11-20 15:40:02:") and other != envelope.dedupe_key
    memo = source.identify_webhook(webhook_request(_body("creditmemo", "creditmemo_partial_line"), "x"))
    assert (
        memo.dedupe_key.startswith("creditmemo:21:2026-11-24 11:05:10:") and memo.event_type == "creditmemo"
    )
    # A hook configured to send the object at the top level, without updated_at: the content is
    # the version, so the same content is the same delivery.
    order = load("order_pending")
    del order["updated_at"]
    configured = dumps({"order": order})
    first = source.identify_webhook(webhook_request(configured, "x")).dedupe_key
    assert first == source.identify_webhook(webhook_request(configured, "x")).dedupe_key
    assert first.startswith("order:107:sha256-")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        dumps({"eventName": "catalog_product_save_after", "data": {"product": {"sku": "X"}}}),
        dumps({"data": {"order": {"entity_id": None, "updated_at": "2026-11-20 10:00:00"}}}),
    ],
)
def test_malformed_deliveries(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        make_source().identify_webhook(webhook_request(body, "x"))


def test_commerce_gets_the_answer_it_requires() -> None:
    for created in (True, False):
        reply = make_source().acknowledge_webhook(created)
        assert (reply.status, dict(reply.body)) == (200, {"op": "success"})


def test_webhook_object_is_parsed_as_sent_when_the_channel_cannot_call_the_store() -> None:
    payload = {"eventName": "sales_order_save_after", "data": {"order": load("order_discount_two_rates")}}
    (sale,) = make_source().parse_event("order", payload)
    assert (sale.external_id, sale.total) == ("101", D("133.85"))


def test_webhook_object_is_read_again_from_the_api() -> None:
    newer = load("order_discount_two_rates")
    newer.update(state="canceled", status="canceled", updated_at="2026-11-20 16:00:00")
    for key in ("total_invoiced", "base_total_invoiced", "total_paid", "base_total_paid"):
        newer[key] = D(0)
    memo = load("creditmemo_partial_line")
    with MagentoSandbox(orders=[newer], creditmemos=[memo]) as store:
        source = make_source(base_url=store.url, credentials=INTEGRATION)
        sent = {"eventName": "sales_order_save_after", "data": {"order": load("order_discount_two_rates")}}
        (sale,) = source.parse_event("order", sent)
        assert sale.status == "voided"  # the store's current order, not the webhook's older copy
        # A credit memo webhook fetches its order for the rates, the row types and the method.
        sent_memo = {"eventName": "sales_order_creditmemo_save_after", "data": {"creditmemo": memo}}
        (refund,) = source.parse_event("creditmemo", sent_memo)
        assert refund.lines[0].tax_lines[0].title == "VAT 20%" and refund.tenders[0].method == "card"
        assert [r.path for r in store.requests] == [
            "/rest/V1/orders/101",
            "/rest/V1/creditmemo/21",
            "/rest/V1/orders/101",
        ]
        # An order Magento no longer has: the webhook's copy is all there is.
        gone = {"eventName": "sales_order_save_after", "data": {"order": load("order_inclusive_gbp")}}
        (kept,) = source.parse_event("order", gone)
        assert kept.external_id == "109"


def test_signature_header_name_is_case_insensitive(keys: dict) -> None:
    private, public = keys["current"]
    body = _body()
    request = webhook_request(body, None)
    headers = dict(request.headers) | {"X-Adobe-Commerce-Webhook-Signature": sign(body, private)}
    make_source(webhook_secrets=(public,)).verify_webhook(
        type(request)(body, headers, request.url, request.received_at)
    )
    assert base64.b64decode(headers["X-Adobe-Commerce-Webhook-Signature"])  # a real signature was sent
