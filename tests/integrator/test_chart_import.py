"""Charts of accounts, tax codes and mapping rules in and out as CSV / XLSX (django-import-export),
with a dry-run preview and row-level errors; and the chart refreshed from the ledger's connector.

Fixtures (tests/fixtures/chart/): ``accounts_500.csv`` is a 500-account chart with exactly three
bad rows: row 57 has an unknown type ("incme"), row 233 a blank name, row 418 repeats the code of
row 12. ``tax_codes.csv`` has one rate written as a percentage. ``rules.csv`` moves a SKU, a category
and the fee account.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from integrator.models import AuditEvent, LedgerAccount, LedgerConnection, MappingSet, TaxCode
from integrator.services import chart
from integrator.services import mapping_changes as svc
from tests.integrator.test_mapping_api import as_user

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "chart"
BAD_ROWS = [57, 233, 418]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def csv_without_rows(name: str, rows: list[int]) -> bytes:
    """The fixture with some data rows (1-based) left out."""
    lines = fixture(name).decode().splitlines(keepends=True)
    return "".join(line for i, line in enumerate(lines) if i not in rows).encode()


def as_xlsx(content: bytes) -> bytes:
    """The same table as an XLSX workbook (numbers stay numbers, as a spreadsheet would keep them)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for line in content.decode().splitlines():
        sheet.append([int(v) if v.isdigit() else v for v in line.split(",")])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_dry_run_of_500_accounts_reports_exactly_the_3_bad_rows_and_imports_nothing(
    ledger: LedgerConnection, users: Any
) -> None:
    before = set(LedgerAccount.objects.values_list("pk", "code", "name"))
    report = chart.import_chart(
        ledger, content=fixture("accounts_500.csv"), fmt="csv", actor=users["integration_admin"]
    )
    assert report.dry_run and not report.imported and report.total_rows == 500
    assert [e.row for e in report.errors] == BAD_ROWS
    by_row = {e.row: " ".join(e.messages) for e in report.errors}
    assert "'incme' is not a valid choice" in by_row[57]
    assert "name" in by_row[233] and "blank" in by_row[233]
    assert "code 5077 appears again (first on row 12)" in by_row[418]
    assert report.new == 497 and report.updated == 0
    assert set(LedgerAccount.objects.values_list("pk", "code", "name")) == before
    assert not AuditEvent.objects.filter(action__startswith="chart.").exists()


def test_a_real_import_with_bad_rows_imports_nothing_either(ledger: LedgerConnection, users: Any) -> None:
    count = LedgerAccount.objects.count()
    report = chart.import_chart(
        ledger,
        content=fixture("accounts_500.csv"),
        fmt="csv",
        dry_run=False,
        actor=users["integration_admin"],
    )
    assert not report.imported and [e.row for e in report.errors] == BAD_ROWS
    assert LedgerAccount.objects.count() == count


def test_a_clean_chart_imports_in_xlsx_is_audited_and_re_imports_unchanged(
    ledger: LedgerConnection, users: Any
) -> None:
    admin = users["integration_admin"]
    clean = as_xlsx(csv_without_rows("accounts_500.csv", BAD_ROWS))
    preview = chart.import_chart(ledger, content=clean, fmt="xlsx", actor=admin)
    assert preview.ok and preview.new == 497 and LedgerAccount.objects.count() == 15
    report = chart.import_chart(ledger, content=clean, fmt="xlsx", dry_run=False, actor=admin)
    assert report.imported and report.new == 497
    assert LedgerAccount.objects.filter(connection=ledger).count() == 15 + 497
    income = LedgerAccount.objects.get(connection=ledger, code="5035")  # "Income" -> revenue
    assert (income.type, income.remote_id, income.active) == ("revenue", "QB-1005", True)
    assert LedgerAccount.objects.get(connection=ledger, code="5000").active is False
    row = AuditEvent.objects.get(action="chart.ledgeraccounts_imported")
    assert row.actor == admin and row.after["new"] == 497 and row.object_id == str(ledger.pk)
    exported = chart.export_chart(ledger, what="accounts", fmt="csv")
    assert exported.decode().splitlines()[0] == "connection,code,name,type,remote_id,active"
    again = chart.import_chart(ledger, content=exported, fmt="csv", dry_run=False, actor=admin)
    assert again.ok and (again.new, again.updated, again.unchanged) == (0, 0, 512)
    xlsx = chart.export_chart(ledger, what="accounts", fmt="xlsx")
    assert xlsx[:2] == b"PK"  # a zip container


