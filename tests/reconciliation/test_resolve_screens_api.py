"""Resolving exceptions (service, screen, API), the screens, the API and ``manage.py reconcile``."""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from integrator.models import AuditEvent, Transaction
from reconciliation.choices import ExceptionKind, ExceptionStatus, RunStatus
from reconciliation.models import (
    BankAccount,
    BankStatement,
    Match,
    ReconciliationException,
    ReconciliationRun,
)
from reconciliation.services.resolution import ResolutionRefused, resolve_exception
from reconciliation.services.runs import STEPS, run_reconciliation
from reconciliation.services.statements import import_statement
from tests.conftest import make_channel, sale_event
from tests.reconciliation.conftest import bank_file, payout_event

DAY = date(2026, 11, 20)
UNMAPPED = [
    {"sku": "POT-1", "name": "Clay pot", "category": "homeware", "quantity": 1, "unit_price": "144.00"}
]


@pytest.fixture
def unposted(ledger: Any, post_event: Any) -> ReconciliationException:
    """One open exception: a sale waiting for a mapping on 20 Nov."""
    make_channel(ledger, with_default_revenue=False)
    post_event("till", sale_event("S-UNMAPPED", lines=UNMAPPED))
    run_reconciliation(DAY)
    return ReconciliationException.objects.get()


# -- resolving ------------------------------------------------------------------------------------


def test_resolve_needs_a_note_and_is_audited(unposted: ReconciliationException, users: Any) -> None:
    clerk = users["finance_clerk"]
    with pytest.raises(ResolutionRefused, match="a note is required"):
        resolve_exception(unposted, note="   ", actor=clerk)
    done = resolve_exception(unposted, note="Mapped homeware; re-posted on 21 Nov.", actor=clerk)
    assert (done.status, done.resolved_by, done.resolution_note) == (
        ExceptionStatus.RESOLVED,
        clerk,
        "Mapped homeware; re-posted on 21 Nov.",
    )
    row = AuditEvent.objects.get(action="reconciliation_exception.resolved")
    assert row.actor == clerk and row.object_id == str(unposted.pk)
    assert row.before["status"] == "open" and row.after["status"] == "resolved"
    assert row.after["resolution_note"] == "Mapped homeware; re-posted on 21 Nov."
    with pytest.raises(ResolutionRefused, match="already resolved"):
        resolve_exception(done, note="again", actor=clerk)


def test_write_off_is_refused_for_a_clerk_and_allowed_for_a_manager(
    unposted: ReconciliationException, users: Any
) -> None:
    with pytest.raises(PermissionDenied, match="Only a finance manager"):
        resolve_exception(unposted, note="small difference", write_off=True, actor=users["finance_clerk"])
    with pytest.raises(PermissionDenied, match="may not resolve"):
        resolve_exception(unposted, note="looks fine", actor=users["auditor"])
    unposted.refresh_from_db()
    assert unposted.status == ExceptionStatus.OPEN
    done = resolve_exception(
        unposted, note="Below materiality", write_off=True, actor=users["finance_manager"]
    )
    assert done.status == ExceptionStatus.WRITTEN_OFF
    assert AuditEvent.objects.filter(
        action="reconciliation_exception.written_off", actor=users["finance_manager"]
    ).exists()


def test_a_person_s_resolution_stands_on_a_rerun(unposted: ReconciliationException, users: Any) -> None:
    resolve_exception(unposted, note="Known; fixing the mapping next week.", actor=users["finance_clerk"])
    run = run_reconciliation(DAY)
    unposted.refresh_from_db()
    assert unposted.status == ExceptionStatus.RESOLVED and ReconciliationException.objects.count() == 1
    assert run.exceptions_new == 0


