"""Hostile signature and timestamp headers on every source's webhook endpoint: 400 or 401, never 500.

Found by probing (issue 14, item 1): ``X-Integrator-Timestamp: ²`` and ``Stripe-Signature:
t=²,v1=00`` passed ``str.isdigit()`` (true for superscripts and other scripts' digits) and then
``int()`` raised before any signature check. Timestamps are now read as ASCII digits only, at most
a sane length, and MACs are compared as bytes, so a non-ASCII header cannot raise either.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from connectors.base import SOURCE_PLATFORMS, SignatureInvalid
from connectors.headers import unix_seconds
from connectors.sources.stripe.signature import parse_header
from integrator.models import InboundEvent
from integrator.services.channels import create_channel

# Values a hostile sender (or a broken proxy) can put in a header. WSGI hands headers to Django as
# latin-1 text, so only latin-1 can arrive through a real server; the rest stands for what a
# test client, an ASGI server or a future parser could see.
HOSTILE_VALUES = [
    "²",
    "٣٣٣٣٣٣٣٣٣٣",  # Arabic-Indic digits: isdigit() is true and int() accepts them
    "\uff11\uff17" + "\uff10" * 8,  # fullwidth digits
    "9" * 5000,  # past Python's int() digit limit
    "9" * 40,  # an int, but no float can hold it
    "-1",
    " ",
    "Â²",
    "é" * 64,
    "t=²,v1=00",
    "t=٣,v1=00",
    "t=" + "9" * 5000 + ",v1=00",
    "t=" + "9" * 40 + ",v1=00",
    "t=1700000000,v1=é",
    "t=1700000000,v1=" + "ÿ" * 64,
    "v1=²,t=1",
    "sha256=é",
    "algorithm=HMAC-SHA256,signature=é",
    "====",
    "\x7f\x80\x81",
]

SIGNATURE_HEADERS = [
    "X-Integrator-Timestamp",
    "X-Integrator-Signature",
    "Stripe-Signature",
    "X-Shopify-Hmac-Sha256",
    "X-WC-Webhook-Signature",
    "Squarespace-Signature",
    "X-Signature",
    "x-adobe-commerce-webhook-signature",
    "X-Clover-Auth",
    "x-square-hmacsha256-signature",
    "PAYPAL-TRANSMISSION-ID",
    "PAYPAL-TRANSMISSION-TIME",
    "PAYPAL-TRANSMISSION-SIG",
    "PAYPAL-CERT-URL",
    "PAYPAL-AUTH-ALGO",
]


def _meta(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")


@pytest.fixture
def every_source(ledger: Any) -> list[tuple[str, str]]:
    """One channel per source platform, each with a signing secret, as (slug, content type)."""
    made = []
    for platform in SOURCE_PLATFORMS:
        slug = f"hostile-{platform.replace('_', '-')}"
        channel = create_channel(
            platform=platform, name=f"Hostile {platform}", slug=slug, currency="GBP",
            ledger_connection=ledger, webhook_secrets=["whsec_0123456789abcdef", "00ff" * 8],
        )  # fmt: skip
        from integrator.services.channels import source_for

        accepted = sorted(source_for(channel).accepted_content_types)
        made.append((slug, accepted[0]))
    return made


def test_every_source_answers_hostile_headers_with_400_or_401(every_source: list[tuple[str, str]]) -> None:
    client = Client(raise_request_exception=False)
    body = json.dumps({"id": "evt-hostile", "type": "sale.completed", "data": {}}).encode()
    now = str(int(time.time()))
    answers: dict[int, int] = {}
    for slug, content_type in every_source:
        for header in SIGNATURE_HEADERS:
            for value in HOSTILE_VALUES:
                # Each hostile value alone, and with every other header plausibly filled, so the
                # parser that reads it is reached whichever header a platform checks first.
                for others in ({}, {_meta(h): now for h in SIGNATURE_HEADERS if h != header}):
                    response = client.post(
                        f"/hooks/{slug}/", data=body, content_type=content_type,
                        **{**others, _meta(header): value},
                    )  # fmt: skip
                    assert response.status_code in (400, 401), (slug, header, value, response.status_code)
                    answers[response.status_code] = answers.get(response.status_code, 0) + 1
    assert not InboundEvent.objects.exists()
    assert sum(answers.values()) == len(every_source) * len(SIGNATURE_HEADERS) * len(HOSTILE_VALUES) * 2


@pytest.mark.parametrize(
    "value",
    ["²", "٣٣٣", "\uff11\uff12\uff13", "9" * 5000, "9" * 40, "-5", "+5", " 5", "5 ", "", "1e9", "0x10"],
)
def test_a_timestamp_is_ascii_digits_of_a_sane_length(value: str) -> None:
    with pytest.raises(SignatureInvalid):
        unix_seconds(value, "test timestamp")


def test_a_plain_unix_time_still_reads() -> None:
    assert unix_seconds("1700000000", "test timestamp") == 1_700_000_000


@pytest.mark.parametrize("header", ["t=²,v1=00", "t=٣,v1=00", "t=" + "9" * 5000 + ",v1=00"])
def test_stripe_header_with_a_non_ascii_timestamp_is_invalid_not_an_error(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        parse_header(header)


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_INTEGRATOR_TIMESTAMP": "²", "HTTP_X_INTEGRATOR_SIGNATURE": "v1=00"},
        {"HTTP_X_INTEGRATOR_TIMESTAMP": "\uff19\uff19", "HTTP_X_INTEGRATOR_SIGNATURE": "v1=00"},
        {"HTTP_X_INTEGRATOR_TIMESTAMP": "9" * 40, "HTTP_X_INTEGRATOR_SIGNATURE": "v1=00"},
        {"HTTP_X_INTEGRATOR_TIMESTAMP": "NOW", "HTTP_X_INTEGRATOR_SIGNATURE": "v1=é"},
    ],
)
def test_the_probes_of_issue_14_get_401_on_the_generic_source(channel: Any, headers: dict[str, str]) -> None:
    headers = {k: v.replace("NOW", str(int(time.time()))) for k, v in headers.items()}
    response = Client(raise_request_exception=False).post(
        "/hooks/till/", data=b'{"id": "x"}', content_type="application/json", **headers
    )
    assert response.status_code == 401
    assert response.json()["status"] == "refused"
