"""Property (issue 14): whatever a signed event holds, it ends processed, ignored, quarantined with a
reason or failed with a reason and a retry time, and one bad event never delays another.

For each source whose webhook body is self-contained (no vendor call needed to read it), hypothesis
takes a recorded payload and replaces some of its values with hostile ones: lone surrogates, NULs,
numbers past every column (10^20, 10^30, 1e308), wrong types, deep lists, empty values. Each such
event is stored as a verified webhook would be, next to a valid one behind it, and
``process_received_events`` runs. 1,000 examples per source (``POISON_EXAMPLES`` to change).
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import WebhookEnvelope
from integrator.choices import EventStatus
from integrator.models import InboundEvent
from integrator.services.channels import create_channel
from integrator.services.ingest import store_event
from integrator.services.pipeline import process_received_events
from tests.conftest import sale_event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = int(os.environ.get("POISON_EXAMPLES", "1000"))

# platform -> (event type, recorded payload)
SOURCES: dict[str, tuple[str, Any]] = {
    "generic": ("sale.completed", sale_event("PROP")),
    "stripe": (
        "charge.succeeded",
        json.loads((FIXTURES / "stripe" / "event_charge_succeeded_gbp.json").read_text()),
    ),
    "shopify": (
        "orders/paid",
        json.loads((FIXTURES / "shopify" / "order_discount_two_taxes.json").read_text()),
    ),
    "woocommerce": (
        "order.updated",
        json.loads((FIXTURES / "woocommerce" / "order_two_vat_rates_gbp.json").read_text()),
    ),
}
# Keys whose change would make a source call its vendor (refunds are fetched): not a body problem.
NOT_MUTATED = {"refunds"}

HOSTILE = st.one_of(
    st.sampled_from(
        [
            "\ud800",
            "a\udfffb",
            "\u0000",
            10**20,
            10**30,
            -(10**20),
            1e308,
            -1e308,
            "1" + "0" * 30,
            "1e400",
            "NaN",
            "Infinity",
            "-0.0001",
            "0.123456789",
            "",
            None,
            True,
            [],
            {},
            [[[[[[[[[[]]]]]]]]]],
            "x" * 5000,
            '=HYPERLINK("http://example.invalid")',
        ]
    ),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.text(max_size=40),
)


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a leaf (and to each container, so whole objects can be replaced too)."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in NOT_MUTATED:
                found += _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _leaves(value, (*path, i))
    return found


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


@st.composite
def mutated(draw: Any, base: Any) -> Any:
    """``base`` with one to four of its values replaced by hostile ones."""
    payload = copy.deepcopy(base)
    paths = _leaves(payload)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        try:
            _set(payload, path, copy.deepcopy(draw(HOSTILE)))  # never share the constant lists
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed the container this path went through
        paths = _leaves(payload) or paths
    return payload


FINAL = {EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.QUARANTINED, EventStatus.FAILED}


@pytest.mark.slow
@pytest.mark.parametrize("platform", sorted(SOURCES))
def test_every_event_ends_in_a_final_state_with_a_reason(ledger: Any, platform: str) -> None:
    event_type, base = SOURCES[platform]
    channel = create_channel(platform=platform, name=platform, slug=f"prop-{platform}", currency="GBP",
                             ledger_connection=ledger, webhook_secrets=["whsec_test"])  # fmt: skip
    tally: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(payload=mutated(base))
    def one(payload: Any) -> None:
        hostile = store_event(
            channel,
            WebhookEnvelope(dedupe_key=f"h-{uuid.uuid4()}", event_type=event_type),
            json.dumps(payload),
            {},
        ).event
        # A valid event right behind it: it must not wait for the hostile one.
        good = copy.deepcopy(base)
        behind = store_event(
            channel,
            WebhookEnvelope(dedupe_key=f"g-{uuid.uuid4()}", event_type=event_type),
            json.dumps(good),
            {},
        ).event
        process_received_events()
        hostile.refresh_from_db()
        behind.refresh_from_db()
        assert hostile.status in FINAL, hostile.status
        if hostile.status in (EventStatus.QUARANTINED, EventStatus.FAILED):
            assert hostile.error.strip(), "quarantined or failed without a reason"
        if hostile.status == EventStatus.FAILED:
            assert "retried from" in hostile.error
        assert behind.status in (EventStatus.PROCESSED, EventStatus.IGNORED), (behind.status, behind.error)
        tally[hostile.status] = tally.get(hostile.status, 0) + 1

    one()
    assert not InboundEvent.objects.filter(status=EventStatus.RECEIVED).exists()
    assert sum(tally.values()) >= min(EXAMPLES, 100)
    print(f"{platform}: {tally}")
