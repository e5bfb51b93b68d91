"""The Business Central sandbox keeps Business Central's rules: VAT computed per document with the
rounding carried line to line, etags on changes, all-or-nothing ``$batch`` groups, the 6,000 per
5 minutes limit and Entra ID client-credentials tokens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors.jsonwire import dumps, loads
from connectors.sandbox.business_central import BusinessCentralSandbox, Company
from tests.ledgers.demo_week import demo_chart


@pytest.fixture
def bc() -> Any:
    with BusinessCentralSandbox(per_five_minutes=30) as sandbox:
        sandbox.seed_chart(*demo_chart())
        yield sandbox


def token(bc: BusinessCentralSandbox) -> dict[str, str]:
    answer = requests.post(f"{bc.url}/{bc.tenant}/oauth2/v2.0/token", timeout=5,
                           data={"grant_type": "client_credentials", **bc.credentials(), "scope": "x/.default"})  # fmt: skip
    return {"Authorization": f"Bearer {answer.json()['access_token']}", "Content-Type": "application/json"}


def company_url(bc: BusinessCentralSandbox) -> str:
    return f"{bc.url}{bc.api_root}/companies({bc.company.id})"


def test_vat_is_the_documents_rounded_vat_per_code_carried_line_to_line() -> None:
    company = Company()
    company.seed(*demo_chart())
    customer = company.add_customer({"displayName": "Ama"})
    lines = [
        {
            "lineType": "Account",
            "lineObjectNumber": "4000",
            "quantity": 1,
            "unitPrice": "0.04",
            "taxCode": "UK-VAT20",
        }
    ] * 3
    doc = company.add_document(
        "salesInvoices", {"customerId": customer["id"], "salesInvoiceLines": lines}, "salesInvoiceLines"
    )
    assert [ln["totalTaxAmount"] for ln in doc["_lines"]] == [Decimal("0.01"), Decimal("0.01"), Decimal("0")]
    assert doc["totalTaxAmount"] == Decimal("0.02")  # 0.12 x 20 % = 0.024, not 3 x 0.01


def test_a_change_needs_the_current_etag(bc: BusinessCentralSandbox) -> None:
    headers = token(bc)
    customer = bc.company.add_customer({"displayName": "Ama"})
    doc = requests.post(f"{company_url(bc)}/salesInvoices?$expand=salesInvoiceLines", headers=headers, timeout=5, data=dumps(
        {"customerId": customer["id"], "salesInvoiceLines": [{"lineType": "Account", "lineObjectNumber": "4000", "quantity": 1,
                                                              "unitPrice": 5, "taxCode": "UK-VAT20"}]})).json()  # fmt: skip
    line = doc["salesInvoiceLines"][0]
    url = f"{company_url(bc)}/salesInvoices({doc['id']})/salesInvoiceLines({line['id']})"
    assert requests.patch(url, headers=headers, data=b'{"quantity": 2}', timeout=5).status_code == 400
    assert (
        requests.patch(
            url, headers={**headers, "If-Match": line["@odata.etag"]}, data=b'{"quantity": 2}', timeout=5
        ).status_code
        == 200
    )
    stale = requests.patch(
        url, headers={**headers, "If-Match": line["@odata.etag"]}, data=b'{"quantity": 3}', timeout=5
    )
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "Request_EntityChanged"


def test_a_batch_group_fails_as_a_whole(bc: BusinessCentralSandbox) -> None:
    headers = token(bc)
    requests_ = [
        {"id": "1", "method": "POST", "url": f"companies({bc.company.id})/customers", "atomicityGroup": "g", "body": {"displayName": "A"}},
        {"id": "2", "method": "POST", "url": f"companies({bc.company.id})/customers", "atomicityGroup": "g", "body": {}},
        {"id": "3", "method": "POST", "url": f"companies({bc.company.id})/customers", "body": {"displayName": "C"}},
    ]  # fmt: skip
    answer = loads(
        requests.post(
            f"{bc.url}{bc.api_root}/$batch", headers=headers, data=dumps({"requests": requests_}), timeout=5
        ).content
    )
    assert [r["status"] for r in answer["responses"]] == [424, 400, 201]
    assert [c["displayName"] for c in bc.company.customers] == ["C"]


def test_a_posting_date_outside_the_allowed_range_is_refused_on_posting() -> None:
    company = Company()
    company.seed(*demo_chart())
    company.allow_to = __import__("datetime").date(2026, 9, 30)
    customer = company.add_customer({"displayName": "Ama"})
    doc = company.add_document("salesInvoices", {"customerId": customer["id"], "postingDate": "2026-10-01", "salesInvoiceLines": [
        {"lineType": "Account", "lineObjectNumber": "4000", "quantity": 1, "unitPrice": 5, "taxCode": "UK-VAT20"}]}, "salesInvoiceLines")  # fmt: skip
    with pytest.raises(Exception, match="not within your range of allowed posting dates"):
        company.post_document("salesInvoices", doc["id"])
    assert company.ledger == [] and doc["status"] == "Draft"


def test_the_limit_answers_429_with_retry_after(bc: BusinessCentralSandbox) -> None:
    headers = token(bc)
    statuses = [
        requests.get(f"{company_url(bc)}/accounts", headers=headers, timeout=5).status_code for _ in range(31)
    ]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429
    assert bc.retry_windows


def test_tokens_need_the_client_secret(bc: BusinessCentralSandbox) -> None:
    bad = requests.post(f"{bc.url}/{bc.tenant}/oauth2/v2.0/token", data={"grant_type": "client_credentials", "client_id": "bc-client",
                                                                        "client_secret": "no"}, timeout=5)  # fmt: skip
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert requests.get(f"{company_url(bc)}/accounts", timeout=5).status_code == 401
