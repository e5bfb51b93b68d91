"""Prysm Z report imports through the service, the screens, the API and the command: a file
imported twice books once, a malformed row is reported by its number and the file imports
nothing, the column mapping is saved per till, every import is audited, and the screens carry no
inline script or style."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from connectors.sandbox.prysm import PrysmTill
from integrator.choices import PostingMode, RuleKind, TransactionStatus
from integrator.models import (
    AuditEvent,
    Channel,
    InboundEvent,
    LedgerAccount,
    MappingSet,
    TaxCode,
    Transaction,
)
from integrator.services import z_reports as svc
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from tests.conftest import standard_rules
from tests.security.conftest import bearer, verified_client

D = Decimal
DAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _rules(ledger: Any) -> list[dict[str, Any]]:
    for code, name, kind in (
        ("1120", "Orange Money clearing", "asset"),
        ("6300", "Cash over/short", "expense"),
    ):
        LedgerAccount.objects.get_or_create(
            connection=ledger, code=code, defaults={"name": name, "type": kind}
        )
    tva, _ = TaxCode.objects.get_or_create(
        connection=ledger, code="TVA18", defaults={"name": "TVA", "rate": D("0.18")}
    )
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=ledger)}
    return [
        *standard_rules(ledger),
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "orange_money", "account": a["1120"]},
        {"kind": RuleKind.TAX, "match_field": "tax", "match_value": "TVA 18%", "account": a["2100"], "tax_code": tva},
        {"kind": RuleKind.CASH_OVER_SHORT, "match_field": "default", "match_value": "", "account": a["6300"]},
    ]  # fmt: skip


def _till_channel(ledger: Any, slug: str = "dakar-z", *, mapped: bool = True) -> Channel:
    channel = create_channel(
        platform="prysm", name=f"Prysm {slug}", slug=slug, currency="XOF", ledger_connection=ledger,
        webhook_secrets=["prysm-secret"], posting_mode=PostingMode.DAILY_SUMMARY, timezone="Africa/Dakar",
        settings={"location": "Dakar Plateau", **({"z_report": PrysmTill.column_mapping()} if mapped else {})},
    )  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=_rules(ledger)))
    return channel


COUNTED = D(28000)


def _z_file(fmt: str = "csv", number: str = "42", counted: Decimal = COUNTED) -> bytes:
    """Caisse 1's day (see tests/connectors/test_prysm.py): sales 21,500, a 3,000 refund, 500 short."""
    till = PrysmTill(secret="prysm-secret")
    till.open(D(20000))
    a = till.sell(AT, [("textiles", "WAX-6", "Pagne", 1, D(15500)), ("homeware", "BOL", "Bol", 2, D(3000))],
                  [("orange_money", D(10000)), ("cash", D(15000))])  # fmt: skip
    till.refund(a, AT.replace(hour=12), 1, 1)
    till.count(AT.replace(hour=19), counted)
    return till.z_report_csv(DAY, number) if fmt == "csv" else till.z_report_xlsx(DAY, number)


MALFORMED = (
    "N° Z,Date,Caisse,Rubrique,Libellé,Taux TVA,TVA,Montant\n"
    "42,20/11/2026,Caisse 1,Ventes,textiles,18,2 364,15 500\n"
    '42,20/11/2026,Caisse 1,Ventes,homeware,18,915,"6 000,5"\n'  # row 2: francs have no decimals
    "42,20/11/2026,Caisse 1,Paiement,Espèces,,,21 500\n"
).encode()


@pytest.fixture
def till(ledger: Any) -> Channel:
    """A Prysm till (XOF, daily summary) whose Z report columns are mapped."""
    return _till_channel(ledger)


