"""Exchange rates without a shell: the Exchange rates screen (list, ECB file import, a manager's
manual rate), the REST API and ``manage.py import_rates``. Each releases what waits for a rate."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from integrator.choices import TransactionStatus
from integrator.models import AuditEvent, ExchangeRate, Transaction
from integrator.security.tokens import create_token
from tests.conftest import make_channel, reference_rates_xml, sale_event
from tests.security.conftest import bearer, verified_client

pytestmark = pytest.mark.django_db


def _ticket(ticket_id: str) -> dict[str, Any]:
    """A Dakar ticket of 11,800 XOF, TVA 18 % included, paid in cash."""
    line = {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "11800",
            "taxes": [{"title": "TVA 18%", "rate": "0.18", "amount": "1800"}]}  # fmt: skip
    return sale_event(ticket_id, currency="XOF", lines=[line], total="11800", inclusive=True,
                      tenders=[{"method": "cash", "amount": "11800"}])  # fmt: skip


def _ecb_file(name: str = "eurofxref-hist.xml") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, reference_rates_xml(date(2026, 11, 16), 10), content_type="text/xml")


@pytest.mark.django_db(transaction=True)  # commits as in production: the release runs on commit
def test_a_clerk_imports_the_ecb_file_on_the_screen_and_the_waiting_ticket_is_booked(
    ledger: Any, post_event: Any, users: Any
) -> None:
    make_channel(ledger, slug="dakar", currency="XOF")
    post_event("dakar", _ticket("DK-1"))
    assert Transaction.objects.get().status == TransactionStatus.NEEDS_RATE
    clerk = Client()
    clerk.force_login(users["finance_clerk"])
    page = clerk.get("/rates/").content.decode()
    assert "XOF" in page and "waiting" in page.lower()

    answer = clerk.post("/rates/import/", {"file": _ecb_file()}, follow=True)
    text = answer.content.decode()
    assert "1 transaction(s) waiting for a rate were booked" in text
    assert Transaction.objects.get().status == TransactionStatus.POSTED
    assert ExchangeRate.objects.filter(base="EUR", quote="GBP").exists()
    # Importing the same file again adds nothing.
    again = clerk.post("/rates/import/", {"file": _ecb_file()}, follow=True).content.decode()
    assert " 0 new" in again
    # A file that is not the ECB's is refused with the reason; nothing changes.
    count = ExchangeRate.objects.count()
    bad = SimpleUploadedFile("rates.csv", b"not,a,rate\nfile", content_type="text/csv")
    refused = clerk.post("/rates/import/", {"file": bad}, follow=True).content.decode()
    assert "Nothing was imported" in refused and ExchangeRate.objects.count() == count
    # Only a finance manager enters a rate by hand.
    assert clerk.post("/rates/manual/", {}).status_code == 403


def test_a_manager_enters_a_rate_with_a_note_audited_and_it_releases_the_sale(
    ledger: Any, post_event: Any, users: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_channel(ledger, slug="zar", currency="ZAR")
    post_event("zar", sale_event("ZA-1", currency="ZAR", total="144.00"))
    manager = verified_client(users["finance_manager"])
    form = {"base": "zar", "quote": "GBP", "day": "2026-11-20", "rate": "0.0431", "note": "Bank's rate"}
    with django_capture_on_commit_callbacks(execute=True):
        answer = manager.post("/rates/manual/", form, follow=True)
    assert "1 ZAR = 0.0431 GBP on 20 Nov 2026 saved" in answer.content.decode()
    assert Transaction.objects.get().status == TransactionStatus.POSTED
    rate = ExchangeRate.objects.get(base="ZAR", quote="GBP")
    assert rate.rate == Decimal("0.0431") and rate.source == "manual"
    assert AuditEvent.objects.filter(action="rate.entered").exists()
    # The same currency twice is refused in words.
    same = manager.post("/rates/manual/", {**form, "quote": "ZAR"}, follow=True).content.decode()
    assert "two different currencies" in same


def test_the_api_lists_and_imports_rates(ledger: Any, users: Any) -> None:
    """A signed-in clerk imports through the API; a token reads the rates but cannot change them."""
    token = create_token(name="books", owner=users["finance_clerk"], scopes=["postings:write"])
    api = Client()
    api.force_login(users["finance_clerk"])
    answer = api.post("/api/v1/exchange-rates/import/", {"file": _ecb_file()})
    assert answer.status_code == 201, answer.content
    assert answer.json()["new"] > 0
    refused = Client().post("/api/v1/exchange-rates/import/", {"file": _ecb_file()}, **bearer(token))
    assert refused.status_code == 403
    listed = Client().get("/api/v1/exchange-rates/", {"base": "EUR"}, **bearer(token)).json()
    assert listed["results"] and all(
        row["base"] == "EUR" and Decimal(row["rate"]) > 0 for row in listed["results"]
    )


def test_import_rates_command(ledger: Any, tmp_path: Path) -> None:
    path = tmp_path / "eurofxref-hist.xml"
    path.write_bytes(reference_rates_xml(date(2026, 11, 16), 3))
    out = io.StringIO()
    call_command("import_rates", str(path), stdout=out)
    assert "new" in out.getvalue() and ExchangeRate.objects.filter(base="EUR").exists()
