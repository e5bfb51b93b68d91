"""``manage.py demo``: seed the demo store and send a week of sales through the webhook path."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import Client

from integrator.services import demo
from integrator.tasks import ensure_schedules


class Command(BaseCommand):
    """Create the demo store and deliver its signed events (idempotent: run it as often as you like)."""

    help = (
        "Create the demo store (Kente & Clay: users, built-in ledger, chart of accounts, three channels, "
        "approved mappings) and deliver a week of signed sales, refunds, invoices, payments and a payout "
        "through POST /hooks/<channel>/. Without --process the running worker books them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """--process books everything now; --url sends over HTTP to a running server."""
        parser.add_argument(
            "--process", action="store_true", help="Process, post and close days now, without a worker."
        )
        parser.add_argument(
            "--url", default="", help="Base URL of a running server (default: in-process request)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Seed, deliver, optionally process, and report; refuse under production settings and fail
        (never "Demo ready") when deliveries were refused."""
        if not settings.DEMO_ALLOWED:
            raise CommandError(
                "refusing to load the demo under production settings (DJANGO_DEBUG=0): it creates a "
                "superuser with a published password and channels with known signing secrets. "
                "Set INTEGRATOR_ALLOW_DEMO=1 only on a throwaway demo server."
            )
        store = demo.setup_store()
        from integrator.services.demo_inventory import setup_inventory

        shipment = setup_inventory(store, demo.local_today())  # stock from Ghana before the week's sales
        if shipment is not None:
            self.stdout.write(f"Shipment {shipment.reference} from {shipment.supplier} received into stock.")
        ensure_schedules()
        events = demo.build_events(demo.local_today())
        base = options["url"].rstrip("/")
        client = Client()

        def send(path: str, body: bytes, headers: dict[str, str]) -> int:
            if base:
                return requests.post(base + path, data=body, headers=headers, timeout=10).status_code
            extra = {k: v for k, v in headers.items() if k != "Content-Type"}
            return client.post(path, data=body, content_type="application/json", headers=extra).status_code

        total = sum(len(v) for v in events.values())
        self.stdout.write(f"Delivering {total} signed events to {len(events)} channels ...")
        counts = demo.deliver(store, events, send)
        refused = {k: v for k, v in counts.items() if k not in ("200", "202")}
        self.stdout.write(
            f"  new: {counts.get('202', 0)}, duplicates (already delivered): {counts.get('200', 0)}, "
            f"other: {sum(refused.values())}"
        )
        if refused:
            raise CommandError(
                f"{sum(refused.values())} of {total} deliveries were refused (answers {refused}): the demo "
                "is not ready. Check ALLOWED_HOSTS, SECURE_SSL_REDIRECT and --url."
            )
        if options["process"]:
            from integrator.services.closing import close_past_days
            from integrator.services.pipeline import process_received_events
            from integrator.services.posting import run_outbox

            processed = process_received_events()
            closed = close_past_days()
            posted = run_outbox(worker="demo")
            self.stdout.write(
                f"  processed {processed} events, closed {closed} day summaries, sent {posted} postings"
            )
        else:
            self.stdout.write("  the worker (qcluster) books them in the background; watch the dashboard.")
        self.stdout.write(self.style.SUCCESS("Demo ready. Logins:"))
        for username, (password, _role, name) in demo.DEMO_USERS.items():
            self.stdout.write(f"  {username:8} / {password:18} {name}")
