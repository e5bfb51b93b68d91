"""The SAP Business One sandbox keeps the Service Layer's rules: session login and timeout, both
error shapes, all-or-nothing change sets in a multipart ``$batch``, posting period statuses, VAT
taken from ``TaxTotal`` or computed per line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors.jsonwire import dumps, loads
from connectors.ledgers.sap_b1.multipart import Part, decode_response, encode_request
from connectors.sandbox.sap_b1 import B1Error, Company, SapB1Sandbox
from tests.ledgers.demo_week import demo_chart


@pytest.fixture
def b1() -> Any:
    with SapB1Sandbox(session_timeout_minutes=30) as sandbox:
        sandbox.seed_chart(*demo_chart())
        yield sandbox


def login(b1: SapB1Sandbox, version: str = "v1") -> dict[str, str]:
    answer = requests.post(f"{b1.url}/b1s/{version}/Login", timeout=5,
                           data=dumps({"CompanyDB": b1.company_db, "UserName": b1.user, "Password": b1.password}))  # fmt: skip
    assert answer.status_code == 200 and answer.json()["SessionTimeout"] == 30
    return {"Cookie": f"B1SESSION={answer.cookies['B1SESSION']}"}


def company() -> Company:
    c = Company()
    c.seed(*demo_chart())
    c.add_partner({"CardCode": "C1", "CardName": "Ama"})
    return c


def invoice(c: Company, **line: Any) -> dict[str, Any]:
    body = {"AccountCode": "4000", "LineTotal": Decimal("0.04"), "VatGroup": "UK-VAT20", **line}
    return c.add_document(
        "Invoices",
        {"CardCode": "C1", "DocType": "dDocument_Service", "DocDate": "2026-10-05", "DocumentLines": [body]},
    )


def test_vat_is_the_callers_tax_total_or_computed_per_line() -> None:
    c = company()
    assert invoice(c)["VatSum"] == Decimal("0.01")
    assert invoice(c, TaxTotal=Decimal("0"))["VatSum"] == Decimal("0")


def test_period_statuses_refuse_what_they_must() -> None:
    c = company()
    c.set_period_status(date(2026, 10, 5), "ltUnlockedExceptSales")
    with pytest.raises(B1Error) as refused:
        invoice(c)
    assert refused.value.code == -4013
    c.add_journal(
        {
            "ReferenceDate": "2026-10-05",
            "JournalEntryLines": [{"AccountCode": "1000", "Debit": 1}, {"AccountCode": "1100", "Credit": 1}],
        }
    )
    with pytest.raises(B1Error):
        c.add_journal(
            {
                "ReferenceDate": "2027-01-05",
                "JournalEntryLines": [
                    {"AccountCode": "1000", "Debit": 1},
                    {"AccountCode": "1100", "Credit": 1},
                ],
            }
        )


def test_no_session_is_401_code_301_in_each_versions_shape(b1: SapB1Sandbox) -> None:
    v1 = requests.get(f"{b1.url}/b1s/v1/Invoices", timeout=5)
    v2 = requests.get(f"{b1.url}/b1s/v2/Invoices", timeout=5)
    assert v1.status_code == v2.status_code == 401
    assert v1.json()["error"]["code"] == 301 and v1.json()["error"]["message"]["value"].startswith(
        "Invalid session"
    )
    assert v2.json()["error"]["code"] == "301" and v2.json()["error"]["message"].startswith("Invalid session")
    cookie = login(b1)
    assert requests.get(f"{b1.url}/b1s/v1/Invoices", headers=cookie, timeout=5).status_code == 200


def test_a_failed_change_set_is_undone_as_a_whole(b1: SapB1Sandbox) -> None:
    cookie = login(b1)
    good = Part("POST", "/b1s/v1/BusinessPartners", body=dumps({"CardCode": "C1", "CardName": "Ama"}))
    bad = Part("POST", "/b1s/v1/BusinessPartners", body=dumps({"CardCode": "C2"}))
    alone = Part("POST", "/b1s/v1/BusinessPartners", body=dumps({"CardCode": "C3", "CardName": "Kofi"}))
    body = encode_request([(True, [good, bad]), (True, [alone])], "batch_t")
    answer = requests.post(f"{b1.url}/b1s/v1/$batch", headers={**cookie, "Content-Type": "multipart/mixed;boundary=batch_t"},
                           data=body, timeout=5)  # fmt: skip
    parts = decode_response(answer.content, answer.headers["Content-Type"])
    assert [p.status for p in parts] == [400, 201]
    assert loads(parts[0].body)["error"]["code"] == -5002
    assert [p["CardCode"] for p in b1.company.partners] == ["C3"]


def test_a_copied_order_is_closed() -> None:
    c = company()
    order = c.add_document("Orders", {"CardCode": "C1", "DocType": "dDocument_Service", "DocDate": "2026-10-05",
                                      "DocumentLines": [{"AccountCode": "4000", "LineTotal": 10, "VatGroup": "UK-VAT20"}]})  # fmt: skip
    invoice(c, BaseType=17, BaseEntry=order["DocEntry"], BaseLine=0)
    assert order["DocumentStatus"] == "bost_Close"
    with pytest.raises(B1Error):
        invoice(c, BaseType=17, BaseEntry=order["DocEntry"], BaseLine=0)


def test_sessions_end_after_the_configured_number_of_requests() -> None:
    with SapB1Sandbox(session_requests=2) as b1:
        b1.seed_chart(*demo_chart())
        cookie = login(b1)
        statuses = [
            requests.get(f"{b1.url}/b1s/v1/VatGroups", headers=cookie, timeout=5).status_code
            for _ in range(3)
        ]
    assert statuses == [200, 200, 401]
