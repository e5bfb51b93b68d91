"""PayPal webhook verification through PayPalSource: the signed string, the certificate URL
allow-list (nothing fetched from elsewhere), the certificate chain up to a trust root, the cache,
the transmission-time tolerance, webhook-id rotation and the post-back fallback.

Signatures come from the sandbox's signer (written apart from the verifier); certificates are
fetched over real HTTP from the sandbox, which counts every request it gets.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors import http
from connectors.base import MalformedPayload, SignatureInvalid, WebhookRequest
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.paypal import PayPalSandbox, make_pki, rogue_pki
from connectors.sources.paypal import signature
from integrator.services.integration_log import record_call
from tests.fixtures import paypal as fx

BODY = json.dumps(fx.load("event_capture_completed_gbp.json")).encode()


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[http.CallRecord]]:
    """Outbound calls recorded in memory (no database needed) and a cold certificate cache."""
    recorded: list[http.CallRecord] = []
    http.set_call_recorder(recorded.append)
    signature.clear_certificate_cache()
    yield recorded
    http.set_call_recorder(record_call)
    signature.clear_certificate_cache()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[PayPalSandbox]:
    with PayPalSandbox(webhook_ids=[fx.WEBHOOK_ID, fx.OLD_WEBHOOK_ID]) as server:
        yield server


def request(headers: dict[str, str], body: bytes = BODY, received: datetime | None = None) -> WebhookRequest:
    return WebhookRequest(
        body=body,
        headers={"Content-Type": "application/json", **headers},
        url="https://books.example/hooks/paypal-shop/",
        received_at=received or datetime.now(UTC),
    )


def cert_requests(server: PayPalSandbox) -> int:
    return len(server.requests_to("GET", r"^/v1/notifications/certs/"))


def test_a_delivery_signed_as_paypal_signs_is_accepted_and_its_certificate_cached(
    sandbox: PayPalSandbox,
) -> None:
    before = cert_requests(sandbox)
    pp = fx.source(sandbox)
    pp.verify_webhook(request(sandbox.signed_headers(BODY, fx.WEBHOOK_ID)))
    pp.verify_webhook(request(sandbox.signed_headers(BODY, fx.WEBHOOK_ID)))
    fx.source(sandbox).verify_webhook(request(sandbox.signed_headers(BODY, fx.WEBHOOK_ID)))
    assert cert_requests(sandbox) - before == 1  # fetched once, validated once, then cached


def test_the_signed_string_is_ids_time_webhook_id_and_unsigned_decimal_crc32() -> None:
    """Pin the scheme itself: a body whose CRC32 has the top bit set must be written unsigned."""
    body = b'{"id":"WH-30"}'
    crc = zlib.crc32(body)
    assert crc >= 2**31  # a signed 32-bit integer would print it negative
    assert signature.signed_message("tid-1", "2026-11-20T10:15:35Z", "WHID", body) == (
        f"tid-1|2026-11-20T10:15:35Z|WHID|{crc}".encode()
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h, b.replace(b"108.25", b"108.26")), "does not match"),
        (lambda h, b: ({**h, "PAYPAL-TRANSMISSION-ID": h["PAYPAL-TRANSMISSION-ID"] + "0"}, b), "does not match"),
        (lambda h, b: ({**h, "PAYPAL-TRANSMISSION-SIG": "not*base64"}, b), "not base64"),
        (lambda h, b: ({**h, "PAYPAL-AUTH-ALGO": "SHA1withRSA"}, b), "is not SHA256withRSA"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "PAYPAL-TRANSMISSION-SIG"}, b), "missing PAYPAL-TRANSMISSION-SIG"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "PAYPAL-CERT-URL"}, b), "missing PAYPAL-CERT-URL"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "PAYPAL-TRANSMISSION-TIME"}, b), "missing PAYPAL-TRANSMISSION-TIME"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "PAYPAL-TRANSMISSION-ID"}, b), "missing PAYPAL-TRANSMISSION-ID"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "PAYPAL-AUTH-ALGO"}, b), "missing PAYPAL-AUTH-ALGO"),
    ],
)  # fmt: skip
def test_tampered_or_incomplete_deliveries_are_refused(
    sandbox: PayPalSandbox, change: Any, reason: str
) -> None:
    headers, body = change(sandbox.signed_headers(BODY, fx.WEBHOOK_ID), BODY)
    with pytest.raises(SignatureInvalid, match=reason):
        fx.source(sandbox, verification="certificate").verify_webhook(request(headers, body))


def test_any_configured_webhook_id_may_match_during_a_switch(sandbox: PayPalSandbox) -> None:
    headers = sandbox.signed_headers(BODY, fx.OLD_WEBHOOK_ID)
    with pytest.raises(SignatureInvalid, match="any configured webhook id"):
        fx.source(sandbox, verification="certificate").verify_webhook(request(headers))
    fx.source(sandbox, secrets=(fx.OLD_WEBHOOK_ID,)).verify_webhook(request(headers))


@pytest.mark.parametrize(("offset", "word"), [(-601, "old"), (601, "future")])
def test_transmissions_outside_the_tolerance_are_refused_before_any_fetch(
    sandbox: PayPalSandbox, offset: int, word: str
) -> None:
    before = cert_requests(sandbox)
    sent = datetime.now(UTC) + timedelta(seconds=offset)
    headers = sandbox.signed_headers(BODY, fx.WEBHOOK_ID, transmission_time=sent)
    with pytest.raises(SignatureInvalid, match=word):
        fx.source(sandbox).verify_webhook(request(headers))
    fx.source(sandbox, signature_tolerance=900).verify_webhook(request(headers))  # within a wider window
    assert cert_requests(sandbox) - before == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@evil.example/v1/notifications/certs/CERT-1",
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://api.paypal.com/v1/oauth2/token",
        "https://api.paypal.com/v1/notifications/certs/../../oauth2/token",
        "https://api.paypal.com/v1/notifications/certs/CERT-1?next=http://evil.example",
        "file:///etc/passwd",
        "http://169.254.169.254/v1/notifications/certs/latest",
    ],
)
def test_certificate_urls_other_than_paypals_are_refused_without_fetching(url: str) -> None:
    with pytest.raises(SignatureInvalid):
        signature.check_cert_url(url)


def test_paypal_cert_hosts_are_allowed() -> None:
    for host in ("api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"):
        url = f"https://{host}/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
        assert signature.check_cert_url(url) == url


def test_a_forged_cert_url_pointing_at_another_server_is_never_called(sandbox: PayPalSandbox) -> None:
    with PayPalSandbox(pki=rogue_pki()) as attacker:
        headers = attacker.signed_headers(BODY, fx.WEBHOOK_ID)  # its own cert URL, its own key
        with pytest.raises(SignatureInvalid, match="not PayPal's"):
            fx.source(sandbox).verify_webhook(request(headers))
        assert attacker.requests == []


@pytest.mark.parametrize(
    ("pki_factory", "reason"),
    [
        (rogue_pki, "does not lead to a trusted root"),
        (lambda: make_pki(with_intermediate=False), "does not lead to a trusted root"),
        (lambda: make_pki(signing_name="evil.example.com"), "not issued to PayPal"),
    ],
)
def test_chains_that_do_not_prove_paypal_are_refused(
    sandbox: PayPalSandbox, pki_factory: Any, reason: str
) -> None:
    """The forger's server is an allowed origin here, so only the chain check stands in the way."""
    with PayPalSandbox(pki=pki_factory()) as forger:
        headers = forger.signed_headers(BODY, fx.WEBHOOK_ID)
        pp = fx.source(sandbox, verification="certificate", cert_url_origins=[sandbox.url, forger.url])
        with pytest.raises(SignatureInvalid, match=reason):
            pp.verify_webhook(request(headers))
        assert len(forger.requests) == 1