def test_a_file_imported_twice_books_once(
    till: Channel, users: dict[str, Any], django_capture_on_commit_callbacks: Any, reference_rates: Any
) -> None:
    clerk = users["finance_clerk"]
    preview = svc.preview_z_report(till, _z_file(), filename="z-42.csv", actor=clerk)
    assert preview.ok and (preview.new, preview.already) == (1, 0) and not preview.imported
    assert not InboundEvent.objects.exists()  # a preview stores nothing
    with django_capture_on_commit_callbacks(execute=True):
        first = svc.import_z_report(till, _z_file(), filename="z-42.csv", actor=clerk)
    assert first.imported and first.new == 1
    with django_capture_on_commit_callbacks(execute=True):
        again = svc.import_z_report(
            till, _z_file("xlsx"), filename="z-42.xlsx", actor=clerk
        )  # same report, as XLSX
    assert again.imported and (again.new, again.already) == (0, 1)
    event = InboundEvent.objects.get()
    assert (event.source, event.event_type, event.dedupe_key) == (
        "file",
        "z_report.imported",
        "zreport:Caisse 1:2026-11-20:42",
    )
    assert event.deliveries == 2
    kinds = sorted(Transaction.objects.values_list("kind", flat=True))
    assert kinds == ["cash_count", "refund", "sale"]  # booked once
    sale = Transaction.objects.get(kind="sale")
    assert (sale.total, sale.business_date, sale.status) == (D(21500), DAY, TransactionStatus.SUMMARISED)
    assert Transaction.objects.get(kind="refund").sale_id == sale.pk
    audits = AuditEvent.objects.filter(action="z_report.imported").order_by("id")
    assert [a.after["new"] for a in audits] == [["zreport:Caisse 1:2026-11-20:42"], []]
    assert audits[1].after["already_imported"] == ["zreport:Caisse 1:2026-11-20:42"]


def test_a_malformed_row_is_reported_by_number_and_the_file_imports_nothing(
    till: Channel, users: dict[str, Any]
) -> None:
    result = svc.import_z_report(till, MALFORMED, filename="bad.csv", actor=users["finance_clerk"])
    assert not result.ok and not result.imported and result.reports == []
    [error] = result.errors
    assert (error.row, error.line) == (2, 3)
    assert error.messages == ("Montant: 6000.5 has more decimals than XOF allows",)
    assert not InboundEvent.objects.exists() and not Transaction.objects.exists()
    assert not AuditEvent.objects.filter(action="z_report.imported").exists()