def test_api_resolve_action(client: Client, unposted: ReconciliationException, users: Any) -> None:
    url = f"/api/v1/reconciliation-exceptions/{unposted.pk}/resolve/"
    client.force_login(users["auditor"])
    assert client.post(url, {"note": "x"}, content_type="application/json").status_code == 403
    client.force_login(users["finance_clerk"])
    assert client.post(url, {"note": ""}, content_type="application/json").status_code == 400
    refused = client.post(url, {"note": "write it off", "write_off": True}, content_type="application/json")
    assert refused.status_code == 403 and "finance manager" in refused.json()["detail"]
    ok = client.post(
        url, {"note": "Duplicate test sale, voided in the till."}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["status"] == "resolved"
    assert client.post(url, {"note": "again"}, content_type="application/json").status_code == 409


# -- screens --------------------------------------------------------------------------------------


def test_screens_need_a_login(client: Client, db: Any) -> None:
    for url in ("/reconciliation/", "/reconciliation/exceptions/", "/reconciliation/statements/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_start_a_run_from_the_screen_and_watch_its_progress(
    client: Client, channel: Any, post_event: Any, users: Any, django_capture_on_commit_callbacks: Any
) -> None:
    post_event("till", sale_event("S-1"))
    client.force_login(users["auditor"])
    assert client.post("/reconciliation/", {"day": "2026-11-20"}).status_code == 403
    client.force_login(users["finance_clerk"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/reconciliation/", {"day": "2026-11-20"})
    assert response.status_code == 302
    run = ReconciliationRun.objects.get()
    assert run.status == RunStatus.DONE and run.started_by == users["finance_clerk"]
    html = client.get("/reconciliation/").content.decode()
    assert (
        f'id="run-{run.pk}"' in html and 'data-status="done"' in html and 'hx-trigger="every 1s"' not in html
    )
    ReconciliationRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, done=2)
    row = client.get(f"/reconciliation/runs/{run.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in row and 'value="2"' in row and f"2/{len(STEPS)}" in row
    detail = client.get(f"/reconciliation/runs/{run.pk}/").content.decode()
    assert "Sales system vs ledger, per channel and day" in detail and "144.00" in detail
    assert "Give a day, or both" in client.post("/reconciliation/", {"start": "2026-11-21"}).content.decode()


def test_exceptions_screen_filters_and_resolves_in_place(
    client: Client, unposted: ReconciliationException, users: Any
) -> None:
    client.force_login(users["finance_clerk"])
    html = client.get("/reconciliation/exceptions/").content.decode()
    assert "S-UNMAPPED" in html and "waits for a mapping" in html and "write off" not in html
    assert "S-UNMAPPED" not in client.get("/reconciliation/exceptions/?kind=invoice_unpaid").content.decode()
    assert "S-UNMAPPED" not in client.get("/reconciliation/exceptions/?status=resolved").content.decode()
    client.force_login(users["finance_manager"])
    assert "write off" in client.get("/reconciliation/exceptions/").content.decode()
    client.force_login(users["finance_clerk"])
    url = f"/reconciliation/exceptions/{unposted.pk}/resolve/"
    empty = client.post(url, {"note": ""}, HTTP_HX_REQUEST="true")
    assert 'role="alert">Say what happened: a note is required' in empty.content.decode()
    row = client.post(url, {"note": "Mapped and re-posted."}, HTTP_HX_REQUEST="true").content.decode()
    assert row.startswith(f'<tr id="exception-{unposted.pk}"') and "Resolved by finance_clerk" in row
    unposted.refresh_from_db()
    assert unposted.status == ExceptionStatus.RESOLVED
    everything = client.get("/reconciliation/exceptions/?status=").content.decode()
    assert "Mapped and re-posted." in everything and "<textarea" not in everything


def test_statement_upload_preview_then_import(client: Client, bank_account: BankAccount, users: Any) -> None:
    client.force_login(users["finance_clerk"])
    upload = SimpleUploadedFile("nov.xml", bank_file("camt053-deposit.xml"), content_type="application/xml")
    preview = client.post(
        "/reconciliation/statements/", {"bank_account": bank_account.pk, "file": upload, "action": "preview"}
    )
    html = preview.content.decode()
    assert preview.status_code == 200 and "Preview of nov.xml" in html and "STRIPE PAYOUT po-1" in html
    assert "status PDNG, not booked yet" in html and BankStatement.objects.count() == 0
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    done = client.post("/reconciliation/statements/confirm/", fields)
    statement = BankStatement.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/reconciliation/statements/{statement.pk}/"
    assert statement.imported_count == 2 and statement.imported_by == users["finance_clerk"]
    page = client.get(done["Location"]).content.decode()
    assert "Royal Mail Group" in page and 'data-count="imported"><div class="n">2<' in page
    again = client.post("/reconciliation/statements/confirm/", fields)
    assert (
        again["Location"] == f"/reconciliation/statements/{statement.pk}/"
        and BankStatement.objects.count() == 1
    )
    sample = client.get("/reconciliation/statements/sample.csv")
    assert sample.content.decode().startswith("date,amount,currency,description,reference,counterparty")


def test_statement_upload_errors_are_shown(client: Client, bank_account: BankAccount, users: Any) -> None:
    client.force_login(users["auditor"])
    assert client.post("/reconciliation/statements/", {"bank_account": bank_account.pk}).status_code == 403
    client.force_login(users["finance_clerk"])
    bad = SimpleUploadedFile("x.xml", b"<Document><broken></Document>")
    html = client.post(
        "/reconciliation/statements/",
        {"bank_account": bank_account.pk, "file": bad, "format": "camt053", "action": "import"},
    ).content.decode()
    assert "not well-formed XML" in html and BankStatement.objects.count() == 0


# -- API ------------------------------------------------------------------------------------------


def test_api_runs_exceptions_and_statements(
    client: Client,
    channel: Any,
    post_event: Any,
    bank_account: BankAccount,
    users: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    post_event("till", payout_event())
    client.force_login(users["auditor"])
    assert (
        client.post(
            "/api/v1/reconciliation-runs/", {"day": "2026-11-23"}, content_type="application/json"
        ).status_code
        == 403
    )
    client.force_login(users["finance_clerk"])
    upload = {
        "bank_account": str(bank_account.pk),
        "file": SimpleUploadedFile("b.xml", bank_file("camt053-no-deposit.xml")),
    }
    made = client.post("/api/v1/bank-statements/", upload)
    assert (
        made.status_code == 201
        and made.json()["imported"] == 2
        and made.json()["statement"]["period_end"] == "2026-11-24"
    )
    dup = client.post(
        "/api/v1/bank-statements/",
        {
            "bank_account": str(bank_account.pk),
            "file": SimpleUploadedFile("b2.xml", bank_file("camt053-no-deposit.xml")),
        },
    )
    assert (
        dup.status_code == 200
        and dup.json()["imported"] == 0
        and dup.json()["duplicate_of"] == made.json()["statement"]["id"]
    )
    preview = client.post(
        "/api/v1/bank-statements/",
        {
            "bank_account": str(bank_account.pk),
            "preview": "true",
            "file": SimpleUploadedFile("a.xml", bank_file("camt053-deposit.xml")),
        },
    )
    assert preview.status_code == 200 and [ln["amount"] for ln in preview.json()["lines"]] == ["139.44"]
    assert preview.json()["duplicates"] == 1 and BankStatement.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            "/api/v1/reconciliation-runs/", {"day": "2026-11-23"}, content_type="application/json"
        )
    assert started.status_code == 202
    run = client.get(f"/api/v1/reconciliation-runs/{started.json()['id']}/").json()
    assert (
        run["status"] == "done"
        and (run["done"], run["total"]) == (len(STEPS), len(STEPS))
        and run["exceptions_open"] == 2
    )
    listed = client.get("/api/v1/reconciliation-exceptions/?kind=payout_not_deposited").json()["results"]
    assert len(listed) == 1 and listed[0]["transaction"] == str(Transaction.objects.get(kind="payout").pk)
    assert client.get("/api/v1/reconciliation-exceptions/?status=resolved").json()["results"] == []
    lines = client.get(f"/api/v1/bank-statements/{made.json()['statement']['id']}/lines/").json()
    assert [ln["amount"] for ln in lines] == ["-45.9000", "50.0000"] and lines[0]["matched_payout"] is None
    assert (
        client.post(
            "/api/v1/reconciliation-runs/", {"start": "2026-11-23"}, content_type="application/json"
        ).status_code
        == 400
    )


def test_api_bank_accounts_need_permission(client: Client, ledger: Any, users: Any) -> None:
    account = ledger.accounts.get(code="1000")
    body = {
        "name": "Barclays EUR",
        "connection": str(ledger.pk),
        "ledger_account": str(account.pk),
        "currency": "eur",
    }
    client.force_login(users["finance_clerk"])
    assert client.post("/api/v1/bank-accounts/", body, content_type="application/json").status_code == 403
    # A user granted the permission directly (the privileged roles also need a second factor).
    bookkeeper = get_user_model().objects.create_user(username="bookkeeper")
    bookkeeper.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_bankaccount", "view_bankaccount"])
    )
    client.force_login(bookkeeper)
    made = client.post("/api/v1/bank-accounts/", body, content_type="application/json")
    assert made.status_code == 201 and made.json()["currency"] == "EUR"
    assert AuditEvent.objects.filter(action="bank_account.created", actor=bookkeeper).exists()
    assert client.post("/api/v1/bank-accounts/", body, content_type="application/json").status_code == 400


# -- command --------------------------------------------------------------------------------------


def test_reconcile_command_prints_progress_and_a_summary(
    channel: Any, post_event: Any, bank_account: BankAccount
) -> None:
    post_event("till", payout_event())
    import_statement(bank_account, bank_file("camt053-deposit.xml"), filename="a.xml")
    out = io.StringIO()
    call_command("reconcile", "--day", "2026-11-23", stdout=out)
    text = out.getvalue()
    assert f"[1/{len(STEPS)}] Sales system vs ledger: unposted transactions: 0 checked" in text
    step = next(n for n, (name, _) in enumerate(STEPS, 1) if name == "Payouts vs bank deposits")
    assert (
        f"[{step}/{len(STEPS)}] Payouts vs bank deposits: 1 checked, 0 exception(s), 0 new, 1 payout(s) matched"
        in text
    )
    assert (
        "Reconciliation of 2026-11-23: Done: 0 transactions checked, 1 payouts matched, 0 open exception(s)"
        in text
    )
    assert Match.objects.count() == 1
    out = io.StringIO()
    call_command("reconcile", "--start", "2026-11-21", "--end", "2026-11-24", stdout=out)
    assert (
        "Reconciliation of 2026-11-21 to 2026-11-24" in out.getvalue()
        and "deposit_without_payout" not in out.getvalue()
    )
    with pytest.raises(CommandError, match="not a date"):
        call_command("reconcile", "--day", "23/11/2026")
    with pytest.raises(CommandError, match="both --start and --end"):
        call_command("reconcile", "--start", "2026-11-21")


def test_reconcile_command_lists_open_exceptions(ledger: Any, post_event: Any) -> None:
    make_channel(ledger, with_default_revenue=False)
    post_event("till", sale_event("S-UNMAPPED", lines=UNMAPPED))
    out = io.StringIO()
    call_command("reconcile", "--day", "2026-11-20", stdout=out)
    assert f"- [{ExceptionKind.UNPOSTED_TRANSACTION}] Sale S-UNMAPPED" in out.getvalue()
