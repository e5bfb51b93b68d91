"""A load generator for webhook receipt, run as its own process (``python -m bench.loadgen``).

Two modes, both printing one JSON object on stdout:

* ``saturate``: ``--concurrency`` threads send back to back for ``--seconds``; reports requests/s.
* ``steady``: an open loop at ``--rate`` requests/s for ``--seconds``. Request *i* is due at
  ``start + i / rate``; its latency runs from when it was due (not from when a thread got to it),
  so a server that falls behind shows it in p99 instead of slowing the generator down.

Every request carries a distinct generic ``sale.completed`` body signed like a till signs it (so
each one is new work, never a duplicate). ``--path`` may point at a bare view for the baseline.
Only the standard library: the generator must cost as little CPU as possible.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import queue
import statistics
import threading
import time
import uuid
from typing import Any


def sale_body(sale_id: str) -> bytes:
    """A generic ``sale.completed`` event: one kente line 120.00 + 20 % VAT = 144.00, paid by card
    (the test suite's default sale, ``tests.conftest.sale_event``)."""
    data = {
        "id": sale_id, "number": sale_id, "occurred_at": "2026-11-20T10:00:00+00:00", "currency": "GBP",
        "prices_include_tax": False, "total": "144.00",
        "lines": [{"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1,
                   "unit_price": "120.00", "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "24.00"}]}],
        "tenders": [{"method": "card", "amount": "144.00"}],
    }  # fmt: skip
    event = {
        "id": f"evt-{sale_id}",
        "type": "sale.completed",
        "created_at": data["occurred_at"],
        "data": data,
    }
    return json.dumps(event).encode()


def signed(body: bytes, secret: str) -> dict[str, str]:
    """The generic source's signature headers."""
    ts = str(int(time.time()))
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Integrator-Timestamp": ts,
        "X-Integrator-Signature": f"v1={mac}",
    }


class Sender:
    """One keep-alive HTTP connection (reopened after any error)."""

    def __init__(self, host: str, port: int, path: str, secret: str, prefix: str) -> None:
        self.host, self.port, self.path, self.secret, self.prefix = host, port, path, secret, prefix
        self.conn: http.client.HTTPConnection | None = None

    def send(self) -> int:
        """POST one new sale; the HTTP status (0 for a connection error)."""
        body = sale_body(f"{self.prefix}-{uuid.uuid4().hex[:16]}")
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.conn.request("POST", self.path, body=body, headers=signed(body, self.secret))
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
        return 0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def saturate(args: argparse.Namespace) -> dict[str, Any]:
    """Closed loop: as many requests as ``concurrency`` threads can get answered."""
    stop = time.monotonic() + args.seconds
    counts: dict[int, int] = {}
    lock = threading.Lock()

    def run(n: int) -> None:
        sender = Sender(args.host, args.port, args.path, args.secret, f"{args.prefix}-s{n}")
        while time.monotonic() < stop:
            status = sender.send()
            with lock:
                counts[status] = counts.get(status, 0) + 1

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    ok = sum(v for k, v in counts.items() if 200 <= k < 300)
    return {"mode": "saturate", "requests": total, "ok": ok, "errors": total - ok, "seconds": elapsed,
            "per_second": ok / elapsed, "statuses": {str(k): v for k, v in counts.items()}}  # fmt: skip


def steady(args: argparse.Namespace) -> dict[str, Any]:
    """Open loop at a fixed rate; latency measured from each request's due time."""
    total = int(args.rate * args.seconds)
    due: queue.Queue[float | None] = queue.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run(n: int) -> None:
        sender = Sender(args.host, args.port, args.path, args.secret, f"{args.prefix}-r{n}")
        while True:
            when = due.get()
            if when is None:
                return
            delay = when - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            status = sender.send()
            done = time.monotonic()
            with lock:
                latencies.append(done - when)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(args.concurrency)]
    for t in threads:
        t.start()
    start = time.monotonic() + 0.2
    for i in range(total):
        due.put(start + i / args.rate)
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    return {
        "mode": "steady", "rate": args.rate, "requests": total, "ok": ok, "errors": total - ok,
        "p50_ms": _percentile(latencies, 0.50) * 1000, "p99_ms": _percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=0) * 1000, "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0,
        "statuses": {str(k): v for k, v in statuses.items()},
    }  # fmt: skip


def main() -> None:
    """Parse the arguments, run the mode, print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["saturate", "steady"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/hooks/till/")
    parser.add_argument("--secret", default="test-secret-1")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--prefix", default="LOAD")
    args = parser.parse_args()
    result = saturate(args) if args.mode == "saturate" else steady(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
