"""The daily reconciliation at scale against one hand-written FULL OUTER JOIN in the same run.

Books of ``size(5_000, 1_000_000)`` transactions (nine sales to one payout, each sale three
journal lines and three ledger lines, each payout two of each and its bank deposit) are cloned in
SQL from one sale and one payout the real pipeline booked (``bench/reconciliation_data.py``), with
about 1 % deliberately wrong: unposted sales, documents edited or missing in the ledger, a
channel-day whose sales-system total differs, payouts without deposit, stray deposits. The
reconciliation run over the whole period must find exactly those.

* **Run time vs baseline**: every step of the run (unposted, channel-day totals, ledger
  read-back, payouts and bank, invoices, tax, stock), storing the exceptions, against the one
  query a person would write to find the read-back differences: journal lines and ledger lines
  aggregated per document and account, FULL OUTER JOINed, differing documents counted: the
  faster of a run under the server's defaults and one under the run's own session settings
  (``RUN_SETTINGS``: JIT off, parallel plans). Target: the run within 2x that query (measured
  1.92x at 1,000,000 on PostgreSQL, idle, 23.9 s against 12.5 s, re-run 1.96x; 3.5x, 3.3x, 2.4x,
  then 2.2x before; the history is in docs/accounting-model.md, the run's time per step in the
  table). The books are checkpointed once generated (``reconciliation_data.build``), so the
  writing out of their pages is timed on neither side.
* **Memory**: the peak of Python allocations (``tracemalloc``) during the run at a tenth of the
  size and at the full size, and the peak resident set of the process during the timed run
  (``VmHWM`` after resetting it, Linux). The checks stream what they find, so memory follows the
  differences found (about 1 % of the rows, kept only as their keys), not the rows checked.
"""

from __future__ import annotations

import contextlib
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from bench import reconciliation_data as data
from bench.conftest import BenchTable, limits_apply, size
from reconciliation.choices import RunStatus
from reconciliation.models import ClearingMatch, Match, ReconciliationException, ReconciliationRun
from reconciliation.services.findings import apply_run_settings
from reconciliation.services.runs import run_reconciliation

pytestmark = [pytest.mark.bench, pytest.mark.django_db]

N = size(5_000, 1_000_000)
BENCH = "reconciliation (daily checks)"


def split(total: int) -> tuple[int, int]:
    """(sales, payouts) of books of ``total`` transactions: one payout to nine sales."""
    return total - total // 10, total // 10


def found() -> Counter[str]:
    """The open exceptions by kind (amount mismatches by what they compare)."""
    counts: Counter[str] = Counter()
    for kind, key in ReconciliationException.objects.values_list("kind", "key"):
        counts[f"{kind}:{key.split(':')[1]}" if kind == "amount_mismatch" else str(kind)] += 1
    return counts


def forget_findings() -> None:
    """Remove what a run stored (exceptions, matches), so the next run starts from the same place."""
    ReconciliationException.objects.all().delete()
    Match.objects.all().delete()
    ClearingMatch.objects.all().delete()
    ReconciliationRun.objects.update(status=RunStatus.DONE)


