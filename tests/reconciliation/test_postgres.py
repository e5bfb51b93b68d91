"""PostgreSQL: concurrent runs of the same day serialise and never duplicate matches or exceptions."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from django.db import connection

from reconciliation.choices import ExceptionKind
from reconciliation.models import BankAccount, Match, ReconciliationException, ReconciliationRun
from reconciliation.services.runs import run_reconciliation
from reconciliation.services.statements import import_statement
from tests.conftest import sale_event
from tests.reconciliation.conftest import bank_file, payout_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_runs_make_one_match_and_one_exception_each(
    channel: Any, post_event: Any, bank_account: BankAccount
) -> None:
    post_event("till", payout_event())
    post_event("till", payout_event("po-2", amount="77.00"))
    post_event("till", sale_event("S-1", occurred_at="2026-11-23T10:00:00+00:00"))
    import_statement(bank_account, bank_file("camt053-deposit.xml"), filename="a.xml")
    import_statement(bank_account, bank_file("camt053-no-deposit.xml"), filename="b.xml")
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            run_reconciliation(date(2026, 11, 23))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert ReconciliationRun.objects.filter(status="done").count() == 4
    assert Match.objects.count() == 1
    kinds = sorted(ReconciliationException.objects.values_list("kind", flat=True))
    assert kinds == [ExceptionKind.DEPOSIT_WITHOUT_PAYOUT, ExceptionKind.PAYOUT_NOT_DEPOSITED]
    assert ReconciliationRun.objects.filter(exceptions_new__gt=0).count() == 1
