"""PayPal's scheduled completeness pull, its setup fields, and the sandbox's own request limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors import http
from connectors.sandbox.paypal import PayPalSandbox
from connectors.sources.paypal import PayPalSource
from integrator.models import Channel, Transaction
from integrator.services.channels import create_channel
from integrator.services.integration_log import record_call
from integrator.services.sync import sync_due_channels
from tests.fixtures import paypal as fx


@pytest.fixture
def recorded() -> Iterator[list[http.CallRecord]]:
    calls: list[http.CallRecord] = []
    http.set_call_recorder(calls.append)
    yield calls
    http.set_call_recorder(record_call)


@pytest.mark.django_db
def test_the_scheduler_pulls_from_the_last_pull_less_the_reporting_lag(
    ledger: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Last pulled 22 Nov 12:00, due six hours later: the next pull asks Transaction Search from
    08:00, four hours back, so what PayPal reported late (up to three hours) is still read."""
    with PayPalSandbox() as server:
        fx.seed(server)
        channel = create_channel(
            platform="paypal", name="PayPal UK", slug="paypal-gb", currency="GBP", ledger_connection=ledger,
            base_url=server.url, credentials=fx.credentials(server), settings=fx.channel_settings(server),
        )  # fmt: skip
        last = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
        Channel.objects.filter(pk=channel.pk).update(last_synced_at=last)
        assert sync_due_channels(last + timedelta(hours=5)) == 0  # not due yet
        with django_capture_on_commit_callbacks(execute=True):
            assert sync_due_channels(last + timedelta(hours=6, minutes=1)) == 1
        first = server.requests_to("GET", "^/v1/reporting/transactions$")[0]
        assert first.arg("start_date") == "2026-11-22T08:00:00Z"
    # The partial refund of 22 Nov 14:02 was in the window: booked (its sale is not, so it waits).
    refund = Transaction.objects.get(kind="refund", external_id=fx.REFUND_ID)
    assert refund.status_reasons == [f"refund of an unknown sale {fx.ORDER_ID}"]


def test_setup_fields_ask_for_what_the_connection_needs() -> None:
    fields = {f.name: f for f in PayPalSource.setup_fields}
    assert {"client_id", "client_secret", "environment", "webhook_id", "verification", "tax_rates"} <= set(
        fields
    )
    assert fields["client_secret"].kind == "secret" and fields["client_secret"].store == "credentials"
    assert fields["client_id"].store == "credentials" and fields["webhook_id"].required
    assert {value for value, _ in fields["verification"].choices} == {
        "certificate_or_postback",
        "certificate",
        "postback",
    }


def test_the_sandbox_limit_answers_429_and_the_client_waits_it_out(recorded: list[http.CallRecord]) -> None:
    """One request a second: the second request, 0.1 s after the first by the sandbox's clock, is
    refused with PayPal's RATE_LIMIT_REACHED and Retry-After; the client waits and gets its answer
    (the retry arrives 1.2 s after the first by that clock, which advances per request)."""
    with PayPalSandbox(rate_limit_per_second=1) as server:
        fx.seed(server)
        moments = iter([100.0, 100.1, 101.2])
        server.rate_clock = lambda: next(moments)
        api = fx.source(server).api
        assert api is not None
        api.access_token()
        first = api.get(f"/v2/payments/captures/{fx.CAPTURE_ID}")
        second = api.get(f"/v2/payments/refunds/{fx.REFUND_ID}")
    assert (first["id"], second["id"]) == (fx.CAPTURE_ID, fx.REFUND_ID)
    statuses = [c.status for c in recorded if "/v2/payments/" in c.url]
    assert statuses == [200, 429, 200]
    refused = next(c for c in recorded if c.status == 429)
    assert refused.response_body["name"] == "RATE_LIMIT_REACHED"