def test_tax_codes_refuse_a_percentage_written_as_a_whole_number(
    ledger: LedgerConnection, users: Any
) -> None:
    report = chart.import_chart(
        ledger,
        content=fixture("tax_codes.csv"),
        fmt="csv",
        what="tax_codes",
        dry_run=False,
        actor=users["integration_admin"],
    )
    assert [(e.row, e.messages) for e in report.errors] == [
        (4, ("rate: rate 15 must be a fraction: 0.20 for 20 %",))
    ]
    assert not TaxCode.objects.filter(code="VAT15").exists()
    good = csv_without_rows("tax_codes.csv", [4])
    assert chart.import_chart(
        ledger, content=good, fmt="csv", what="tax_codes", dry_run=False, actor=users["integration_admin"]
    ).imported
    assert TaxCode.objects.get(connection=ledger, code="NHIL").rate == Decimal("0.025")


def test_only_chart_editors_import_and_unreadable_files_are_refused(
    ledger: LedgerConnection, users: Any
) -> None:
    from django.core.exceptions import PermissionDenied

    for role in ("finance_clerk", "auditor"):
        with pytest.raises(PermissionDenied):
            chart.import_chart(ledger, content=fixture("accounts_500.csv"), fmt="csv", actor=users[role])
    with pytest.raises(chart.ChartFileError):
        chart.import_chart(
            ledger, content=b"\x00\x01not a workbook", fmt="xlsx", actor=users["integration_admin"]
        )


def test_rules_import_into_a_draft_change_with_row_errors(channel: Any, users: Any) -> None:
    mset = MappingSet.objects.get(channel=channel)
    clerk = users["finance_clerk"]
    change = svc.draft_change(mset, actor=clerk, title="Imported rules")
    bad = fixture("rules.csv") + b"tip,sku,X,4000,,\nrevenue,sku,Y,9999,,\n"
    report = chart.import_rules_into_change(change, content=bad, fmt="csv", dry_run=False, actor=clerk)
    assert [e.row for e in report.errors] == [4, 5] and change.items.count() == 0
    assert "Tips rules match on: default." in report.errors[0].messages[0]
    assert "no ledger account with code '9999'" in report.errors[1].messages[0]
    report = chart.import_rules_into_change(
        change, content=fixture("rules.csv"), fmt="csv", dry_run=False, actor=clerk
    )
    assert report.imported and report.new == 3
    items = {
        (i.action, i.kind, i.match_value, i.account.code) for i in change.items.select_related("account")
    }
    assert items == {
        ("add", "revenue", "KENTE-12", "4010"),
        ("edit", "revenue", "textiles", "4010"),
        ("edit", "fee", "", "6200"),
    }
    assert AuditEvent.objects.filter(
        action="mapping_change.items_imported", object_id=str(change.pk)
    ).exists()
    with pytest.raises(Exception, match="author"):
        chart.import_rules_into_change(
            change, content=fixture("rules.csv"), fmt="csv", actor=users["finance_manager"]
        )
    exported = chart.export_rules(mset.versions.get(number=1), fmt="csv").decode()
    assert exported.splitlines()[0] == "version,kind,match_field,match_value,account,tax_code,item_ref"
    assert "1,revenue,sku,BASKET-1,4010,,BSK" in exported


