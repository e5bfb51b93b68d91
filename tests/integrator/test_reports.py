"""Profit and loss and balance sheet of the built-in ledger, with the previous period beside them,
on screen, as CSV and XLSX downloads, and through the API. Worked figures, by hand:

October 2026 (the comparison period)
  1 Oct  owner's capital paid in:      Dr 1000 Bank 1,000.00      Cr 3000 Owner's capital 1,000.00
  20 Oct sale O-1, kente 120 + VAT 24: Dr 1100 Card 144.00        Cr 4000 120.00, Cr 2100 VAT 24.00
November 2026 (the period)
  20 Nov sale S-1, kente 120 + VAT 24: Dr 1100 Card 144.00        Cr 4000 120.00, Cr 2100 VAT 24.00
  21 Nov sale S-2, basket 50 + VAT 10: Dr 1100 Card 60.00         Cr 4010 50.00,  Cr 2100 VAT 10.00
  22 Nov payout po-1 of S-1 less fee:  Dr 1000 Bank 139.44, Dr 6100 Fees 4.56   Cr 1100 Card 144.00

Profit and loss          November   October   change
  4000 Sales textiles      120.00    120.00      0.00
  4010 Sales homeware       50.00      0.00     50.00
  Total revenue            170.00    120.00     50.00
  6100 Fees                  4.56      0.00      4.56
  Net profit               165.44    120.00     45.44

Balance sheet            30 Nov      31 Oct
  1000 Bank              1,139.44  1,000.00   (1,000 + 139.44)
  1100 Card clearing       204.00    144.00   (144 + 144 + 60 - 144)
  Total assets           1,343.44  1,144.00
  2100 VAT payable          58.00     24.00   (24 + 24 + 10)
  3000 Owner's capital   1,000.00  1,000.00
  Retained earnings        120.00      0.00   (October's profit, before 1 Nov; nothing before 1 Oct)
  Earnings of the period   165.44    120.00
  Total equity           1,285.44  1,120.00
  Liabilities + equity   1,343.44  1,144.00   = total assets: it balances
"""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from openpyxl import load_workbook

from integrator.choices import AccountType
from integrator.models import BookEntry, BookLine, LedgerAccount, LedgerConnection
from integrator.services import reports
from integrator.services.reports import Period
from tests.conftest import sale_event


