"""List screens: the shared filters, sorting, pagination, CSV/XLSX exports and list actions."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from openpyxl import load_workbook

from integrator.choices import PostingState, TransactionStatus
from integrator.models import AuditEvent, Posting, Transaction
from tests.api import factories as f


def _docs(html: str) -> list[str]:
    """Document numbers of a transaction list, in order."""
    return re.findall(r'class="row-link" href="/transactions/[0-9a-f-]+/">\w+ ([^<]+)</a>', html)


@pytest.fixture
def mixed(api_env: Any) -> dict[str, list[Transaction]]:
    posted = f.make_transactions(api_env.channel, 3)
    held = f.make_transactions(
        api_env.channel, 2, status=TransactionStatus.NEEDS_MAPPING, total=Decimal("12.5")
    )
    return {"posted": posted, "held": held}


def test_filters_are_the_api_filters(client: Client, users: Any, mixed: dict[str, Any]) -> None:
    client.force_login(users["auditor"])
    html = client.get("/transactions/", {"status": "needs_mapping"}).content.decode()
    assert sorted(_docs(html)) == sorted(t.number for t in mixed["held"])
    assert 'aria-current="page">Needs mapping<span class="n">2</span>' in html
    api = client.get("/api/v1/transactions/", {"status": "needs_mapping"}).json()["results"]
    assert sorted(r["number"] for r in api) == sorted(_docs(html))
    by_amount = client.get("/transactions/", {"q": "12.50"}).content.decode()
    assert sorted(_docs(by_amount)) == sorted(t.number for t in mixed["held"])
    none = client.get("/transactions/", {"channel": "till", "kind": "refund"}).content.decode()
    assert "No transactions match these filters." in none and "Clear filters" in none


def test_sorting_is_whitelisted_and_toggles(client: Client, users: Any, mixed: dict[str, Any]) -> None:
    client.force_login(users["auditor"])
    ascending = _docs(client.get("/transactions/", {"sort": "total"}).content.decode())
    assert ascending[:2] == sorted(t.number for t in mixed["held"])[:2] or set(ascending[:2]) == {
        t.number for t in mixed["held"]}  # fmt: skip
    descending = client.get("/transactions/", {"sort": "-total"}).content.decode()
    assert set(_docs(descending)[-2:]) == {t.number for t in mixed["held"]}
    assert 'aria-sort="descending"' in descending and "sort=total" in descending
    ignored = client.get("/transactions/", {"sort": "document__password"})
    assert ignored.status_code == 200 and len(_docs(ignored.content.decode())) == 5


def test_pagination_keeps_the_filters(client: Client, users: Any, mixed: dict[str, Any]) -> None:
    client.force_login(users["auditor"])
    first = client.get("/transactions/", {"status": "posted", "per_page": 2}).content.decode()
    assert "1\u20132 of 3 transactions" in first and "Page 1 of 2" in first
    assert "status=posted&amp;per_page=2&amp;page=2" in first
    second = client.get("/transactions/", {"status": "posted", "per_page": 2, "page": 2}).content.decode()
    assert len(_docs(second)) == 1 and "3\u20133 of 3" in second


def test_csv_export_has_every_filtered_row_with_exact_amounts(
    client: Client, users: Any, mixed: dict[str, Any]
) -> None:
    client.force_login(users["auditor"])
    response = client.get("/transactions/", {"status": "needs_mapping", "export": "csv", "per_page": 1})
    assert response["Content-Type"].startswith("text/csv")
    assert re.match(r'attachment; filename="transactions-\d{8}-\d{4}\.csv"', response["Content-Disposition"])
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2  # every filtered row, not one page
    assert {r["Document"] for r in rows} == {t.number for t in mixed["held"]}
    assert {r["Total"] for r in rows} == {"12.5000"} and {r["Status"] for r in rows} == {"needs_mapping"}
    assert rows[0]["Why"] == "no revenue account for SKU X"


def test_xlsx_export_keeps_numbers_as_numbers(client: Client, users: Any, api_env: Any) -> None:
    dead = f.make_postings(api_env.channel, 2, state=PostingState.DEAD)
    f.make_postings(api_env.channel, 1)
    client.force_login(users["auditor"])
    response = client.get("/postings/", {"state": "dead", "export": "xlsx"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header[:4] == ("Document", "Ledger", "Date", "State")
    assert sorted(r[0] for r in rows) == sorted(p.entry.reference for p in dead)
    assert all(r[3] == "dead" and r[4] == 1 for r in rows)


def test_exports_neutralise_spreadsheet_formulas(client: Client, users: Any, api_env: Any) -> None:
    txn = f.make_transactions(api_env.channel, 1)[0]
    Transaction.objects.filter(pk=txn.pk).update(number='=HYPERLINK("http://evil","x")')
    client.force_login(users["auditor"])
    text = b"".join(client.get("/transactions/?export=csv").streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK" in text


def test_journal_inbox_and_jobs_lists(client: Client, users: Any, api_env: Any) -> None:
    postings = f.make_postings(api_env.channel, 2)
    f.make_jobs(2)
    client.force_login(users["auditor"])
    journal = client.get("/journal/", {"q": postings[0].entry.reference}).content.decode()
    assert postings[0].entry.reference in journal and postings[1].entry.reference not in journal
    assert "144.00" in journal and "Posted" in journal
    inbox = client.get("/inbox/", {"status": "processed"}).content.decode()
    assert "sale.completed" in inbox and f"→ Sale {postings[0].entry.transaction.number}" in inbox
    jobs = client.get("/jobs/").content.decode()
    assert "Back-fill" in jobs and "2 jobs" in jobs


def test_replay_from_the_list_needs_permission_and_is_audited(
    client: Client, users: Any, api_env: Any
) -> None:
    dead = f.make_postings(api_env.channel, 1, state=PostingState.DEAD)[0]
    client.force_login(users["auditor"])
    listing = client.get("/postings/", {"state": "dead"}).content.decode()
    assert "Replay</button>" not in listing
    assert client.post(f"/postings/{dead.pk}/replay/").status_code == 403
    client.force_login(users["finance_clerk"])
    listing = client.get("/postings/", {"state": "dead"}).content.decode()
    assert "Replay</button>" in listing
    response = client.post(f"/postings/{dead.pk}/replay/", {"next": "/postings/?state=dead"}, follow=True)
    assert response.redirect_chain[-1][0] == "/postings/?state=dead"
    assert "checked for it before any re-send" in response.content.decode()
    assert Posting.objects.get(pk=dead.pk).state == PostingState.UNCERTAIN
    assert AuditEvent.objects.filter(action="posting.replayed", object_id=str(dead.pk)).exists()


def test_replay_never_redirects_off_site(client: Client, users: Any, api_env: Any) -> None:
    dead = f.make_postings(api_env.channel, 1, state=PostingState.DEAD)[0]
    client.force_login(users["finance_clerk"])
    response = client.post(f"/postings/{dead.pk}/replay/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/postings/{dead.pk}/"


def test_bad_filter_values_are_explained_not_crashed(
    client: Client, users: Any, mixed: dict[str, Any]
) -> None:
    client.force_login(users["auditor"])
    html = client.get(
        "/transactions/", {"status": "lost", "business_date_after": "yesterday"}
    ).content.decode()
    assert "Some filters were not understood" in html and "No transactions match" in html
