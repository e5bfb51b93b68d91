"""Large statement uploads are imported by the worker with a progress bar (issue 19).

An upload larger than ``STATEMENT_INLINE_IMPORT_BYTES`` is spooled, a Job is created and the person
is taken to its page; the worker (inline here: the cluster is in sync mode in tests) imports the
file with the import's progress on the Job and removes the spooled file, whatever the outcome.
Smaller uploads still import within the request.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from integrator.models import AuditEvent, Job
from reconciliation.models import BankAccount, BankLine, BankStatement
from reconciliation.services.statements import BATCH_LINES
from tests.reconciliation.test_statement_streaming import write_csv_statement

pytestmark = pytest.mark.django_db


def _csv(lines: int) -> bytes:
    out = io.BytesIO()
    write_csv_statement(out, lines)
    return out.getvalue()


def _upload(client: Client, account: BankAccount, name: str, content: bytes) -> Any:
    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(
        "/reconciliation/statements/",
        {"bank_account": account.pk, "file": upload, "format": "csv", "action": "import"},
    )


@pytest.fixture
def spool(tmp_path: Path) -> Any:
    with override_settings(VAR_DIR=tmp_path, STATEMENT_INLINE_IMPORT_BYTES=50_000):
        yield tmp_path / "statement-uploads"


def test_a_large_upload_is_imported_by_the_worker_with_its_progress_on_a_job(
    client: Client,
    bank_account: BankAccount,
    users: Any,
    spool: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    lines = BATCH_LINES * 2 + 1_234  # three batches, so progress is reported along the way
    content = _csv(lines)
    client.force_login(users["finance_clerk"])

    with django_capture_on_commit_callbacks(execute=True):
        answer = _upload(client, bank_account, "december.csv", content)

    job = Job.objects.get(kind="statement_import")
    assert answer.status_code == 302 and answer["Location"] == f"/jobs/{job.pk}/"
    assert job.status == "done", job.message
    assert (job.done, job.total) == (len(content), len(content))
    assert job.message.startswith(
        f"december.csv: {lines:,} line(s) read, {lines:,} imported, 0 already known"
    )
    statement = BankStatement.objects.get()
    assert statement.imported_count == lines and statement.imported_by == users["finance_clerk"]
    assert BankLine.objects.filter(statement=statement).count() == lines
    assert list(spool.iterdir()) == []  # the spooled copy is gone
    page = client.get(answer["Location"]).content.decode()
    assert "Import december.csv into" in page and "being imported in the background" in page
    queued = AuditEvent.objects.get(action="bank_statement.import_queued")
    assert queued.actor == users["finance_clerk"] and queued.after["bytes"] == len(content)
    assert AuditEvent.objects.filter(action="bank_statement.imported", actor=users["finance_clerk"]).exists()

    # The same file again: the worker says it was already imported and keeps nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, bank_account, "december-again.csv", content)
    again = Job.objects.filter(kind="statement_import").order_by("-started_at").first()
    assert again is not None and again.status == "done"
    assert again.message == "december-again.csv was already imported: nothing imported."
    assert BankStatement.objects.count() == 1 and list(spool.iterdir()) == []


def test_a_large_upload_the_importer_refuses_fails_its_job_with_the_reason_and_keeps_nothing(
    client: Client,
    bank_account: BankAccount,
    users: Any,
    spool: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    content = _csv(3_000).replace(b"amount", b"sum", 1)  # a layout without an amount column
    client.force_login(users["finance_clerk"])

    with django_capture_on_commit_callbacks(execute=True):
        answer = _upload(client, bank_account, "broken.csv", content)

    job = Job.objects.get(kind="statement_import")
    assert answer["Location"] == f"/jobs/{job.pk}/"
    assert job.status == "failed" and job.message.startswith("Not imported:"), job.message
    assert "amount" in job.message, job.message
    assert BankStatement.objects.count() == 0 and BankLine.objects.count() == 0
    assert list(spool.iterdir()) == []


def test_a_small_upload_still_imports_within_the_request(
    client: Client, bank_account: BankAccount, users: Any, spool: Path
) -> None:
    client.force_login(users["finance_clerk"])
    answer = _upload(client, bank_account, "small.csv", _csv(100))
    statement = BankStatement.objects.get()
    assert answer["Location"] == f"/reconciliation/statements/{statement.pk}/"
    assert statement.imported_count == 100 and not Job.objects.exists()


def test_the_api_imports_in_the_background_when_asked_and_answers_the_job_to_poll(
    client: Client,
    bank_account: BankAccount,
    users: Any,
    spool: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    content = _csv(2_000)
    client.force_login(users["finance_clerk"])
    upload = {
        "bank_account": str(bank_account.pk),
        "file": SimpleUploadedFile("api.csv", content),
        "format": "csv",
        "background": "true",
    }

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post("/api/v1/bank-statements/", upload)

    assert answer.status_code == 202, answer.content
    job_id = answer.json()["job"]
    assert answer["Location"] == answer.json()["url"] == f"/api/v1/jobs/{job_id}/"
    polled = client.get(answer["Location"]).json()
    assert polled["status"] == "done" and polled["done"] == polled["total"] == len(content)
    assert BankStatement.objects.get().imported_count == 2_000
    assert list(spool.iterdir()) == []
