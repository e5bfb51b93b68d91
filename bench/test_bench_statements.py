"""Statement imports, streaming: throughput and peak memory of the whole importing process.

For each of CSV, OFX and CAMT.053 a statement of ``size(2_000, 1_000_000)`` lines is written to a
temporary file and imported by ``manage.py import_statement`` in a child process, which reports its
own peak resident memory (``VmHWM``, else ``ru_maxrss``, of the whole process: interpreter, Django,
parser, database driver), so the test process's memory does not count. Baselines, measured in the same run by the
same kind of child on the same file:

* throughput: a child that only reads the file line by line and bulk-inserts as many plain rows
  (fixed values, no parsing, no dedupe, no audit) in batches of the same size: the floor of reading
  the file and writing that many rows through the ORM;
* memory: that child's peak, and an idle child's (Django set up, nothing done).

Target: peak below 300 MB at a million lines, in every format.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from bench.conftest import BenchTable, settle_database, size
from integrator.models import LedgerAccount, LedgerConnection
from reconciliation.services.statements import create_bank_account
from tests.reconciliation.conftest import IBAN
from tests.reconciliation.test_statement_streaming import write_statement

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]

N = size(2_000, 1_000_000)
LIMIT_MB = 300
ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, resource, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integrator.settings")
import django
django.setup()
mode, path, fmt, account = sys.argv[1:5]
started = time.perf_counter()
lines = 0
if mode == "import":
    from django.core.management import call_command
    call_command("import_statement", path, account=account, quiet=True)
elif mode == "plain":
    from decimal import Decimal
    from datetime import date
    from django.db import reset_queries, transaction
    from reconciliation.models import BankAccount, BankLine, BankStatement
    marker = {"csv": None, "ofx": b"<STMTTRN>", "camt053": b"<Ntry>"}[fmt]
    bank = BankAccount.objects.get(pk=account)
    with transaction.atomic():
        statement = BankStatement.objects.create(bank_account=bank, format=fmt, filename="plain",
                                                 content=b"", checksum="plain")
        batch = []
        with open(path, "rb") as f:
            if marker is None:
                next(f)  # the header
            for raw in f:
                if marker is not None and not raw.startswith(marker):
                    continue
                lines += 1
                batch.append(BankLine(bank_account=bank, statement=statement, row=lines, date=date(2026, 1, 1),
                                      amount=Decimal("1.00"), currency="GBP", description=raw[:60].decode(),
                                      line_hash=f"{lines:064x}"))
                if len(batch) == 5000:
                    BankLine.objects.bulk_create(batch)
                    batch = []
                    reset_queries()  # as the import does under DEBUG
        BankLine.objects.bulk_create(batch)
seconds = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:  # VmHWM: this address space's own peak (ru_maxrss may count the parent's, from before exec)
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(json.dumps({"seconds": seconds, "lines": lines, "peak_mb": peak_kb / 1024}))
"""


def _child_database(tmp_path: Path) -> str:
    """The DATABASE_URL a child uses to reach the test database (SQLite's is in memory: copied)."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        return (
            f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    copy = tmp_path / "bench.sqlite3"
    connection.ensure_connection()
    with sqlite3.connect(copy) as target:
        connection.connection.backup(target)  # type: ignore[union-attr]
    return f"sqlite:///{copy}"


def _run_child(mode: str, path: Path, fmt: str, account: Any, database_url: str) -> dict[str, Any]:
    """Run one measured child; its last output line is its report."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env.pop("BENCH_SCALE", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), fmt, str(account)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _stored_lines(database_url: str, account: Any) -> int:
    """Bank lines of ``account`` in the child's database."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM reconciliation_bankline WHERE bank_account_id = ?", [account.hex]
            ).fetchone()
            return int(count)
    from reconciliation.models import BankLine

    return BankLine.objects.filter(bank_account_id=account).count()


@pytest.mark.parametrize("fmt", ["csv", "ofx", "camt053"])
def test_streaming_import_throughput_and_peak_memory(
    ledger: LedgerConnection, tmp_path: Path, bench_table: BenchTable, fmt: str
) -> None:
    settle_database()
    bank = LedgerAccount.objects.get(connection=ledger, code="1000")
    account = create_bank_account(
        name=f"Bench {fmt}", connection=ledger, ledger_account=bank, currency="GBP", account_number=IBAN
    )
    plain = create_bank_account(name=f"Plain {fmt}", connection=ledger, ledger_account=bank, currency="GBP")
    path = write_statement(tmp_path / f"statement-{N}.{fmt}", fmt, N)
    database_url = _child_database(tmp_path)

    idle = _run_child("idle", path, fmt, account.pk, database_url)
    base = _run_child("plain", path, fmt, plain.pk, database_url)
    ours = _run_child("import", path, fmt, account.pk, database_url)

    label = f"import {fmt.upper()} ({N:,} lines, {path.stat().st_size / 1048576:.1f} MB)"
    bench_table.add(label, "throughput", N / ours["seconds"], "lines/s",
                    baseline=base["lines"] / base["seconds"], baseline_label="plain read + insert")  # fmt: skip
    bench_table.add(label, "peak resident memory", ours["peak_mb"], "MB", baseline=base["peak_mb"],
                    baseline_label="plain read + insert", limit=f"< {LIMIT_MB} MB")  # fmt: skip
    bench_table.add(label, "idle process", idle["peak_mb"], "MB")
    assert base["lines"] == N
    assert _stored_lines(database_url, account.pk) == N
    assert ours["peak_mb"] < LIMIT_MB
