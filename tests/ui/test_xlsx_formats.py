"""XLSX downloads write amounts as numbers in the currency's format, not in "General".

In General format a spreadsheet shows 144 for 144.00 and 1,500 XOF as 1500; finance staff expect
thousands separators and the currency's minor units.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from django.test import Client
from openpyxl import load_workbook

from integrator.models import LedgerConnection
from integrator.services import books
from tests.conftest import make_channel, sale_event


def _sheet(content: bytes, title: str | None = None) -> Any:
    book = load_workbook(io.BytesIO(content))
    return book[title] if title else book.worksheets[0]


def test_list_exports_format_amounts_by_currency(ledger: LedgerConnection, channel: Any, post_event: Any,
                                                 users: Any) -> None:  # fmt: skip
    make_channel(ledger, slug="dakar", currency="XOF")
    post_event("till", sale_event("S-GBP"))  # 144.00 GBP, VAT 24.00
    xof_line = {"sku": "BOGOLAN-1", "name": "Bogolan", "category": "textiles", "quantity": 1,
                "unit_price": "1500", "taxes": []}  # fmt: skip
    post_event("dakar", sale_event("S-XOF", currency="XOF", total="1500", lines=[xof_line]))
    client = Client()
    client.force_login(users["finance_clerk"])
    response = client.get("/transactions/", {"export": "xlsx", "sort": "number"})
    sheet = _sheet(response.content)
    header = [c.value for c in sheet[1]]
    total, tax = header.index("Total") + 1, header.index("Tax") + 1
    rows = {
        sheet.cell(row=r, column=header.index("Document") + 1).value: r for r in range(2, sheet.max_row + 1)
    }
    gbp, xof = rows["S-GBP"], rows["S-XOF"]
    assert sheet.cell(row=gbp, column=total).value == 144
    assert sheet.cell(row=gbp, column=total).number_format == "#,##0.00;-#,##0.00"
    assert sheet.cell(row=gbp, column=tax).number_format == "#,##0.00;-#,##0.00"
    assert sheet.cell(row=xof, column=total).value == 1500
    assert sheet.cell(row=xof, column=total).number_format == "#,##0;-#,##0"


def test_the_books_workbook_formats_its_amounts(
    ledger: LedgerConnection, channel: Any, post_event: Any
) -> None:
    post_event("till", sale_event("S-BOOK"))
    tb = _sheet(books.export_xlsx(ledger), "Trial balance")
    header = [c.value for c in tb[1]]
    for row in range(2, tb.max_row + 1):
        for name in ("debit", "credit", "balance"):
            cell = tb.cell(row=row, column=header.index(name) + 1)
            assert cell.number_format == "#,##0.00;-#,##0.00", (row, name)
    debits = sum(
        Decimal(str(tb.cell(row=r, column=header.index("debit") + 1).value)) for r in range(2, tb.max_row + 1)
    )
    assert debits == Decimal("144.00")
    gl = _sheet(books.export_xlsx(ledger), "General ledger")
    assert {gl.cell(row=r, column=7).number_format for r in range(2, gl.max_row + 1)} == {
        "#,##0.00;-#,##0.00"
    }