def test_a_report_imported_before_with_other_figures_is_flagged_not_rebooked(
    till: Channel, users: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        svc.import_z_report(till, _z_file(), filename="z-42.csv", actor=users["finance_clerk"])
    changed = svc.preview_z_report(
        till, _z_file(counted=D(28500)), filename="z-42b.csv", actor=users["finance_clerk"]
    )
    assert [r.status for r in changed.reports] == ["changed"]
    assert "imported before with other figures; the earlier import stands" in changed.warnings[0]


def test_a_day_the_till_already_sent_by_webhook_is_refused(
    till: Channel, users: dict[str, Any], post_event: Any
) -> None:
    from tests.conftest import sale_event

    event = sale_event("T-9", currency="XOF", total="15500", inclusive=True, occurred_at="2026-11-20T10:00:00+00:00",
                       lines=[{"sku": "WAX-6", "name": "Pagne", "category": "textiles", "quantity": 1, "unit_price": "15500",
                               "taxes": [{"title": "TVA 18%", "rate": "0.18", "amount": "2364"}]}],
                       register="Caisse 1")  # fmt: skip
    assert post_event("dakar-z", event, secret="prysm-secret").status_code == 202
    result = svc.preview_z_report(till, _z_file(), filename="z-42.csv", actor=users["finance_clerk"])
    assert not result.ok
    assert "already sent that day's tickets from Caisse 1 by webhook" in result.errors[0].messages[0]


def test_who_may_import_and_map(till: Channel, users: dict[str, Any]) -> None:
    for role in ("auditor", "integration_admin"):
        with pytest.raises(PermissionDenied):
            svc.import_z_report(till, _z_file(), filename="z.csv", actor=users[role])
    svc.save_mapping(till, columns={"report_number": "No", "date": "Day", "section": "Kind", "amount": "Amt"},
                     actor=users["integration_admin"])  # fmt: skip
    with pytest.raises(PermissionDenied):
        svc.save_mapping(till, columns={"report_number": "No"}, actor=users["auditor"])
    with pytest.raises(svc.ZReportRejected, match="no column is given for date"):
        svc.save_mapping(
            till, columns={"report_number": "No", "section": "K", "amount": "A"}, actor=users["finance_clerk"]
        )
    saved = AuditEvent.objects.get(action="channel.z_report_mapping_saved")
    assert saved.after["z_report"]["columns"]["date"] == "Day"
    assert saved.before["z_report"]["columns"]["date"] == "Date"


def test_only_prysm_tills_import_z_reports(ledger: Any, users: dict[str, Any]) -> None:
    from tests.conftest import make_channel

    shop = make_channel(ledger, slug="web")
    with pytest.raises(svc.ZReportRejected, match="only Prysm tills"):
        svc.preview_z_report(shop, _z_file(), filename="z.csv", actor=users["finance_clerk"])


# -- screens -------------------------------------------------------------------------------------


def _no_inline_script_or_style(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\sstyle=", html), "style attribute"
    assert not re.search(r"<style", html), "<style> element"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_screens_upload_preview_confirm_and_result(
    till: Channel, users: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(users["finance_clerk"])
    url = reverse("z-report-import", args=[till.pk])
    page = client.get(url)
    assert page.status_code == 200
    _no_inline_script_or_style(page.content.decode())
    upload = io.BytesIO(_z_file())
    upload.name = "z-42.csv"
    preview = client.post(url, {"file": upload})
    html = preview.content.decode()
    assert preview.status_code == 200 and 'data-new="1"' in html and 'data-report="42"' in html
    assert "counted 28000, expected 28500 (short -500)" in html
    _no_inline_script_or_style(html)
    carried = re.search(r'name="content" value="([^"]+)"', html)
    assert carried is not None and not InboundEvent.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"content": carried.group(1), "filename": "z-42.csv", "confirm": "on"})
    assert done.status_code == 200 and "Imported 1 report(s)" in done.content.decode()
    assert Transaction.objects.filter(kind="sale").count() == 1
    index = client.get(reverse("z-reports"))
    assert index.status_code == 200 and "Prysm dakar-z" in index.content.decode()
    _no_inline_script_or_style(index.content.decode())


def test_screen_shows_row_errors_and_imports_nothing(till: Channel, users: dict[str, Any]) -> None:
    client = Client()
    client.force_login(users["finance_clerk"])
    upload = io.BytesIO(MALFORMED)
    upload.name = "bad.csv"
    response = client.post(reverse("z-report-import", args=[till.pk]), {"file": upload})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-error-row="2"' in html and "6000.5 has more decimals than XOF allows" in html
    assert "Nothing was imported" in html and 'name="confirm"' not in html
    assert not InboundEvent.objects.exists()


def test_screen_saves_the_column_mapping(till: Channel, users: dict[str, Any]) -> None:
    client = verified_client(users["integration_admin"])
    url = reverse("z-report-columns", args=[till.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'value="N° Z"' in page.content.decode()
    _no_inline_script_or_style(page.content.decode())
    form = {f"col_{k}": v for k, v in PrysmTill.column_mapping()["columns"].items()}
    form.update(col_amount="Total TTC", date_format="%d/%m/%Y", decimal_comma="on", tax_label="TVA")
    saved = client.post(url, form)
    assert saved.status_code == 302
    till.refresh_from_db()
    assert till.settings["z_report"]["columns"]["amount"] == "Total TTC"
    assert till.settings["location"] == "Dakar Plateau"  # the rest of the settings untouched
    auditor = verified_client(users["auditor"])
    assert auditor.post(url, form).status_code == 403


# -- API and command -----------------------------------------------------------------------------


def test_api_preview_import_twice_errors_and_columns(
    till: Channel, users: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(users["finance_clerk"])

    def post(content: bytes, name: str, preview: bool = False) -> Any:
        upload = io.BytesIO(content)
        upload.name = name
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/v1/z-reports/", {"channel": str(till.pk), "file": upload, "preview": preview}
            )

    preview = post(_z_file(), "z-42.csv", preview=True)
    assert preview.status_code == 200 and preview.json()["new"] == 1 and preview.json()["imported"] is False
    made = post(_z_file(), "z-42.csv")
    assert made.status_code == 201 and made.json()["reports"][0]["tenders"] == {
        "cash": "11500",
        "orange_money": "10000",
    }
    again = post(_z_file(), "z-42.csv")
    assert again.status_code == 200 and (again.json()["new"], again.json()["already_imported"]) == (0, 1)
    bad = post(MALFORMED, "bad.csv")
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"row": 2, "line": 3, "messages": ["Montant: 6000.5 has more decimals than XOF allows"]}
    ]
    listed = client.get("/api/v1/z-reports/", {"channel": str(till.pk)}).json()
    [row] = listed["results"]
    assert row["report"]["number"] == "42" and len(row["transactions"]) == 3
    columns = client.get("/api/v1/z-reports/columns/", {"channel": str(till.pk)}).json()
    assert columns["columns"]["amount"] == "Montant" and "report_number" in columns["fields"]
    changed = client.post("/api/v1/z-reports/columns/", {"channel": str(till.pk), "columns": {**columns["columns"], "amount": "TTC"},
                                                        "date_format": "%d/%m/%Y", "decimal_comma": True, "tax_label": "TVA"},
                          content_type="application/json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["columns"]["amount"] == "TTC"


def test_api_refuses_tokens_without_the_write_scope_and_readers(
    till: Channel, users: dict[str, Any], tokens: Any
) -> None:
    upload = io.BytesIO(_z_file())
    upload.name = "z.csv"
    refused = Client().post(
        "/api/v1/z-reports/", {"channel": str(till.pk), "file": upload}, **bearer(tokens["w"])
    )
    assert refused.status_code == 403
    auditor = verified_client(users["auditor"])
    assert auditor.post("/api/v1/z-reports/", {"channel": str(till.pk)}).status_code == 403
    assert not InboundEvent.objects.exists()


def test_command_preview_import_and_malformed(
    till: Channel, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    good = tmp_path / "z-42.csv"
    good.write_bytes(_z_file())
    out = io.StringIO()
    call_command("import_z_report", "dakar-z", str(good), "--preview", stdout=out)
    assert (
        "would import 1 report(s); 0 already imported" in out.getvalue() and not InboundEvent.objects.exists()
    )
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_z_report", "dakar-z", str(good), stdout=out)
        call_command("import_z_report", "dakar-z", str(good), stdout=out)
    assert "imported 0 report(s); 1 already imported" in out.getvalue()
    assert InboundEvent.objects.count() == 1 and Transaction.objects.filter(kind="sale").count() == 1
    assert (
        AuditEvent.objects.filter(action="z_report.imported", actor_label="manage.py import_z_report").count()
        == 2
    )
    bad = tmp_path / "bad.csv"
    bad.write_bytes(MALFORMED)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_z_report", "dakar-z", str(bad), stdout=err)
    assert "row 2 (line 3): Montant: 6000.5 has more decimals than XOF allows" in err.getvalue()
    assert InboundEvent.objects.count() == 1


@pytest.fixture
def tokens(users: dict[str, Any]) -> Any:
    """A token with postings:write only, owned by a service user in the finance clerk group."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from integrator.security.tokens import create_token

    owner = get_user_model().objects.create_user(username="api-client", password="unused-pw-0")
    owner.groups.add(Group.objects.get(name="finance_clerk"))
    return {"w": create_token(name="Retry bot", owner=owner, scopes=["postings:write"], actor=owner)}
