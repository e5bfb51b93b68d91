"""A daily-summary sale waiting for its day's close says when it will be posted.

Before, a sale mapped after its day had been closed showed "Waiting for the daily summary" with
no word of when that would be; the transaction page and the list now say it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from django.test import Client
from django.utils import timezone
from django_q.models import Schedule

from integrator.choices import PostingMode, TransactionStatus
from integrator.models import MappingSet, Transaction
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import retry_held_transactions
from integrator.views.waiting import CLOSE_TASK
from tests.conftest import make_channel, sale_event, standard_rules

LONDON = ZoneInfo("Europe/London")


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _note(html: str) -> str:
    found = re.search(r'data-when="daily-close">(?:<strong>When it posts:</strong> )?(.*?)</', html, re.S)
    assert found is not None
    return unescape(found.group(1)).strip()


def test_a_sale_mapped_after_its_day_was_closed_says_it_posts_at_the_next_close(
    ledger: Any, post_event: Any, users: Any
) -> None:
    shop = make_channel(ledger, slug="shop", mode=PostingMode.DAILY_SUMMARY, mapped=False)
    post_event("shop", sale_event("S-LATE-MAP"))  # 20 Nov 2026: long over
    txn = Transaction.objects.get(external_id="S-LATE-MAP")
    assert txn.status == TransactionStatus.NEEDS_MAPPING
    mapping_set = MappingSet.objects.create(channel=shop, connection=ledger)
    activate_version(
        create_version(mapping_set, effective_from=date(2020, 1, 1), rules=standard_rules(ledger))
    )
    retry_held_transactions(channel_id=shop.pk)
    txn.refresh_from_db()
    assert txn.status == TransactionStatus.SUMMARISED

    client = _client(users["finance_clerk"])
    # No worker has set up the schedule yet.
    page = _note(client.get(f"/transactions/{txn.pk}/").content.decode())
    assert page.startswith("Its day, 20 Nov 2026, is over: it is posted with that day's next daily summary")
    assert "manage.py close_day" in page

    # The worker's schedule runs the close in seven minutes.
    due = timezone.now() + timedelta(minutes=7)
    Schedule.objects.create(func=CLOSE_TASK, schedule_type=Schedule.MINUTES, minutes=10, next_run=due)
    expected = f"at the next daily close after {due.astimezone(LONDON):%H:%M on %d %b %Y} (Europe/London)."
    assert _note(client.get(f"/transactions/{txn.pk}/").content.decode()).endswith(expected)
    listed = client.get("/transactions/?status=summarised").content.decode()
    assert _note(listed).endswith(expected)

    # The worker stopped: the close is twenty minutes overdue.
    Schedule.objects.filter(func=CLOSE_TASK).update(next_run=timezone.now() - timedelta(minutes=20))
    assert "has not run: check that the worker is running" in _note(
        client.get(f"/transactions/{txn.pk}/").content.decode()
    )


def test_a_sale_of_today_posts_after_its_day_ends(ledger: Any, post_event: Any, users: Any) -> None:
    make_channel(ledger, slug="shop", mode=PostingMode.DAILY_SUMMARY)
    now = timezone.now()
    post_event("shop", sale_event("S-TODAY", occurred_at=now.isoformat()))
    txn = Transaction.objects.get(external_id="S-TODAY")
    assert txn.status == TransactionStatus.SUMMARISED
    today = now.astimezone(LONDON).date()
    midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=LONDON)
    note = _note(_client(users["auditor"]).get(f"/transactions/{txn.pk}/").content.decode())
    assert note == (
        f"Posted with the daily summary of {today:%d %b %Y}: at the first daily close after its day ends, "
        f"after {midnight:%H:%M on %d %b %Y} (Europe/London)."
    )


def test_per_transaction_sales_carry_no_such_note(channel: Any, post_event: Any, users: Any) -> None:
    post_event("till", sale_event("S-OWN"))
    html = _client(users["auditor"]).get("/transactions/").content.decode()
    assert 'data-when="daily-close"' not in html
