"""A statement none of whose rows can be read is refused with the row errors; nothing is saved.

Before, the import stored an empty statement of "period None - None" and said so in green.
``statement-uk-dates.csv`` is the default CSV layout exported with British dates (23/11/2026)
for an account whose layout expects ISO dates: every row fails.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from integrator.models import AuditEvent
from reconciliation.importers import StatementRejected
from reconciliation.models import BankAccount, BankLine, BankStatement
from reconciliation.services.statements import import_statement, preview_statement
from tests.reconciliation.conftest import bank_file

UK_DATES = "statement-uk-dates.csv"


def _upload(name: str = UK_DATES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, bank_file(name), content_type="text/csv")


def _nothing_saved() -> None:
    assert BankStatement.objects.count() == 0 and BankLine.objects.count() == 0
    assert not AuditEvent.objects.filter(action="bank_statement.imported").exists()


@pytest.mark.parametrize("action", ["import", "preview"])
def test_the_screen_refuses_the_file_and_lists_every_row_error(
    client: Client, bank_account: BankAccount, users: Any, action: str
) -> None:
    client.force_login(users["finance_clerk"])
    response = client.post(
        "/reconciliation/statements/", {"bank_account": bank_account.pk, "file": _upload(), "action": action}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "no line of the file could be read (3 row errors): nothing was imported" in html
    rows = [
        (n, unescape(m)) for n, m in re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td></tr>', html)
    ]
    assert rows == [
        ("2", "date '23/11/2026' does not match the format %Y-%m-%d"),
        ("3", "date '24/11/2026' does not match the format %Y-%m-%d"),
        ("4", "date '24/11/2026' does not match the format %Y-%m-%d"),
    ]
    assert "period None" not in html and 'class="success"' not in html
    _nothing_saved()


def test_the_api_answers_400_with_the_row_errors(
    client: Client, bank_account: BankAccount, users: Any
) -> None:
    client.force_login(users["finance_clerk"])
    response = client.post("/api/v1/bank-statements/", {"bank_account": bank_account.pk, "file": _upload()})
    assert response.status_code == 400
    body = response.json()
    assert "no line of the file could be read" in str(body)
    assert "23/11/2026" in str(body) and "row" in str(body)
    _nothing_saved()


def test_the_services_refuse_too_and_a_file_with_one_good_row_still_imports(
    bank_account: BankAccount,
) -> None:
    for call in (preview_statement, import_statement):
        with pytest.raises(StatementRejected) as refused:
            call(bank_account, bank_file(UK_DATES), filename=UK_DATES)
        assert [e.row for e in refused.value.errors] == [2, 3, 4]
    _nothing_saved()
    mixed = import_statement(bank_account, bank_file("statement-errors.csv"), filename="errors.csv")
    assert mixed.statement is not None and mixed.imported == 1 and len(mixed.errors) == 5
    assert (mixed.statement.period_start, mixed.statement.period_end) != (None, None)


def test_an_empty_file_without_a_period_is_refused(bank_account: BankAccount) -> None:
    header_only = b"date,amount,currency,description,reference,counterparty\n"
    with pytest.raises(StatementRejected, match="holds no statement lines and states no period"):
        import_statement(bank_account, header_only, filename="empty.csv")
    _nothing_saved()
