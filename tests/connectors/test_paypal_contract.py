"""Contract tests: every PayPal fixture, every object the sandbox serves and the source reads, the
post-back the source sends and the errors it parses, validated against PayPal's published OpenAPI
files in ../shared/specs/paypal (checkout_orders_v2, payments_payment_v2, notifications_webhooks_v1,
invoicing_v2, reporting_transactions_v1, customer_disputes_v1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connectors import http
from connectors.base import WebhookRequest
from connectors.sandbox.base import Fault
from connectors.sandbox.paypal import PayPalSandbox
from connectors.sources.paypal.reporting import list_transactions
from integrator.services.integration_log import record_call
from tests.contract import validate_openapi
from tests.fixtures import paypal as fx

ORDERS = "paypal/checkout_orders_v2.json"
PAYMENTS = "paypal/payments_payment_v2.json"
WEBHOOKS = "paypal/notifications_webhooks_v1.json"
INVOICING = "paypal/invoicing_v2.json"
REPORTING = "paypal/reporting_transactions_v1.json"
DISPUTES = "paypal/customer_disputes_v1.json"

# Which schema each webhook's resource follows (PAYMENT.SALE.* are Payments v1, which has no spec).
RESOURCE_SCHEMAS = {
    "PAYMENT.CAPTURE.COMPLETED": (PAYMENTS, "capture-2"),
    "PAYMENT.CAPTURE.REFUNDED": (PAYMENTS, "refund"),
    "PAYMENT.CAPTURE.REVERSED": (PAYMENTS, "refund"),
    "CUSTOMER.DISPUTE.CREATED": (DISPUTES, "dispute"),
    "CUSTOMER.DISPUTE.RESOLVED": (DISPUTES, "dispute"),
    "INVOICING.INVOICE.PAID": (INVOICING, "invoice"),
}
OBJECT_FIXTURES = {
    "order_gbp_discount_two_taxes.json": (ORDERS, "order"),
    "order_jpy.json": (ORDERS, "order"),
    "capture_eur_settled_gbp.json": (PAYMENTS, "capture-2"),
    "capture_invoice_payment.json": (PAYMENTS, "capture-2"),
    "capture_disputed_lost.json": (PAYMENTS, "capture-2"),
    "capture_disputed_won.json": (PAYMENTS, "capture-2"),
    "refund_partial_gbp.json": (PAYMENTS, "refund"),
    "dispute_lost.json": (DISPUTES, "dispute"),
    "dispute_won.json": (DISPUTES, "dispute"),
}
EVENT_FIXTURES = sorted(p.name for p in fx.FIXTURES_DIR.glob("event_*.json"))


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[http.CallRecord]]:
    recorded: list[http.CallRecord] = []
    http.set_call_recorder(recorded.append)
    yield recorded
    http.set_call_recorder(record_call)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[PayPalSandbox]:
    with PayPalSandbox() as server:
        yield fx.seed(server)


def test_every_fixture_file_is_covered_by_a_contract() -> None:
    names = {p.name for p in fx.FIXTURES_DIR.glob("*.json")}
    assert names == set(OBJECT_FIXTURES) | set(EVENT_FIXTURES)


@pytest.mark.parametrize("name", sorted(OBJECT_FIXTURES))
def test_object_fixtures_follow_paypals_schemas(name: str) -> None:
    spec, schema = OBJECT_FIXTURES[name]
    validate_openapi(spec, schema, fx.load(name))


@pytest.mark.parametrize("name", EVENT_FIXTURES)
def test_webhook_fixtures_are_paypal_events_with_resources_of_their_type(name: str) -> None:
    event = fx.load(name)
    validate_openapi(WEBHOOKS, "event", event)
    target = RESOURCE_SCHEMAS.get(event["event_type"])
    if target is None:
        assert event["event_type"].startswith("PAYMENT.SALE."), "only Payments v1 events lack a spec"
        return
    resource = event["resource"]
    if target[1] == "invoice":
        resource = resource["invoice"]
    validate_openapi(*target, resource)


def test_objects_the_source_reads_from_the_sandbox_follow_the_schemas(sandbox: PayPalSandbox) -> None:
    api = fx.source(sandbox).api
    assert api is not None
    validate_openapi(ORDERS, "order", api.get(f"/v2/checkout/orders/{fx.ORDER_ID}"))
    validate_openapi(PAYMENTS, "capture-2", api.get(f"/v2/payments/captures/{fx.CAPTURE_ID}"))
    validate_openapi(PAYMENTS, "refund", api.get(f"/v2/payments/refunds/{fx.REFUND_ID}"))
    validate_openapi(DISPUTES, "dispute", api.get("/v1/customer/disputes/PP-R-LPT-10045612"))
    validate_openapi(INVOICING, "invoice", api.get(f"/v2/invoicing/invoices/{fx.INVOICE_ID}"))
    listing = api.get("/v1/customer/disputes", [("page_size", 1)])
    validate_openapi(DISPUTES, "dispute_search", listing)


def test_transaction_search_pages_follow_the_schema(sandbox: PayPalSandbox) -> None:
    api = fx.source(sandbox).api
    assert api is not None
    start = datetime(2026, 11, 1, tzinfo=UTC)
    page = api.get(
        "/v1/reporting/transactions",
        [("start_date", "2026-11-01T00:00:00Z"), ("end_date", "2026-11-30T00:00:00Z"), ("fields", "all")],
    )
    validate_openapi(REPORTING, "search_response", page)
    details = [d for p in list_transactions(api, start, start + timedelta(days=29)) for d in p]
    assert details and {d["transaction_info"]["transaction_event_code"] for d in details} >= {
        "T0006",
        "T1107",
        "T0200",
    }
    for detail in details:
        validate_openapi(REPORTING, "transaction_detail", detail)


def test_the_post_back_we_send_and_its_answer_follow_the_schema(sandbox: PayPalSandbox) -> None:
    body = json.dumps(fx.load("event_capture_completed_gbp.json")).encode()
    request = WebhookRequest(body, sandbox.signed_headers(body, fx.WEBHOOK_ID), "https://books.example/hooks/x/",
                             datetime.now(UTC))  # fmt: skip
    fx.source(sandbox, verification="postback").verify_webhook(request)
    sent = sandbox.requests_to("POST", "verify-webhook-signature")[-1]
    validate_openapi(WEBHOOKS, "verify_webhook_signature", json.loads(sent.body))
    token = fx.source(sandbox).api.access_token()  # type: ignore[union-attr]
    answer = requests.post(
        f"{sandbox.url}/v1/notifications/verify-webhook-signature",
        data=sent.body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    ).json()
    validate_openapi(WEBHOOKS, "verify_webhook_signature_response", answer)
    assert answer == {"verification_status": "SUCCESS"}


@pytest.mark.parametrize(
    ("status", "schema", "call"),
    [
        (404, "error_404", lambda api: api.get("/v2/payments/captures/NOSUCHCAPTURE0001")),
        (400, "error_400", lambda api: api.get("/v1/reporting/transactions", [("start_date", "2026-01-01T00:00:00Z"),
                                                                              ("end_date", "2026-03-01T00:00:00Z")])),
        (500, "error_500", lambda api: api.get(f"/v2/payments/captures/{fx.CAPTURE_ID}")),
        (503, "error_503", lambda api: api.get(f"/v2/payments/captures/{fx.CAPTURE_ID}")),
    ],
)  # fmt: skip
def test_sandbox_errors_are_shaped_like_paypals(
    sandbox: PayPalSandbox, status: int, schema: str, call: Any
) -> None:
    api = fx.source(sandbox).api
    assert api is not None
    token = api.access_token()
    if status >= 500:
        sandbox.faults.next(Fault("status", status=status))
        answer = requests.get(f"{sandbox.url}/v2/payments/captures/{fx.CAPTURE_ID}",
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    elif status == 404:
        answer = requests.get(f"{sandbox.url}/v2/payments/captures/NOSUCHCAPTURE0001",
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    else:
        answer = requests.get(
            f"{sandbox.url}/v1/reporting/transactions",
            params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    assert answer.status_code == status
    body = answer.json()
    validate_openapi(PAYMENTS, schema, body)
    assert body["debug_id"] and body["name"]
    if status == 400:
        assert body["details"][0]["issue"] == "INVALID_PARAMETER_VALUE"
        assert "31 days" in body["details"][0]["description"]


def test_invoice_search_results_follow_the_schema(sandbox: PayPalSandbox) -> None:
    api = fx.source(sandbox).api
    assert api is not None
    answer = api.post("/v2/invoicing/search-invoices?page=1&page_size=100&total_required=true",
                      b'{"invoice_date_range": {"start": "2026-11-01", "end": "2026-11-30"}}')  # fmt: skip
    validate_openapi(INVOICING, "invoices", answer)
    assert [i["id"] for i in answer["items"]] == [fx.INVOICE_ID]
