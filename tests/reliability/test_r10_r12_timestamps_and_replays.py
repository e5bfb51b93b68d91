"""R10 and R12: signed webhooks with a skewed clock, and captured requests replayed, over real HTTP.

R10: a signature timestamp ten minutes (or just over the 300 s tolerance) behind or ahead of our
clock is refused with 401 and a line on the ``integrator.security`` log, and nothing is stored;
a moderate skew inside the tolerance is accepted. Generic signed JSON and Stripe-style headers.

R12: the exact bytes and headers of a valid delivery, replayed while the timestamp is still inside
the tolerance, are a duplicate (200, no new document); replayed once it is outside, 401 and logged,
and not even counted as a delivery. The replay "outside" is made by signing the first delivery
270 s in the past and waiting until more than 300 s have passed.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.sandbox.stripe import StripeSandbox, stripe_signature_header
from integrator.models import BookEntry, Channel, InboundEvent, MappingSet
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from tests.conftest import standard_rules
from tests.reliability.support import sale_body, signed_headers_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STRIPE_SECRET = "whsec_reliability"
STRIPE_EVENT = Path(__file__).parent.parent / "fixtures" / "stripe" / "event_charge_succeeded_gbp.json"
REFUSED_SKEWS = (-600, -310, 310, 600)
ACCEPTED_SKEWS = (-240, 240)
# Seconds in the past at which the captured delivery is signed: the delivery and its replays inside
# the tolerance then have INSIDE_BUDGET seconds, more than ten times what they take (well under a
# second idle, about 2 s beside a CPU hog), before the 300 s tolerance runs out. The old 297 s left
# 3 s and failed on a loaded machine (issue 14). The wait past the tolerance is the price.
INSIDE_BUDGET = 30
NEAR_EDGE = 300 - INSIDE_BUDGET


def _security_lines(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "integrator.security"]


def _wait_past_tolerance(timestamp: int) -> None:
    """Wait until a delivery signed at ``timestamp`` is past the tolerance; first check that the
    replays meant to be inside it really were (a run slower than the budget is a hang, not a pass)."""
    inside = int(time.time()) - timestamp
    assert inside < 300, (
        f"the in-tolerance phase took {inside - NEAR_EDGE} s, over the {INSIDE_BUDGET} s budget"
    )
    while int(time.time()) - timestamp <= 302:
        time.sleep(0.25)


def _stripe_channel(ledger: Any, stripe: StripeSandbox) -> Channel:
    with open(Path(__file__).parent.parent / "fixtures" / "stripe" / "objects.json", encoding="utf-8") as fh:
        objects = json.load(fh)
    stripe.load(objects["objects"], objects["payouts"])
    channel = create_channel(
        platform="stripe", name="Stripe", slug="stripe-gb", currency="GBP", ledger_connection=ledger,
        webhook_secrets=[STRIPE_SECRET], base_url=stripe.url, credentials={"secret_key": stripe.secret_key},
    )  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=standard_rules(ledger)))
    return channel


def test_generic_webhooks_outside_the_clock_tolerance_are_refused_logged_and_not_stored(
    channel: Any, live_server: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="integrator.security")
    url = f"{live_server.url}/hooks/till/"
    for skew in REFUSED_SKEWS:
        body = sale_body(f"R10-{skew}")
        response = requests.post(
            url, data=body, headers=signed_headers_for(body, timestamp=int(time.time()) + skew), timeout=30
        )
        assert response.status_code == 401, (skew, response.text)
    lines = _security_lines(caplog)
    assert len(lines) == len(REFUSED_SKEWS)
    assert all("status=401 channel=till" in line and "outside the 300 s tolerance" in line for line in lines)
    assert InboundEvent.objects.count() == 0
    for skew in ACCEPTED_SKEWS:  # a till whose clock is four minutes off still gets through
        body = sale_body(f"R10-ok{skew}")
        response = requests.post(
            url, data=body, headers=signed_headers_for(body, timestamp=int(time.time()) + skew), timeout=30
        )
        assert response.status_code == 202, (skew, response.text)
    assert InboundEvent.objects.count() == len(ACCEPTED_SKEWS)


def test_stripe_webhooks_outside_the_clock_tolerance_are_refused_logged_and_not_stored(
    ledger: Any, live_server: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="integrator.security")
    event = json.loads(STRIPE_EVENT.read_text())
    with StripeSandbox() as stripe:
        _stripe_channel(ledger, stripe)
        url = f"{live_server.url}/hooks/stripe-gb/"
        for skew in REFUSED_SKEWS:
            response = stripe.send_webhook(url, event, STRIPE_SECRET, timestamp=int(time.time()) + skew)
            assert response.status_code == 401, (skew, response.text)
        assert InboundEvent.objects.count() == 0
        lines = _security_lines(caplog)
        assert len(lines) == len(REFUSED_SKEWS)
        assert all("status=401 channel=stripe-gb" in line and "tolerance 300 s" in line for line in lines)
        assert (
            stripe.send_webhook(url, event, STRIPE_SECRET, timestamp=int(time.time()) - 240).status_code
            == 202
        )
    assert InboundEvent.objects.count() == 1
    assert BookEntry.objects.count() == 1


def test_a_captured_generic_request_replayed_is_a_duplicate_then_refused_once_stale(
    channel: Any, live_server: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="integrator.security")
    url = f"{live_server.url}/hooks/till/"
    body = sale_body("R12-1")
    sent_at = int(time.time()) - NEAR_EDGE
    captured = signed_headers_for(body, timestamp=sent_at)
    assert requests.post(url, data=body, headers=captured, timeout=30).status_code == 202
    assert BookEntry.objects.count() == 1
    for _ in range(3):  # replayed inside the tolerance: deduplicated
        assert requests.post(url, data=body, headers=captured, timeout=30).status_code == 200
    assert BookEntry.objects.count() == 1
    assert InboundEvent.objects.get().deliveries == 4
    assert _security_lines(caplog) == []

    _wait_past_tolerance(sent_at)
    replay = requests.post(url, data=body, headers=captured, timeout=30)
    assert replay.status_code == 401
    assert "outside the 300 s tolerance" in replay.json()["error"]
    lines = _security_lines(caplog)
    assert len(lines) == 1 and "status=401 channel=till" in lines[0]
    assert InboundEvent.objects.get().deliveries == 4  # a refused replay is not a delivery
    assert BookEntry.objects.count() == 1


def test_a_captured_stripe_request_replayed_is_a_duplicate_then_refused_once_stale(
    ledger: Any, live_server: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="integrator.security")
    event = json.loads(STRIPE_EVENT.read_text())
    body = json.dumps(event, indent=2).encode()
    sent_at = int(time.time()) - NEAR_EDGE
    captured = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": stripe_signature_header(body, STRIPE_SECRET, sent_at, v0=True),
    }
    with StripeSandbox() as stripe:
        _stripe_channel(ledger, stripe)
        url = f"{live_server.url}/hooks/stripe-gb/"
        assert requests.post(url, data=body, headers=captured, timeout=30).status_code == 202
        assert requests.post(url, data=body, headers=captured, timeout=30).status_code == 200
        assert BookEntry.objects.count() == 1
        _wait_past_tolerance(sent_at)
        replay = requests.post(url, data=body, headers=captured, timeout=30)
    assert replay.status_code == 401
    assert "possible replay" in replay.json()["error"]
    lines = _security_lines(caplog)
    assert len(lines) == 1 and "status=401 channel=stripe-gb" in lines[0]
    assert InboundEvent.objects.get().deliveries == 2
    assert BookEntry.objects.count() == 1
