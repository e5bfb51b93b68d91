"""The Inventory screens, the REST API and the shipment import, as a clerk and an auditor use them."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal as D
from typing import Any

import tablib
from django.test import Client

from integrator.models import AuditEvent, InventoryBook, Product, Shipment, StockLevel
from integrator.services.posting import run_outbox

CSV = (
    "shipment,supplier,currency,invoice_date,invoice_rate,record,sku,quantity,unit_price,unit_weight,kind,amount,"
    "cost_currency,basis,cost_rate,paid_through\n"
    "GH-CSV-1,Tamale Shea Cooperative,USD,2026-11-10,0.79,line,SHEA-KG,200,6.00,,,,,,,\n"
    "GH-CSV-1,Tamale Shea Cooperative,USD,2026-11-10,0.79,line,KENTE-12,50,40.00,,,,,,,\n"
    "GH-CSV-1,Tamale Shea Cooperative,USD,2026-11-10,0.79,cost,,,,,freight,450.00,GBP,weight,,\n"
    "GH-CSV-1,Tamale Shea Cooperative,USD,2026-11-10,0.79,cost,,,,,insurance,64.00,USD,value,0.80,\n"
    "GH-CSV-1,Tamale Shea Cooperative,USD,2026-11-10,0.79,cost,,,,,duty,252.80,GBP,value,,clearing\n"
    "GH-CSV-1,Tamale Shea Cooperative,USD,2026-11-10,0.79,cost,,,,,import_vat,656.40,GBP,value,,clearing\n"
)


def _clerk(users: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(users["finance_clerk"])
    return client


def test_import_a_csv_with_a_preview_then_receive_it_on_the_screen(
    inventory: InventoryBook, shea: Product, kente: Product, users: dict[str, Any]
) -> None:
    client = _clerk(users)
    # Given a CSV of one shipment: when previewed, nothing is saved
    upload = io.BytesIO(CSV.encode())
    upload.name = "ghana.csv"
    preview = client.post("/inventory/shipments/import/", {"file": upload})
    assert (
        preview.status_code == 200
        and b"GH-CSV-1" in preview.content
        and b"Import 1 shipment" in preview.content
    )
    assert not Shipment.objects.exists()
    # When confirmed, then the draft exists with its four costs
    client.post("/inventory/shipments/import/", {"content": preview.context["content"], "filename": "ghana.csv",
                                                 "confirm": "1"})  # fmt: skip
    shipment = Shipment.objects.get(reference="GH-CSV-1")
    assert shipment.costs.count() == 4
    # And its page forecasts the landed unit costs before receipt
    page = client.get(f"/inventory/shipments/{shipment.pk}/")
    assert b"6.81" in page.content and b"38.4" in page.content
    # When received on the screen, then stock and the inventory account hold the landed value
    client.post(f"/inventory/shipments/{shipment.pk}/receive/", {"on": "2026-11-12"})
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.RECEIVED
    assert StockLevel.objects.get(product=shea).quantity == D(200)
    run_outbox()
    assert client.get("/inventory/valuation/?as_of=2026-11-30").context["valuation"].total == D("3282.00")
    assert b"Reconciled." in client.get("/inventory/valuation/?as_of=2026-11-30").content
    assert AuditEvent.objects.filter(action="shipment.received").count() == 1


def test_a_bad_file_imports_nothing_and_says_why(
    inventory: InventoryBook, shea: Product, users: dict[str, Any]
) -> None:
    client = _clerk(users)
    bad = CSV.replace("KENTE-12", "NO-SUCH").replace("import_vat", "bribe")
    upload = io.BytesIO(bad.encode())
    upload.name = "bad.csv"
    preview = client.post("/inventory/shipments/import/", {"file": upload})
    assert b"no product with SKU" in preview.content and b"cost kind" in preview.content
    assert b"Import 1 shipment" not in preview.content
    assert not Shipment.objects.exists()


def test_an_xlsx_file_imports_the_same(
    inventory: InventoryBook, shea: Product, kente: Product, users: dict
) -> None:
    data = tablib.Dataset().load(CSV, format="csv")
    upload = io.BytesIO(data.export("xlsx"))
    upload.name = "ghana.xlsx"
    preview = _clerk(users).post("/inventory/shipments/import/", {"file": upload})
    assert preview.context["problems"] == [] and len(preview.context["parsed"][0].costs) == 4


def test_the_api_creates_receives_and_values_a_shipment(
    inventory: InventoryBook, shea: Product, kente: Product, users: dict[str, Any]
) -> None:
    client = _clerk(users)
    body = {
        "reference": "GH-API-1", "supplier": "Tamale Shea Cooperative", "currency": "USD",
        "invoice_date": "2026-11-10", "invoice_rate": "0.79",
        "new_lines": [{"sku": "SHEA-KG", "quantity": "200", "unit_price": "6.00"},
                      {"sku": "KENTE-12", "quantity": "50", "unit_price": "40.00"}],
        "costs": [{"kind": "freight", "currency": "GBP", "amount": "450.00", "basis": "weight"}],
    }  # fmt: skip
    made = client.post("/api/v1/inventory/shipments/", body, content_type="application/json")
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    received = client.post(f"/api/v1/inventory/shipments/{pk}/receive/?on=2026-11-12")
    assert received.status_code == 200
    lines = {ln["sku"]: ln for ln in received.json()["lines"]}
    # 948.00 + 300.00 freight = 1,248.00 / 200 = 6.24; 1,580.00 + 150.00 = 1,730.00 / 50 = 34.60
    assert (D(lines["SHEA-KG"]["landed_unit_cost"]), D(lines["KENTE-12"]["landed_unit_cost"])) == (
        D("6.24"),
        D("34.6"),
    )
    late = client.post(f"/api/v1/inventory/shipments/{pk}/costs/", {"kind": "duty", "currency": "GBP",
                       "amount": "100.00", "basis": "quantity"}, content_type="application/json")  # fmt: skip
    assert late.status_code == 201 and late.json()["late"] is True
    run_outbox()
    valuation = client.get("/api/v1/inventory/valuation/?as_of=2026-11-30").json()
    assert valuation["total"] == "3078.00" and valuation["reconciles"] is True  # 2,528 + 450 + 100, none sold
    assert client.get("/api/v1/inventory/stock-levels/").status_code == 200
    assert (
        client.get("/api/v1/inventory/profit/?start=2026-11-01&end=2026-11-30&group=category").json()["rows"]
        == []
    )


def test_an_auditor_reads_but_cannot_receive(inventory: InventoryBook, shea: Product, supplier: Any,
                                             users: dict[str, Any]) -> None:  # fmt: skip
    from integrator.services.inventory.landed import create_shipment

    shipment = create_shipment(inventory, reference="GH-RO", supplier=supplier, invoice_date=date(2026, 11, 10),
                               invoice_rate=D("0.79"), lines=[{"product": shea, "quantity": "10", "unit_price": "6"}])  # fmt: skip
    client = Client()
    client.force_login(users["auditor"])
    for url in ("/inventory/", "/inventory/shipments/", f"/inventory/shipments/{shipment.pk}/", "/inventory/valuation/",
                "/inventory/reorder/", "/inventory/profit/", "/inventory/tax/", "/api/v1/inventory/tax/"):  # fmt: skip
        assert client.get(url).status_code == 200, url
    assert client.post(f"/inventory/shipments/{shipment.pk}/receive/").status_code == 403
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DRAFT


def test_profit_downloads(inventory: InventoryBook, users: dict[str, Any]) -> None:
    client = _clerk(users)
    csv_response = client.get("/inventory/profit/?start=2026-11-01&end=2026-11-30&format=csv")
    assert csv_response["Content-Type"] == "text/csv" and csv_response.content.startswith(
        b"Group,Quantity,Revenue"
    )
    xlsx = client.get("/inventory/profit/?start=2026-11-01&end=2026-11-30&group=channel&format=xlsx")
    assert xlsx.content[:2] == b"PK"


def test_a_clerk_records_a_count_on_the_screen(
    inventory: InventoryBook, shea: Product, users: dict[str, Any]
) -> None:
    from integrator.services.inventory.adjustments import adjust_stock

    adjust_stock(inventory, shea, D(50), unit_cost=D("5.00"), key="opening", on=date(2026, 11, 1))
    client = _clerk(users)
    response = client.post("/inventory/counts/", {"location": "main", "counted_on": "2026-11-05",
                                                  "counts": "SHEA-KG, 46\n", "note": "Friday count"})  # fmt: skip
    assert response.status_code == 302
    assert StockLevel.objects.get(product=shea).quantity == D(46)
    page = client.get("/inventory/counts/").content.decode()
    assert "Friday count" in page and ">50<" in page and ">46<" in page
    refused = client.post(
        "/inventory/counts/", {"location": "main", "counted_on": "2026-11-05", "counts": "NOPE, 1"}
    )
    assert refused.status_code == 200 and StockLevel.objects.get(product=shea).quantity == D(46)
    auditor = Client()
    auditor.force_login(users["auditor"])
    assert auditor.post("/inventory/counts/", {"counts": "SHEA-KG, 1"}).status_code == 403
