"""The API's error bodies, the reports of the built-in ledger, and the documented, offline schema."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import yaml
from django.test import Client
from django.urls import reverse

from integrator.api.errors import error_body
from integrator.models import LedgerConnection
from tests.api.mixins import assert_error
from tests.conftest import sale_event


def test_error_body_shape() -> None:
    assert error_body("conflict", "No.") == {"error": {"code": "conflict", "message": "No.", "details": {}}}


def test_unknown_filter_choice_lists_the_field(client: Client, api_env: Any, users: Any) -> None:
    client.force_login(users["auditor"])
    error = assert_error(client.get("/api/v1/postings/", {"state": "lost"}), 400, "invalid")
    assert "state" in error["details"] and "lost" in str(error["details"]["state"])


def test_api_names_are_namespaced_so_screens_keep_theirs() -> None:
    assert reverse("transaction-detail", args=["6b0c1c8e-0000-4000-8000-000000000000"]).startswith(
        "/transactions/"
    )
    assert reverse("api:transaction-list") == "/api/v1/transactions/"


def _booked(api_env: Any) -> LedgerConnection:
    api_env.post("till", sale_event("S-R1"))
    api_env.post("till", sale_event("S-R2", total="60.00", lines=[
        {"sku": "BASKET-1", "name": "Basket", "category": "homeware", "quantity": 1, "unit_price": "50.00",
         "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "10.00"}]}]))  # fmt: skip
    return api_env.ledger


def test_trial_balance_report_balances(client: Client, api_env: Any, users: Any) -> None:
    ledger = _booked(api_env)
    client.force_login(users["auditor"])
    rows = client.get("/api/v1/reports/trial-balance/", {"connection": str(ledger.pk)}).json()
    by_code = {r["code"]: r for r in rows}
    assert by_code["1100"]["debit"] == "204.00" and by_code["4000"]["credit"] == "120.00"
    assert by_code["4010"]["credit"] == "50.00" and by_code["2100"]["credit"] == "34.00"
    assert (
        sum(Decimal(r["debit"]) for r in rows) == sum(Decimal(r["credit"]) for r in rows) == Decimal("204.00")
    )
    empty = client.get(
        "/api/v1/reports/trial-balance/", {"connection": str(ledger.pk), "as_of": "2020-01-01"}
    )
    assert empty.json() == []


def test_general_ledger_report_pages_with_running_balances(client: Client, api_env: Any, users: Any) -> None:
    ledger = _booked(api_env)
    client.force_login(users["auditor"])
    data = client.get(
        "/api/v1/reports/general-ledger/", {"connection": str(ledger.pk), "account": "1100"}
    ).json()
    assert data["count"] == 2
    assert [r["running_balance"] for r in data["results"]] == ["144.00", "204.00"]
    page = client.get(
        "/api/v1/reports/general-ledger/", {"connection": str(ledger.pk), "page_size": 2}
    ).json()
    assert page["count"] == 6 and len(page["results"]) == 2 and page["next"]


def test_reports_need_a_connection_and_valid_dates(
    client: Client, api_env: Any, users: Any, nobody: Any
) -> None:
    client.force_login(users["auditor"])
    assert (
        "connection" in assert_error(client.get("/api/v1/reports/trial-balance/"), 400, "invalid")["details"]
    )
    missing = client.get(
        "/api/v1/reports/trial-balance/", {"connection": "6b0c1c8e-0000-4000-8000-000000000000"}
    )
    assert_error(missing, 404, "not_found")
    bad_date = client.get(
        "/api/v1/reports/general-ledger/", {"connection": str(api_env.ledger.pk), "start": "May"}
    )
    assert "start" in assert_error(bad_date, 400, "invalid")["details"]
    assert client.get("/api/v1/reports/").status_code == 200
    client.force_login(nobody)
    assert_error(client.get("/api/v1/reports/trial-balance/", {"connection": str(api_env.ledger.pk)}), 403,
                 "permission_denied")  # fmt: skip


def test_schema_documents_every_core_resource_and_the_error_body(client: Client, users: Any) -> None:
    client.force_login(users["auditor"])
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for path in ("/api/v1/channels/", "/api/v1/ledger-connections/", "/api/v1/accounts/", "/api/v1/tax-codes/",
                 "/api/v1/transactions/", "/api/v1/transactions/{id}/retry/", "/api/v1/journal-entries/",
                 "/api/v1/postings/", "/api/v1/postings/{id}/retry/", "/api/v1/postings/{id}/move/",
                 "/api/v1/inbound-events/", "/api/v1/jobs/", "/api/v1/audit-events/",
                 "/api/v1/reports/trial-balance/", "/api/v1/reports/general-ledger/"):  # fmt: skip
        assert path in paths, path
    params = {p["name"] for p in paths["/api/v1/transactions/"]["get"]["parameters"]}
    assert {"q", "status", "channel", "business_date_after", "total_min", "cursor", "ordering"} <= params
    assert "409" in paths["/api/v1/postings/{id}/retry/"]["post"]["responses"]
    assert "ErrorBody" in schema["components"]["schemas"]


def test_docs_work_offline(client: Client, users: Any) -> None:
    client.force_login(users["auditor"])
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html.lower()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower() and "jsdelivr" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