def reconcile(steps: list[tuple[str, float]] | None = None) -> ReconciliationRun:
    """The run of the benchmark: the whole generated period; with ``steps``, the seconds each
    step took (from the run's progress reports) are appended to it."""
    if steps is None:
        return run_reconciliation(start=data.START, end=data.END)
    last = time.perf_counter()

    def timed(run: ReconciliationRun, message: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps.append((message.rsplit(":", 1)[0], now - last))  # "<step title>: <counts>"
        last = now

    return run_reconciliation(start=data.START, end=data.END, report=timed)


def peak_rss_reset() -> bool:
    """Reset the process's peak resident set (Linux ``clear_refs``); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The process's peak resident set since the last reset, in MB (0 where unknown)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def python_peak_mb(work: Callable[[], Any]) -> float:
    """The peak of Python allocations (MB) while ``work`` runs."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def native_full_outer_join() -> bool:
    """Whether the baseline is written with FULL OUTER JOIN: on PostgreSQL. SQLite has one from
    3.39, but it joins two grouped subqueries without the automatic index it builds for a LEFT
    JOIN (every pair of rows compared: 49 s for 5,000 transactions), so there the baseline is the
    textbook equivalent, the union of two LEFT JOINs."""
    return connection.vendor == "postgresql"


def baseline_query() -> tuple[str, list[Any]]:
    """The hand-written read-back: per document and account, our journal FULL OUTER JOIN the
    ledger's lines; the documents whose amounts differ, or are on one side only, counted."""
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    sent = """SELECT je.connection_id AS conn, je.reference AS ref, a.code AS code,
                     SUM(jl.debit - jl.credit) AS net
              FROM integrator_journalline jl
              JOIN integrator_journalentry je ON je.id = jl.entry_id
              JOIN integrator_posting po ON po.entry_id = je.id
              JOIN integrator_ledgeraccount a ON a.id = jl.account_id
              WHERE po.state = 'posted' AND po.posting_date BETWEEN %s AND %s
              GROUP BY je.connection_id, je.reference, a.code"""
    held = """SELECT be.connection_id AS conn, be.reference AS ref, bl.account_code AS code,
                     SUM(bl.debit - bl.credit) AS net
              FROM integrator_bookline bl JOIN integrator_bookentry be ON be.id = bl.entry_id
              WHERE be.date BETWEEN %s AND %s
              GROUP BY be.connection_id, be.reference, bl.account_code"""
    if native_full_outer_join():
        pairs = f"""SELECT COALESCE(s.conn, h.conn) AS conn, COALESCE(s.ref, h.ref) AS ref
                    FROM ({sent}) s FULL OUTER JOIN ({held}) h
                      ON h.conn = s.conn AND h.ref = s.ref AND h.code = s.code
                    WHERE s.net {distinct} h.net"""
        params = [data.START, data.END] * 2
    else:
        pairs = f"""SELECT s.conn, s.ref FROM ({sent}) s LEFT JOIN ({held}) h
                      ON h.conn = s.conn AND h.ref = s.ref AND h.code = s.code WHERE s.net {distinct} h.net
                    UNION ALL
                    SELECT h.conn, h.ref FROM ({held}) h LEFT JOIN ({sent}) s
                      ON h.conn = s.conn AND h.ref = s.ref AND h.code = s.code WHERE s.conn IS NULL"""
        params = [data.START, data.END] * 4
    return f"SELECT COUNT(*) FROM (SELECT conn, ref FROM ({pairs}) p GROUP BY conn, ref) d", params


def run_baseline(*, run_settings: bool) -> int:
    """The baseline query's answer: how many documents differ. With ``run_settings`` it runs in a
    transaction under the session settings of the run's own transactions (``RUN_SETTINGS``: JIT
    off, cursors planned for all their rows), else under the server's defaults; the benchmark
    times both and keeps the faster, so the run's settings never handicap the baseline."""
    sql, params = baseline_query()
    with transaction.atomic(), connection.cursor() as cur:
        if run_settings:
            apply_run_settings()
        cur.execute(sql, params)
        return int(cur.fetchone()[0])


def test_reconciliation_at_scale_vs_full_outer_join(
    channel: Any, post_event: Any, bench_table: BenchTable
) -> None:
    tpl = data.make_template(channel, post_event)
    tenth_sales, tenth_payouts = split(N // 10)
    sales, payouts = split(N)

    # A tenth of the size: the reference.
    data.build(tpl, (1, tenth_sales), (1, tenth_payouts))
    peak_rss_reset()
    rss_base = peak_rss_mb()
    start = time.perf_counter()
    reconcile()
    tenth_seconds = time.perf_counter() - start
    rss_tenth = peak_rss_mb() - rss_base
    assert found() == data.expected(tenth_sales, tenth_payouts)
    forget_findings()
    python_tenth = python_peak_mb(reconcile)

    # The full size.
    started = time.perf_counter()
    data.build(tpl, (tenth_sales + 1, sales), (tenth_payouts + 1, payouts))
    build_seconds = time.perf_counter() - started
    forget_findings()
    start = time.perf_counter()
    baseline_first = run_baseline(run_settings=False)
    baseline = time.perf_counter() - start
    peak_rss_reset()
    rss_base = peak_rss_mb()
    steps: list[tuple[str, float]] = []
    start = time.perf_counter()
    run = reconcile(steps)
    ours = time.perf_counter() - start
    rss_full = peak_rss_mb() - rss_base
    # The best of three (the run had warm caches): once more under the server's defaults and once
    # under the run's settings, so whichever suits the hand-written query is its time.
    for run_settings in (False, True):
        start = time.perf_counter()
        differing = run_baseline(run_settings=run_settings)
        baseline = min(baseline, time.perf_counter() - start)
    expected = data.expected(sales, payouts)
    assert found() == expected
    assert run.transactions_checked == sales + payouts  # the templates are a month earlier
    readback = sum(v for k, v in expected.items() if k.split(":")[-1] in ("posting", "missing_in_ledger",
                                                                          "missing_in_source"))  # fmt: skip
    assert differing == baseline_first == readback

    start = time.perf_counter()
    again = reconcile()
    rerun = time.perf_counter() - start
    assert again.exceptions_new == 0 and again.exceptions_cleared == 0 and found() == expected
    forget_findings()
    python_full = python_peak_mb(reconcile)

    rows = f"{sales + payouts:,} transactions"
    bench_table.add(BENCH, f"books generated ({rows}, SQL)", build_seconds, "s")
    bench_table.add(BENCH, f"run over {sales // 10 + payouts // 10:,} transactions", tenth_seconds, "s")
    row = bench_table.add(BENCH, f"run over {rows}", ours, "s", baseline=baseline,
                          baseline_label="one FULL OUTER JOIN + aggregation", limit="ratio <= 2")  # fmt: skip
    for title, seconds in steps:  # where the run's time goes
        if title not in ("Starting", "Done"):
            bench_table.add(BENCH, f"step: {title}", seconds, "s", baseline=baseline,
                            baseline_label="one FULL OUTER JOIN + aggregation")  # fmt: skip
    bench_table.add(BENCH, f"re-run over {rows} (nothing new)", rerun, "s", baseline=baseline,
                    baseline_label="one FULL OUTER JOIN + aggregation")  # fmt: skip
    bench_table.add(
        BENCH, f"exceptions found ({sum(expected.values()):,}, as expected)", sum(expected.values()), ""
    )
    bench_table.add(BENCH, "Python peak during the run, full size", python_full, "MB", baseline=python_tenth,
                    baseline_label="at a tenth of the size", limit="flat in the rows")  # fmt: skip
    if peak_rss_reset():
        bench_table.add(BENCH, "peak resident-set growth during the run, a tenth", rss_tenth, "MB")
        bench_table.add(BENCH, "peak resident-set growth during the run, full size", rss_full, "MB")
    # Both sides run here and now, so the ratio holds on any machine; the limit leaves room for a
    # busy one (the committed figures show the ratio itself). At the small size the run's fixed
    # costs (eight steps, each its own transaction and audit row) outweigh a 0.1 s query.
    # Measured 2.4-2.6 at 1,000,000 on an idle two-core machine (3.5, then 3.3 before; target 2, not
    # reached yet): the assertion guards against a regression to row-by-row checks, far beyond it.
    assert row.ratio is not None and (row.ratio < (10 if N >= 100_000 else 20) or not limits_apply())
    # Memory follows the differences (1 % of the rows, as keys), not the rows: ten times the rows
    # must not cost anywhere near ten times the memory.
    assert python_full < 3 * python_tenth + 20