def test_chart_screen_previews_errors_and_confirms_with_the_same_file(
    ledger: LedgerConnection, users: Any
) -> None:
    client = as_user(users["integration_admin"])
    with (FIXTURES / "accounts_500.csv").open("rb") as f:
        page = client.post(f"/mappings/chart/{ledger.pk}/", {"file": f, "what": "accounts"})
    html = page.content.decode()
    assert page.status_code == 400 and 'data-errors="3"' in html
    assert [f'data-error-row="{n}"' in html for n in BAD_ROWS] == [True, True, True]
    assert "Nothing was imported" in html and LedgerAccount.objects.count() == 15
    clean = io.BytesIO(csv_without_rows("accounts_500.csv", BAD_ROWS))
    clean.name = "chart.csv"
    preview = client.post(
        f"/mappings/chart/{ledger.pk}/", {"file": clean, "what": "accounts"}
    ).content.decode()
    assert "Import 497 new and 0 changed rows" in preview and LedgerAccount.objects.count() == 15
    carry = preview.split('name="content" value="')[1].split('"')[0]
    done = client.post(
        f"/mappings/chart/{ledger.pk}/",
        {"content": carry, "filename": "chart.csv", "what": "accounts", "confirm": "on"},
    )
    assert done.status_code == 200 and LedgerAccount.objects.count() == 512
    export = client.get(f"/mappings/chart/{ledger.pk}/export/accounts.xlsx")
    assert export.status_code == 200 and export["Content-Type"].startswith("application/vnd.openxmlformats")


def test_admin_import_is_a_dry_run_with_row_errors(ledger: LedgerConnection, users: Any) -> None:
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    client = as_user(root)
    content = (
        b"connection,code,name,type\n" + f"{ledger.pk},7001,Good,asset\n{ledger.pk},7002,,asset\n".encode()
    )
    upload = io.BytesIO(content)
    upload.name = "accounts.csv"
    page = client.post(
        "/admin/integrator/ledgeraccount/import/", {"import_file": upload, "format": "0", "resource": "0"}
    )
    html = page.content.decode()
    assert page.status_code == 200 and "This field cannot be blank." in html
    assert not LedgerAccount.objects.filter(code__in=["7001", "7002"]).exists()
    listing = client.get("/admin/integrator/ledgerconnection/").content.decode()
    assert "Test books" in listing
    detail = client.get(f"/admin/integrator/ledgerconnection/{ledger.pk}/change/").content.decode()
    assert "credentials" not in detail


def test_refresh_from_the_builtin_ledger_changes_nothing(ledger: LedgerConnection, users: Any) -> None:
    before = list(LedgerAccount.objects.values_list("code", "name", "type", "remote_id"))
    out = chart.refresh_chart(ledger, actor=users["integration_admin"])
    assert (out.created, out.updated, out.deactivated) == ([], [], [])
    assert list(LedgerAccount.objects.values_list("code", "name", "type", "remote_id")) == before


def test_refresh_from_quickbooks_upserts_accounts_and_tax_codes(db: Any, users: Any) -> None:
    sandbox_module = pytest.importorskip("connectors.sandbox.quickbooks")
    with sandbox_module.QuickBooksSandbox() as sandbox:
        connection = LedgerConnection.objects.create(
            platform="quickbooks",
            name="QBO",
            functional_currency="USD",
            base_url=sandbox.url,
            credentials=sandbox.credentials(),
            settings=sandbox.ledger_settings(),
        )
        stale = LedgerAccount.objects.create(connection=connection, code="9999", name="Gone", type="expense")
        LedgerAccount.objects.create(connection=connection, code="4000", name="Old name", type="revenue")
        out = chart.refresh_chart(connection, actor=users["integration_admin"])
    accounts = {a.code: a for a in LedgerAccount.objects.filter(connection=connection)}
    assert accounts["4000"].name != "Old name" and accounts["4000"].remote_id
    assert "account 4000" in out.updated and "account 9999" in out.deactivated
    assert {"1000", "1210", "2200", "6100"} <= set(accounts) and accounts["9999"].active is False
    stale.refresh_from_db()
    assert stale.active is False
    assert TaxCode.objects.filter(connection=connection).exists() and out.items
    row = AuditEvent.objects.get(action="chart.refreshed")
    assert row.after["deactivated"] == ["account 9999"]