def _nobody() -> Any:
    """A signed-in person without a role: reads no books."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username="nobody-reports", password="pw-nobody-reports")


NOV = Period(date(2026, 11, 1), date(2026, 11, 30))
OCT = Period(date(2026, 10, 1), date(2026, 10, 31))
D = Decimal


@pytest.fixture
def books(ledger: LedgerConnection, channel: Any, post_event: Any) -> LedgerConnection:
    """The worked example of the module docstring, posted through the webhook and the outbox."""
    LedgerAccount.objects.create(
        connection=ledger, code="3000", name="Owner's capital", type=AccountType.EQUITY
    )
    capital = BookEntry.objects.create(connection=ledger, number=900, reference="opening/capital",
                                       idempotency_key="opening-capital", kind="manual", date=date(2026, 10, 1),
                                       currency="GBP", memo="Owner's capital paid in")  # fmt: skip
    BookLine.objects.create(
        entry=capital, account_code="1000", debit=D("1000.00"), functional_debit=D("1000.00")
    )
    BookLine.objects.create(
        entry=capital, account_code="3000", credit=D("1000.00"), functional_credit=D("1000.00")
    )
    post_event("till", sale_event("O-1", occurred_at="2026-10-20T10:00:00+00:00"))
    post_event("till", sale_event("S-1", occurred_at="2026-11-20T10:00:00+00:00"))
    basket = [{"sku": "BASKET-1", "name": "Basket", "category": "homeware", "quantity": 1, "unit_price": "50.00",
               "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "10.00"}]}]  # fmt: skip
    post_event(
        "till", sale_event("S-2", total="60.00", lines=basket, occurred_at="2026-11-21T10:00:00+00:00")
    )
    post_event("till", {"id": "evt-po-1", "type": "payout.paid", "created_at": "2026-11-22T06:00:00+00:00", "data": {
        "id": "po-1", "occurred_at": "2026-11-22T06:00:00+00:00", "currency": "GBP", "amount": "139.44",
        "items": [{"type": "charge", "amount": "144.00", "fee": "4.56", "net": "139.44", "source_id": "S-1"}]}})  # fmt: skip
    assert BookEntry.objects.filter(connection=ledger).count() == 5
    return ledger


def _lines(section: reports.ReportSection) -> dict[str, tuple[Decimal, Decimal]]:
    return {ln.code or ln.name: (ln.current, ln.previous) for ln in section.lines}


def test_previous_periods() -> None:
    assert NOV.previous() == OCT and NOV.label == "Nov 2026"
    q4 = Period(date(2026, 10, 1), date(2026, 12, 31))
    assert q4.previous() == Period(date(2026, 7, 1), date(2026, 9, 30))
    week = Period(date(2026, 11, 16), date(2026, 11, 22))
    assert week.previous() == Period(date(2026, 11, 9), date(2026, 11, 15))
    assert Period(date(2026, 3, 1), date(2026, 3, 31)).previous() == Period(
        date(2026, 2, 1), date(2026, 2, 28)
    )
    with pytest.raises(ValueError, match="ends"):
        Period(date(2026, 11, 2), date(2026, 11, 1))


def test_profit_and_loss_with_the_previous_month(books: LedgerConnection) -> None:
    (pl,) = reports.profit_and_loss(books, NOV)
    assert pl.currency == "GBP" and pl.compared == OCT
    assert _lines(pl.revenue) == {"4000": (D("120.00"), D("120.00")), "4010": (D("50.00"), D("0.00"))}
    assert (pl.revenue.current, pl.revenue.previous, pl.revenue.change) == (
        D("170.00"),
        D("120.00"),
        D("50.00"),
    )
    assert _lines(pl.expenses) == {"6100": (D("4.56"), D("0.00"))}
    assert (pl.net_profit, pl.previous_net_profit) == (D("165.44"), D("120.00"))
    assert pl.totals() == [("Net profit", D("165.44"), D("120.00"), D("45.44"))]


def test_the_balance_sheet_balances_with_the_earnings(books: LedgerConnection) -> None:
    (bs,) = reports.balance_sheet(books, NOV)
    assert _lines(bs.assets) == {"1000": (D("1139.44"), D("1000.00")), "1100": (D("204.00"), D("144.00"))}
    assert _lines(bs.liabilities) == {"2100": (D("58.00"), D("24.00"))}
    assert _lines(bs.equity) == {
        "3000": (D("1000.00"), D("1000.00")),
        "Retained earnings of earlier periods": (D("120.00"), D("0.00")),
        "Earnings of the period": (D("165.44"), D("120.00")),
    }
    assert (bs.assets.current, bs.assets.previous) == (D("1343.44"), D("1144.00"))
    assert (bs.equity.current, bs.equity.previous) == (D("1285.44"), D("1120.00"))
    assert bs.totals() == [("Liabilities and equity", D("1343.44"), D("1144.00"), D("199.44"))]
    assert bs.balances


def test_lines_on_an_unknown_account_are_shown_and_it_still_balances(books: LedgerConnection) -> None:
    stray = BookEntry.objects.create(connection=books, number=950, reference="manual/stray", idempotency_key="stray",
                                     kind="manual", date=date(2026, 11, 25), currency="GBP")  # fmt: skip
    BookLine.objects.create(entry=stray, account_code="9999", debit=D("12.00"), functional_debit=D("12.00"))
    BookLine.objects.create(entry=stray, account_code="2100", credit=D("12.00"), functional_credit=D("12.00"))
    (bs,) = reports.balance_sheet(books, NOV)
    unknown = next(ln for ln in bs.assets.lines if ln.code == "9999")
    assert unknown.name == "(not in the chart of accounts)" and unknown.current == D("12.00")
    assert bs.balances and bs.assets.current == D("1355.44")


def test_the_screens_show_and_download_them(books: LedgerConnection, users: Any) -> None:
    client = Client()
    client.force_login(users["auditor"])
    query = {"start": "2026-11-01", "end": "2026-11-30"}
    page = client.get(f"/books/{books.pk}/profit-and-loss/", query).content.decode()
    assert '<th class="num">Nov 2026</th><th class="num">Oct 2026</th>' in page
    assert re.search(r"<th colspan=\"2\">Net profit</th><th class=\"num\">165.44</th><th class=\"num\">120.00</th>"
                     r"<th class=\"num\">45.44</th>", page)  # fmt: skip
    sheet = client.get(f"/books/{books.pk}/balance-sheet/", query).content.decode()
    assert "assets = liabilities + equity" in sheet and "1,343.44" in sheet and "1,139.44" in sheet
    reports_page = client.get("/reports/").content.decode()
    assert f'href="/books/{books.pk}/profit-and-loss/"' in reports_page
    assert f'href="/books/{books.pk}/balance-sheet/"' in reports_page

    csv_response = client.get(f"/books/{books.pk}/profit-and-loss/", {**query, "export": "csv"})
    text = b"".join(csv_response.streaming_content).decode().lstrip("\ufeff")
    lines = text.splitlines()
    assert lines[0] == "Currency,Section,Account,Name,Nov 2026,Oct 2026,Change"
    assert "GBP,Revenue,4010,Sales homeware,50.00,0.00,50.00" in lines
    assert lines[-1] == "GBP,,,Net profit,165.44,120.00,45.44"

    xlsx = client.get(f"/books/{books.pk}/balance-sheet/", {**query, "export": "xlsx"})
    ws = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    total = next(r for r in ws.iter_rows(min_row=2) if r[3].value == "Liabilities and equity")
    assert Decimal(str(total[4].value)) == D("1343.44") and total[4].number_format == "#,##0.00;-#,##0.00"

    bad = client.get(f"/books/{books.pk}/balance-sheet/", {"start": "2026-11-30", "end": "2026-11-01"})
    assert bad.status_code == 400 and "The period ends before it starts." in bad.content.decode()


def test_the_api_gives_both_statements(books: LedgerConnection, users: Any) -> None:
    client = Client()
    client.force_login(users["auditor"])
    params = {"connection": str(books.pk), "start": "2026-11-01", "end": "2026-11-30"}
    (pl,) = client.get("/api/v1/reports/profit-and-loss/", params).json()
    assert pl["period"]["label"] == "Nov 2026" and pl["compared"]["label"] == "Oct 2026"
    assert pl["totals"] == [
        {"label": "Net profit", "current": "165.44", "previous": "120.00", "change": "45.44"}
    ]
    revenue = next(s for s in pl["sections"] if s["key"] == "revenue")
    assert revenue["total"] == {"current": "170.00", "previous": "120.00", "change": "50.00"}
    (bs,) = client.get("/api/v1/reports/balance-sheet/", params).json()
    assert bs["balances"] is True
    assert bs["totals"][0]["current"] == "1343.44"
    half = client.get("/api/v1/reports/balance-sheet/", {"connection": str(books.pk), "start": "2026-11-01"})
    assert half.status_code == 400
    index = client.get("/api/v1/reports/").json()
    assert "profit_and_loss" in index and "balance_sheet" in index
    client.force_login(users["nobody"] if "nobody" in users else _nobody())
    assert client.get("/api/v1/reports/profit-and-loss/", params).status_code == 403
