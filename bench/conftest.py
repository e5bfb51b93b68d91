"""Benchmarks: the test fixtures, plus one results table for the whole run.

Every benchmark reports its figures through the ``bench_table`` fixture: a row holds what was
measured, the baseline measured in the same run, and their ratio. At the end of the run the table
is printed with the machine's facts; ``make bench`` also writes it to ``bench/results/<date>.md``
(``BENCH_RESULTS=<path>``). Sizes come from ``BENCH_SCALE``: ``small`` (the default, and what the
test suite runs to prove the benchmarks work), ``full`` (the committed figures) or a factor of full.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import *  # noqa: F403

RESULTS = Path(__file__).parent / "results"
SCALE = os.environ.get("BENCH_SCALE", "small")


def size(small: int, full: int) -> int:
    """The size of a benchmark at the run's scale (``BENCH_SCALE=small|full``, or a factor)."""
    if SCALE == "full":
        return full
    if SCALE == "small":
        return small
    return max(1, int(full * float(SCALE)))


def settle_database() -> None:
    """Before a timed benchmark on PostgreSQL, finish what the earlier ones left the database: the
    rows their test transactions rolled back (a million in the reconciliation benchmark) are
    vacuumed now, not by autovacuum during the timed phases, and the dirty pages are written out
    (``CHECKPOINT``: superusers only, skipped otherwise). Call it from a test that does not run in
    a transaction (``django_db(transaction=True)``): VACUUM cannot run inside one."""
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        with contextlib.suppress(DatabaseError):
            cursor.execute("CHECKPOINT")


def limits_apply() -> bool:
    """Whether a benchmark asserts its ratio limit: at full size only (``make bench``). At the small
    size the suite runs them beside other tests, where a ratio says more about the neighbours."""
    return SCALE != "small"


def bulk_insert_seconds(channel: Any, bodies: list[str]) -> float:
    """The issue's yardstick: seconds to store ``bodies`` as inbox rows of ``channel`` by bulk insert
    (one statement per 1,000 rows, marked ignored so no worker takes them)."""
    import time

    from integrator.models import InboundEvent

    start = time.perf_counter()
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(channel=channel, dedupe_key=f"bulk-{i}", event_type="x", body=body, status="ignored")
            for i, body in enumerate(bodies)
        ],
        batch_size=1000,
    )
    return time.perf_counter() - start


@dataclass
class Row:
    """One figure of the results table."""

    benchmark: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    limit: str = ""

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` (how many times the baseline), when there is a baseline."""
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]


class BenchTable:
    """The rows measured in this run, in order."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, benchmark: str, figure: str, value: float, unit: str, *, baseline: float | None = None,
            baseline_label: str = "", limit: str = "") -> Row:  # fmt: skip
        """Record one figure; returns the row (its ``ratio`` for the benchmark's own assertion)."""
        row = Row(benchmark, figure, value, unit, baseline, baseline_label, limit)
        self.rows.append(row)
        print(f"\n{benchmark}: {figure} = {_num(value)} {unit}"
              + (f"; {baseline_label or 'baseline'} {_num(baseline)}; ratio {row.ratio:.2f}" if row.ratio else ""))  # fmt: skip
        return row

    def markdown(self) -> str:
        """The table, then the machine it ran on."""
        lines = [
            f"# Benchmarks {date.today().isoformat()} (scale: {SCALE})",
            "",
            "| benchmark | figure | value | baseline (same run) | ratio | target |",
            "|---|---|---:|---|---:|---|",
        ]
        for r in self.rows:
            base = f"{r.baseline_label} {_num(r.baseline)}".strip() if r.baseline is not None else ""
            ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
            lines.append(
                f"| {r.benchmark} | {r.figure} | {_num(r.value)} {r.unit} | {base} | {ratio} | {r.limit} |"
            )
        lines += ["", "## Machine", "", *[f"- {k}: {v}" for k, v in machine_facts().items()], ""]
        return "\n".join(lines)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def machine_facts() -> dict[str, str]:
    """Cores, memory, versions: what the figures depend on."""
    from django.db import connection

    facts = {
        "cores": str(os.cpu_count()),
        "memory": _memory(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "database": connection.vendor,
    }
    if connection.vendor == "postgresql" and connection.connection is not None:
        facts["database"] += f" {connection.pg_version}"  # type: ignore[attr-defined]
    with contextlib.suppress(OSError):
        facts["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                         text=True, check=False).stdout.strip()  # fmt: skip
    return facts


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


_TABLE = BenchTable()


@pytest.fixture(scope="session")
def bench_table() -> BenchTable:
    """The run's results table (see the module docstring)."""
    return _TABLE


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Print the table and write it under bench/results/ (not for a run that measured nothing)."""
    if not _TABLE.rows:
        return
    text = _TABLE.markdown()
    print("\n" + text)
    target = os.environ.get("BENCH_RESULTS", "")
    if not target:
        return
    path = RESULTS / f"{date.today().isoformat()}.md" if target == "auto" else Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