def test_an_expired_signing_certificate_is_refused() -> None:
    expired = make_pki(leaf_not_after=datetime.now(UTC) - timedelta(hours=1))
    with PayPalSandbox(pki=expired) as server:
        headers = server.signed_headers(BODY, fx.WEBHOOK_ID)
        with pytest.raises(SignatureInvalid, match="expired"):
            fx.source(server, verification="certificate").verify_webhook(request(headers))


class _Redirector(SandboxServer):
    """A certificate host that answers with a redirect (to an address we must never call)."""

    @route("GET", "/v1/notifications/certs/{cert_id}")
    def cert(self, req: Request) -> Response:
        return Response(302, b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"})


def test_a_redirect_from_the_certificate_host_is_not_followed(sandbox: PayPalSandbox) -> None:
    with _Redirector() as redirector:
        headers = sandbox.signed_headers(
            BODY, fx.WEBHOOK_ID, cert_url=f"{redirector.url}/v1/notifications/certs/X"
        )
        pp = fx.source(sandbox, verification="certificate", cert_url_origins=[redirector.url])
        with pytest.raises(SignatureInvalid, match="cannot check the signature locally"):
            pp.verify_webhook(request(headers))
        assert len(redirector.requests) == 1


def test_when_the_certificate_cannot_be_had_paypal_is_asked(sandbox: PayPalSandbox) -> None:
    """The cert host is down: with credentials the channel falls back to verify-webhook-signature,
    which confirms a genuine delivery and refuses a tampered one."""
    down = SandboxServer().start()
    down_url = down.url
    down.stop()
    cert_url = f"{down_url}/v1/notifications/certs/{sandbox.pki.cert_id}"
    origins = [down_url]
    headers = sandbox.signed_headers(BODY, fx.WEBHOOK_ID, cert_url=cert_url)
    posted = len(sandbox.requests_to("POST", "verify-webhook-signature"))
    with pytest.raises(SignatureInvalid, match="cannot check the signature locally"):
        fx.source(sandbox, verification="certificate", cert_url_origins=origins).verify_webhook(
            request(headers)
        )
    with pytest.raises(SignatureInvalid, match="cannot check the signature locally"):
        fx.source(sandbox, with_credentials=False, cert_url_origins=origins).verify_webhook(request(headers))
    assert len(sandbox.requests_to("POST", "verify-webhook-signature")) == posted

    # The sandbox confirms only its own cert URL; the local check is made impossible another way:
    # the channel's trust roots are unusable.
    sandbox_headers = sandbox.signed_headers(BODY, fx.WEBHOOK_ID)
    fallback = fx.source(sandbox, cert_trust_roots_pem="not a certificate")
    fallback.verify_webhook(request(sandbox_headers))
    with pytest.raises(SignatureInvalid, match="FAILURE"):
        fallback.verify_webhook(request(sandbox_headers, BODY.replace(b"108.25", b"1.00")))
    assert len(sandbox.requests_to("POST", "verify-webhook-signature")) == posted + 2


def test_postback_mode_asks_paypal_with_the_event_byte_for_byte(sandbox: PayPalSandbox) -> None:
    spaced = json.dumps(json.loads(BODY), indent=3).encode()  # re-serialising would change the CRC
    headers = sandbox.signed_headers(spaced, fx.WEBHOOK_ID)
    before = cert_requests(sandbox)
    fx.source(sandbox, verification="postback").verify_webhook(request(headers, spaced))
    assert cert_requests(sandbox) == before
    sent = sandbox.requests_to("POST", "verify-webhook-signature")[-1]
    assert spaced.strip() in sent.body
    with pytest.raises(SignatureInvalid, match="FAILURE"):
        fx.source(sandbox, verification="postback", webhook_id="WRONG1").verify_webhook(
            request(headers, spaced)
        )


def test_identify_uses_the_event_id_as_dedupe_key(sandbox: PayPalSandbox) -> None:
    envelope = fx.source(sandbox).identify_webhook(request({"PAYPAL-TRANSMISSION-ID": "t-1"}))
    assert envelope.dedupe_key == "WH-58D329510W468432D-8HN650336L201105X"
    assert envelope.event_type == "PAYMENT.CAPTURE.COMPLETED"
    assert envelope.extra["resource_id"] == fx.CAPTURE_ID
    for bad in (
        b"[]",
        b"not json",
        b'{"id": "WH-1"}',
        b'{"event_type": "X"}',
        b'{"id":"x","event_type":"REPORTING.TRANSACTION"}',
    ):
        with pytest.raises(MalformedPayload):
            fx.source(sandbox).identify_webhook(request({}, bad))
