"""Property (issue 14) for every source whose sale is not (only) in the webhook body.

The sibling ``test_poison_events_property.py`` mutates self-contained webhook bodies. Here the
hostile data reaches the parser the way it would in life: through the **vendor's answer**. Each
scenario names a webhook body and the objects the vendor serves for it (the order a Square
notification points to, the Clover order a notification names, the Magento order read again, ...),
both written with the placeholder ``KEY`` where the body names the object. Per example hypothesis
replaces one to four values anywhere in the body or the served objects with hostile ones (lone
surrogates, NULs, numbers past every column, wrong types, deep lists, empty values); the placeholder
becomes a fresh id, the sandbox is seeded with the mutated objects under that id, and the event is
stored as a verified webhook (or, for a pull-only vendor, as the pull stores the record) would be.
A valid event whose objects are served unmutated sits right behind it; ``process_received_events``
runs; the hostile event must end processed, ignored, quarantined with a reason or failed with a
reason and a retry time (never by an unexpected crash), and the valid one processed or ignored.

``POISON_EXAMPLES`` sets the examples of every scenario (1,000 for the issue's proof). Unset, each
scenario runs its ``examples`` (1,000, or fewer for one whose vendor round trips make 1,000 take
well over a minute on CI's PostgreSQL pass; see ``FETCHED_DEFAULT``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from connectors import http
from connectors.base import WebhookEnvelope
from integrator.choices import EventStatus
from integrator.models import InboundEvent
from integrator.services.channels import create_channel
from integrator.services.ingest import store_event
from integrator.services.pipeline import process_received_events
from tests.integrator.test_poison_events_property import FINAL, mutated

#: Examples for every scenario when set (``POISON_EXAMPLES=1000`` proves the issue's figure).
EXAMPLES_SET = os.environ.get("POISON_EXAMPLES")
#: Default examples of a scenario that calls its vendor (~0.2 s an example on PostgreSQL), so the
#: suite stays short; `make test-poison` runs 1,000 of every scenario.
FETCHED_DEFAULT = 100
#: Stands for the id of the object a hostile example is about (a fresh one per example).
KEY = "POISONKEY"
#: The id the valid event's objects are served under.
GOOD = "GOODKEY01"


@dataclass(frozen=True)
class Scenario:
    """One kind of event of one source, with what the vendor serves for it.

    ``body`` (or a function of the channel giving it) and ``answers`` use :data:`KEY` (and, where
    the vendor's ids are integers, :data:`INT_KEY` and ``INT_KEY + 1``) for the object's ids;
    ``serve`` seeds the sandbox with ``answers`` once substituted and ``forget`` removes them after
    the example; ``encode`` turns the body into the stored text; ``channel`` gives
    ``create_channel`` keywords for a channel that calls the sandbox (``sandbox`` None: the vendor
    has nothing for us to call, the body is all there is).
    """

    platform: str
    event_type: str
    currency: str
    body: Any
    answers: dict[str, Any]
    channel: Callable[[Any], dict[str, Any]]
    sandbox: Callable[[], Any] | None = None
    serve: Callable[[Any, dict[str, Any]], None] = lambda sandbox, answers: None
    forget: Callable[[Any, dict[str, Any]], None] = lambda sandbox, answers: None
    encode: Callable[[Any], str] = json.dumps
    source: str = "webhook"
    examples: int = FETCHED_DEFAULT


#: Stands for an integer id (Magento's ``entity_id``); ``INT_KEY + 1`` for a second one.
INT_KEY = 7_700_000_001
GOOD_INT = 900_001


def _substitute(node: Any, key: str, number: int) -> Any:
    """``node`` with :data:`KEY` replaced by ``key`` in every string (keys too) and the integer
    sentinels by ``number`` and ``number + 1``."""
    if isinstance(node, str):
        return node.replace(KEY, key)
    if isinstance(node, int) and not isinstance(node, bool) and node in (INT_KEY, INT_KEY + 1):
        return number + (node - INT_KEY)
    if isinstance(node, dict):
        return {_substitute(k, key, number): _substitute(v, key, number) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, key, number) for v in node]
    return node


FACTORIES: dict[str, Callable[[], Scenario]] = {}


def scenario(name: str) -> Callable[[Callable[[], Scenario]], Callable[[], Scenario]]:
    """Register a scenario factory (built lazily: fixtures are only read when it runs)."""

    def register(factory: Callable[[], Scenario]) -> Callable[[], Scenario]:
        FACTORIES[name] = factory
        return factory

    return register


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


# -- Square: an order notification names the order, read with GET /v2/orders/{id} -------------


def _square_channel(sandbox: Any) -> dict[str, Any]:
    return {"webhook_secrets": ["sig-key-current"], "base_url": sandbox.url,
            "credentials": {"access_token": sandbox.access_token}}  # fmt: skip


def _square_serve(sandbox: Any, answers: dict[str, Any]) -> None:
    for key, obj in answers.items():
        getattr(sandbox, key.split(":")[0])[key.split(":")[1]] = obj


def _square_forget(sandbox: Any, answers: dict[str, Any]) -> None:
    for key in answers:
        getattr(sandbox, key.split(":")[0]).pop(key.split(":")[1], None)


@scenario("square-order")
def _square_order() -> Scenario:
    from connectors.sandbox.square import SquareSandbox
    from tests.fixtures import square as fx

    body = fx.load("order_updated_usd.json")
    body["data"]["id"] = KEY
    body["data"]["object"]["order_updated"]["order_id"] = KEY
    order = fx.load("order_additive_usd.json")
    order["id"] = KEY
    return Scenario(
        platform="square", event_type="order.updated", currency="USD", body=body,
        answers={f"orders:{KEY}": order}, sandbox=SquareSandbox, serve=_square_serve,
        forget=_square_forget, channel=_square_channel,
    )  # fmt: skip


@scenario("square-refund")
def _square_refund() -> Scenario:
    """A refund notification carries the refund; its payment and its return order are fetched."""
    from connectors.sandbox.square import SquareSandbox
    from tests.fixtures import square as fx

    body = fx.load("refund_updated_partial_usd.json")
    refund = body["data"]["object"]["refund"]
    refund["id"] = body["data"]["id"] = f"{KEY}_refund"
    refund["payment_id"] = f"{KEY}p"
    refund["order_id"] = f"{KEY}r"
    payment = fx.load("payment_usd.json")
    payment["id"] = f"{KEY}p"
    ret = fx.load("order_return_usd.json")
    ret["id"] = f"{KEY}r"
    return Scenario(
        platform="square", event_type="refund.updated", currency="USD", body=body,
        answers={f"payments:{KEY}p": payment, f"orders:{KEY}r": ret}, sandbox=SquareSandbox,
        serve=_square_serve, forget=_square_forget, channel=_square_channel,
    )  # fmt: skip


@scenario("square-payout")
def _square_payout() -> Scenario:
    """A payout notification carries the payout; its entries are listed from the API."""
    from connectors.sandbox.square import SquareSandbox
    from tests.fixtures import square as fx

    body = fx.load("payout_paid_gbp.json")
    body["data"]["id"] = body["data"]["object"]["payout"]["id"] = KEY
    entries = fx.load("payout_entries_gbp.json")["payout_entries"]
    for entry in entries:
        entry["payout_id"] = KEY
    return Scenario(
        platform="square", event_type=body["type"], currency="GBP", body=body,
        answers={f"payout_entries:{KEY}": entries}, sandbox=SquareSandbox,
        serve=_square_serve, forget=_square_forget, channel=_square_channel,
    )  # fmt: skip


# -- Clover: a notification lists object ids; the order is read with its relations expanded ----


@scenario("clover-order")
def _clover_order() -> Scenario:
    from connectors.sandbox.clover import CloverSandbox
    from tests.fixtures import clover as fx

    order = fx.load("order_discount_two_taxes.json")
    order["id"] = KEY
    body = {"appId": "APPKENTE00001",
            "merchants": {fx.MERCHANT: [{"objectId": f"O:{KEY}", "type": "UPDATE", "ts": 1795788000000}]}}  # fmt: skip

    def serve(sandbox: Any, answers: dict[str, Any]) -> None:
        sandbox.orders.update(answers)

    def forget(sandbox: Any, answers: dict[str, Any]) -> None:
        for key in answers:
            sandbox.orders.pop(key, None)

    return Scenario(
        platform="clover", event_type="notification", currency="USD", body=body, answers={KEY: order},
        sandbox=lambda: CloverSandbox(merchant_id=fx.MERCHANT, access_token=fx.TOKEN),
        serve=serve, forget=forget,
        channel=lambda sb: {"webhook_secrets": [fx.AUTH_CODE], "base_url": sb.url, "timezone": "UTC",
                            "credentials": {"access_token": fx.TOKEN}, "settings": {"merchant_id": fx.MERCHANT}},
    )  # fmt: skip


# -- Magento: an observer webhook carries the object, which is read again from the REST API ---


def _magento_channel(sandbox: Any) -> dict[str, Any]:
    from connectors.sandbox.magento import DEFAULT_INTEGRATION as keys

    return {"webhook_secrets": [sandbox.public_key_pem], "base_url": sandbox.url, "timezone": "Europe/London",
            "credentials": {"consumer_key": keys.consumer_key, "consumer_secret": keys.consumer_secret,
                            "access_token": keys.access_token, "access_token_secret": keys.access_token_secret},
            "settings": {"requests_per_second": 10_000}}  # fmt: skip


def _magento_serve(sandbox: Any, answers: dict[str, Any]) -> None:
    for key, obj in answers.items():
        collection, number = key.split(":")
        sandbox.collections[collection][int(number)] = obj


def _magento_forget(sandbox: Any, answers: dict[str, Any]) -> None:
    for key in answers:
        collection, number = key.split(":")
        sandbox.collections[collection].pop(int(number), None)


@scenario("magento-order")
def _magento_order() -> Scenario:
    from connectors.sandbox.magento import MagentoSandbox
    from tests.fixtures import magento as fx

    order = json.loads(_dumps(fx.load("order_discount_two_rates")))
    order["entity_id"] = INT_KEY
    order["increment_id"] = KEY
    body = {"eventName": "sales_order_save_after", "data": {"order": copy.deepcopy(order)}}
    return Scenario(
        platform="magento", event_type="order", currency="GBP", body=body,
        answers={f"orders:{INT_KEY}": order}, sandbox=MagentoSandbox, serve=_magento_serve,
        forget=_magento_forget, channel=_magento_channel,
    )  # fmt: skip


@scenario("magento-creditmemo")
def _magento_creditmemo() -> Scenario:
    """A credit memo webhook: the memo is read again, and its order read for the context."""
    from connectors.sandbox.magento import MagentoSandbox
    from tests.fixtures import magento as fx

    memo = json.loads(_dumps(fx.load("creditmemo_partial_line")))
    memo["entity_id"] = INT_KEY
    memo["increment_id"] = KEY
    memo["order_id"] = INT_KEY + 1
    for item in memo.get("items") or []:
        item["parent_id"] = INT_KEY
    order = json.loads(_dumps(fx.load("order_discount_two_rates")))
    order["entity_id"] = INT_KEY + 1
    order["increment_id"] = f"{KEY}o"
    body = {"eventName": "sales_order_creditmemo_save_after", "data": {"creditmemo": copy.deepcopy(memo)}}
    return Scenario(
        platform="magento", event_type="creditmemo", currency="GBP", body=body,
        answers={f"creditmemos:{INT_KEY}": memo, f"orders:{INT_KEY + 1}": order},
        sandbox=MagentoSandbox, serve=_magento_serve, forget=_magento_forget, channel=_magento_channel,
    )  # fmt: skip


# -- Squarespace: a notification names the order; the order and its Document are fetched ------


@scenario("squarespace-order")
def _squarespace_order() -> Scenario:
    from connectors.sandbox.squarespace import SquarespaceSandbox
    from tests.fixtures import squarespace as fx

    order, document = fx.pair("two_taxes")
    order["id"] = KEY
    document["id"] = f"{KEY}d"
    document["salesOrderId"] = KEY
    body = fx.load("webhook_order_create")
    body["id"] = f"{KEY}n"
    body["data"]["orderId"] = KEY

    def serve(sandbox: Any, answers: dict[str, Any]) -> None:
        for key, obj in answers.items():
            (sandbox.documents if key.endswith("d") else sandbox.orders)[key] = obj

    def forget(sandbox: Any, answers: dict[str, Any]) -> None:
        for key in answers:
            (sandbox.documents if key.endswith("d") else sandbox.orders).pop(key, None)

    return Scenario(
        platform="squarespace", event_type="order.create", currency="USD", body=body,
        answers={KEY: order, f"{KEY}d": document}, sandbox=lambda: SquarespaceSandbox(requests_per_minute=10**9), serve=serve, forget=forget,
        channel=lambda sb: {"webhook_secrets": [fx.SECRET], "base_url": sb.url,
                            "credentials": {"api_key": sb.api_key}, "timezone": "America/New_York"},
    )  # fmt: skip


# -- PayPal: a capture event carries the capture; its order is read to find the sale ----------


def _paypal_channel(sandbox: Any) -> dict[str, Any]:
    from tests.fixtures import paypal as fx

    return {"webhook_secrets": [], "base_url": sandbox.url, "credentials": fx.credentials(sandbox),
            "settings": fx.channel_settings(sandbox)}  # fmt: skip


def _paypal_serve(sandbox: Any, answers: dict[str, Any]) -> None:
    for key, obj in answers.items():
        kind, object_id = key.split(":")
        sandbox.store[kind][object_id] = obj


def _paypal_forget(sandbox: Any, answers: dict[str, Any]) -> None:
    for key in answers:
        kind, object_id = key.split(":")
        sandbox.store[kind].pop(object_id, None)


@scenario("paypal-capture")
def _paypal_capture() -> Scenario:
    from connectors.sandbox.paypal import PayPalSandbox
    from tests.fixtures import paypal as fx

    body = fx.load("event_capture_completed_gbp.json")
    capture = body["resource"]
    capture["id"] = f"{KEY}C"
    capture["supplementary_data"]["related_ids"]["order_id"] = KEY
    for link in capture["links"]:
        link["href"] = link["href"].replace(fx.ORDER_ID, KEY).replace(fx.CAPTURE_ID, f"{KEY}C")
    order = json.loads(json.dumps(fx.load("order_gbp_discount_two_taxes.json")).replace(fx.ORDER_ID, KEY)
                       .replace(fx.CAPTURE_ID, f"{KEY}C"))  # fmt: skip
    return Scenario(
        platform="paypal", event_type=body["event_type"], currency="GBP", body=body,
        answers={f"order:{KEY}": order}, sandbox=PayPalSandbox, serve=_paypal_serve,
        forget=_paypal_forget, channel=_paypal_channel,
    )  # fmt: skip


@scenario("paypal-refund")
def _paypal_refund() -> Scenario:
    """A refund event carries the refund; the refunded capture (links rel=up) is read."""
    from connectors.sandbox.paypal import PayPalSandbox
    from tests.fixtures import paypal as fx

    body = json.loads(json.dumps(fx.load("event_capture_refunded_gbp.json")).replace(fx.CAPTURE_ID, f"{KEY}C")
                      .replace(fx.REFUND_ID, f"{KEY}R").replace(fx.ORDER_ID, KEY))  # fmt: skip
    capture = json.loads(json.dumps(fx.load("event_capture_completed_gbp.json")["resource"])
                         .replace(fx.CAPTURE_ID, f"{KEY}C").replace(fx.ORDER_ID, KEY))  # fmt: skip
    order = json.loads(json.dumps(fx.load("order_gbp_discount_two_taxes.json")).replace(fx.ORDER_ID, KEY)
                       .replace(fx.CAPTURE_ID, f"{KEY}C"))  # fmt: skip
    return Scenario(
        platform="paypal", event_type=body["event_type"], currency="GBP", body=body,
        answers={f"capture:{KEY}C": capture, f"order:{KEY}": order}, sandbox=PayPalSandbox, serve=_paypal_serve,
        forget=_paypal_forget, channel=_paypal_channel,
    )  # fmt: skip


# -- Lightspeed X-Series: a form-encoded body whose ``payload`` field holds the sale as JSON; a
#    line naming only its product has the product read from the API ---------------------------


@scenario("lightspeed_x-sale")
def _lightspeed_x_sale() -> Scenario:
    from urllib.parse import urlencode

    from connectors.sandbox.lightspeed_x import LightspeedXSandbox
    from connectors.sandbox.lightspeed_x.wire import dumps, loads
    from tests.fixtures.lightspeed_x import CLIENT_SECRET, load, store

    sale = json.loads(dumps(load("sale_shipping_tip_usd.json")))
    sale["id"] = KEY
    first = sale["line_items"][0]
    product = {"id": f"{KEY}P", "sku": first.pop("sku", "SKU-1") or "SKU-1", "name": first.pop("name", "Item"),
               "variant_name": "", "type": {"id": "t1", "name": "Textiles"}}  # fmt: skip
    first["product_id"] = f"{KEY}P"

    def serve(sandbox: Any, answers: dict[str, Any]) -> None:
        # As the store holds what it serves: JSON numbers with fractions as Decimals.
        sandbox.store.products.update(loads(json.dumps(answers)))

    def forget(sandbox: Any, answers: dict[str, Any]) -> None:
        for key in answers:
            sandbox.store.products.pop(key, None)

    def encode(body: Any) -> str:
        fields = {"payload": json.dumps(body), "domain_prefix": "kente", "environment": "prod",
                  "retailer_id": "r-1", "type": "sale.update"}  # fmt: skip
        return urlencode(fields)

    return Scenario(
        platform="lightspeed_x", event_type="sale.update", currency="USD", body=sale,
        answers={f"{KEY}P": product},
        sandbox=lambda: LightspeedXSandbox(store=store("usd"), client_secret=CLIENT_SECRET),
        serve=serve, forget=forget, encode=encode,
        channel=lambda sb: {"webhook_secrets": [CLIENT_SECRET], "base_url": sb.url,
                            "credentials": {"access_token": sb.access_token}, "timezone": "America/New_York"},
    )  # fmt: skip


# -- Lightspeed R-Series: no sale webhook; the pull stores each Sale the API lists as a record
#    ``{"sale": ...}``; a returned line has its original line read (SaleLine/{id}) -----------------


@scenario("lightspeed_r-sale")
def _lightspeed_r_sale() -> Scenario:
    from connectors.sandbox.lightspeed_r import LightspeedRSandbox
    from tests.fixtures import lightspeed_r as fx

    sale = fx.load("sale_return_next_day.json")
    sale["saleID"] = KEY

    def open_shop() -> Any:
        shop = LightspeedRSandbox(account_id=fx.ACCOUNT, bucket_size=10**9, drip_rate=10**9)
        for name in ("sale_discount_two_taxes.json", "sale_isk_inclusive.json"):
            shop.add_sale(fx.stored(fx.load(name)))
        return shop

    return Scenario(
        platform="lightspeed_r", event_type="sale", currency="CAD", body={"sale": sale}, answers={},
        sandbox=open_shop, source="pull", encode=lambda b: json.dumps(b, sort_keys=True, default=str),
        channel=lambda sb: {"base_url": sb.url, "timezone": "UTC",
                            "credentials": {"client_id": sb.client_id, "client_secret": sb.client_secret,
                                            "refresh_token": sb.refresh_token},
                            "settings": {"account_id": fx.ACCOUNT, "token_url": f"{sb.url}/auth/oauth/token"}},
    )  # fmt: skip


# -- Prysm: no API to call; a ticket is our generic signed JSON, a Z report an imported file ----


@scenario("prysm-sale")
def _prysm_sale() -> Scenario:
    from datetime import UTC, datetime
    from decimal import Decimal

    from connectors.sandbox.prysm import PrysmTill

    till = PrysmTill(secret="prysm-secret")
    ticket = till.sell(datetime(2026, 11, 20, 9, tzinfo=UTC),
                       [("textiles", "WAX-6", "Pagne", 1, Decimal(15500)), ("homeware", "BOL", "Bol", 2, Decimal(3000))],
                       [("orange_money", Decimal(10000)), ("cash", Decimal(15000))])  # fmt: skip
    event = json.loads(_dumps(ticket.events[0]))
    event["id"] = f"evt-{KEY}"
    event["data"]["id"] = KEY
    return Scenario(
        platform="prysm", event_type=event["type"], currency="XOF", body=event, answers={}, examples=1000,
        channel=lambda sb: {"webhook_secrets": ["prysm-secret"], "timezone": "Africa/Dakar",
                            "settings": {"location": "Dakar Plateau", "z_report": PrysmTill.column_mapping()}},
    )  # fmt: skip


@scenario("prysm-z_report")
def _prysm_z_report() -> Scenario:
    """The stored record of an imported Z report (what ``import_z_report`` stores per report)."""
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from connectors.sandbox.prysm import PrysmTill
    from connectors.sources.prysm import Z_REPORT_EVENT
    from connectors.sources.prysm.z_report import parse_z_report
    from connectors.sources.prysm.z_rows import ZReportMapping

    till = PrysmTill(secret="prysm-secret", register="Caisse 3")
    till.open(Decimal(20000))
    till.sell(datetime(2026, 11, 20, 9, tzinfo=UTC),
              [("textiles", "WAX-6", "Pagne", 1, Decimal(15500)), ("homeware", "BOL", "Bol", 2, Decimal(3000))],
              [("orange_money", Decimal(10000)), ("cash", Decimal(15000))])  # fmt: skip
    till.count(datetime(2026, 11, 20, 19, tzinfo=UTC), Decimal(31000))
    from integrator.services.chart import load_dataset

    parsed = parse_z_report(
        load_dataset(till.z_report_csv(date(2026, 11, 20), "42"), "csv"),
        ZReportMapping.from_settings(PrysmTill.column_mapping()),
        currency="XOF",
        register="Caisse 3",
        location="Dakar Plateau",
    )
    assert not parsed.errors, parsed.errors
    body = parsed.reports[0].as_json(filename="z-42.csv")
    body["number"] = KEY
    return Scenario(
        platform="prysm", event_type=Z_REPORT_EVENT, currency="XOF", body=body, answers={}, source="file", examples=1000,
        channel=lambda sb: {"webhook_secrets": ["prysm-secret"], "timezone": "Africa/Dakar",
                            "settings": {"location": "Dakar Plateau", "z_report": PrysmTill.column_mapping()}},
    )  # fmt: skip


# -- the property ------------------------------------------------------------------------------


@pytest.fixture
def unlimited(monkeypatch: pytest.MonkeyPatch) -> None:
    """No client-side rate limit: the vendors' per-second limits are not what is under test, and
    honouring them would make 1,000 examples take minutes of sleeping."""
    monkeypatch.setattr(
        http.RateLimiter,
        "for_connection",
        classmethod(lambda cls, key, limit: cls(http.RateLimit())),
    )


@contextlib.contextmanager
def _running(factory: Callable[[], Any] | None) -> Iterator[Any]:
    if factory is None:
        yield None
        return
    with factory() as server:
        yield server


def _reason_kind(error: str) -> str:
    """What kind of reason an event was given: the connector's own words (``MalformedPayload``,
    a vendor error) or a Python error the pipeline's net caught (worth reading: a connector that
    did not foresee the value)."""
    text = error.removeprefix("cannot read the event: ").removeprefix("cannot store the event: ")
    kind = text.split(":", 1)[0]
    return kind if kind.isidentifier() else "other"


def _check(hostile: InboundEvent, behind: InboundEvent) -> None:
    """The final-state property for one hostile event and the valid one behind it."""
    hostile.refresh_from_db()
    behind.refresh_from_db()
    assert hostile.status in FINAL, hostile.status
    if hostile.status in (EventStatus.QUARANTINED, EventStatus.FAILED):
        assert hostile.error.strip(), "quarantined or failed without a reason"
    if hostile.status == EventStatus.FAILED:
        assert "retried from" in hostile.error
        # The pipeline's safety net caught what the connector did not foresee: hostile vendor
        # data is a reason to quarantine, never an unexpected crash retried ten times.
        assert not hostile.error.startswith("processing raised"), hostile.error
    assert behind.status in (EventStatus.PROCESSED, EventStatus.IGNORED), (behind.status, behind.error)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_fetched_event_ends_in_a_final_state_with_a_reason(
    ledger: Any, unlimited: None, name: str
) -> None:
    spec = FACTORIES[name]()
    examples = int(EXAMPLES_SET) if EXAMPLES_SET else spec.examples
    started = time.monotonic()
    tally: dict[str, int] = {}
    reasons: dict[str, int] = {}
    numbers = iter(range(100_000, 10**9, 2))
    with _running(spec.sandbox) as sandbox:
        channel = create_channel(platform=spec.platform, name=name, slug=f"prop-{name}",
                                 currency=spec.currency, ledger_connection=ledger,
                                 **spec.channel(sandbox))  # fmt: skip
        good_body = _substitute(spec.body, GOOD, GOOD_INT)
        spec.serve(sandbox, _substitute(spec.answers, GOOD, GOOD_INT))

        @settings(
            max_examples=examples,
            # No shrinking: each step re-runs vendor round trips; the failing example is printed.
            phases=[Phase.explicit, Phase.generate],
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(case=mutated({"body": spec.body, "answers": spec.answers}))
        def one(case: Any) -> None:
            key = "P" + uuid.uuid4().hex[:20].upper()
            case = _substitute(case, key, next(numbers))
            body, answers = case.get("body"), case.get("answers")
            answers = answers if isinstance(answers, dict) else {}
            spec.serve(sandbox, answers)
            try:
                hostile = store_event(
                    channel,
                    WebhookEnvelope(dedupe_key=f"h-{key}", event_type=spec.event_type),
                    spec.encode(body),
                    {},
                    source=spec.source,
                ).event
                behind = store_event(
                    channel,
                    WebhookEnvelope(dedupe_key=f"g-{key}", event_type=spec.event_type),
                    spec.encode(good_body),
                    {},
                    source=spec.source,
                ).event
                process_received_events()
            finally:
                spec.forget(sandbox, answers)
            _check(hostile, behind)
            tally[hostile.status] = tally.get(hostile.status, 0) + 1
            if hostile.status in (EventStatus.QUARANTINED, EventStatus.FAILED):
                reason = _reason_kind(hostile.error)
                reasons[reason] = reasons.get(reason, 0) + 1

        one()
    assert not InboundEvent.objects.filter(status=EventStatus.RECEIVED).exists()
    assert sum(tally.values()) >= min(examples, 100)
    print(f"{name}: {examples} examples in {time.monotonic() - started:.1f}s: {tally}; reasons {reasons}")


@pytest.mark.django_db
def test_a_log_row_the_database_refuses_neither_raises_nor_breaks_the_transaction(ledger: Any) -> None:
    """Found by the property (X-Series outlet id ``"\\ud800"``, a vendor answer holding 1e400):
    storing the integration-log row raised UnicodeEncodeError out of the vendor call, or left the
    enclosing transaction broken, so the event could not even be marked. The row is dropped in a
    savepoint instead."""
    from django.db import transaction

    from integrator.models import IntegrationCall
    from integrator.services.integration_log import record_call

    before = IntegrationCall.objects.count()
    with transaction.atomic():
        for url, answer in (("https://x.invalid/outlets/\ud800", {}), ("https://x.invalid/o", {"n": float("inf")}),
                            ("https://x.invalid/o", {"n": "a\x00b"})):  # fmt: skip
            record_call(http.CallRecord(vendor="v", connection_key="k", method="GET", url=url, status=200,
                                        duration_ms=1, idempotency_key="", request_body=None,
                                        response_body=answer, error=""))  # fmt: skip
        assert InboundEvent.objects.count() >= 0  # the transaction still answers
    assert IntegrationCall.objects.count() >= before
