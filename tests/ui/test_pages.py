"""Object pages and the frame around them: dashboard, a transaction's story, a posting's attempts,
search, navigation, job progress, reports and connection health."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from integrator.choices import PostingState, TransactionStatus
from integrator.models import AuditEvent, IntegrationCall, LedgerConnection, Posting, Transaction
from integrator.templatetags.navigation import NAV
from tests.api import factories as f
from tests.conftest import make_channel, sale_event

SCREENS = ["/", "/transactions/", "/journal/", "/inbox/", "/postings/", "/reports/", "/connections/", "/jobs/",
           "/search/?q=1"]  # fmt: skip


@pytest.fixture
def booked(api_env: Any) -> Transaction:
    """A sale that went the whole way through the webhook, journal and built-in ledger."""
    api_env.post("till", sale_event("S-UI-1"))
    return Transaction.objects.get(external_id="S-UI-1")


@pytest.mark.parametrize("url", SCREENS)
def test_screens_need_a_login_and_a_role(url: str, client: Client, api_env: Any, nobody: Any) -> None:
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(nobody)
    assert client.get(url).status_code in (200, 403)  # the frame itself may load; the lists refuse
    if url not in ("/", "/search/?q=1"):
        assert client.get(url).status_code == 403


def test_dashboard_numbers_link_to_their_filtered_lists(client: Client, users: Any, booked: Transaction,
                                                        api_env: Any) -> None:  # fmt: skip
    dead = f.make_postings(api_env.channel, 2, state=PostingState.DEAD)
    client.force_login(users["finance_clerk"])
    html = client.get("/").content.decode()
    card = re.search(r'<a class="card bad" href="([^"]+)" data-stage="Dead letters and held">.*?<div class="n">(\d+)',
                     html, re.S)  # fmt: skip
    assert card and card.group(2) == "2"
    listed = client.get(card.group(1).replace("&amp;", "&")).content.decode()
    assert all(p.entry.reference in listed for p in dead) and booked.number not in listed
    assert 'data-stage="Posted"' in html and "S-UI-1" in html
    assert "Cr 4000 120.00" in html and "Dr 1100 144.00" in html
    for p in dead:
        assert p.entry.reference in html  # "Postings that need a person", with a Replay button
    assert html.count('action="/postings/') >= 2


def test_dashboard_charts_come_from_embedded_json_per_channel(
    client: Client, users: Any, booked: Transaction
) -> None:
    client.force_login(users["auditor"])
    html = client.get("/").content.decode()
    assert "/static/vendor/chartjs/chart.umd.min.js" in html and "cdn" not in html.lower()
    data = json.loads(
        re.search(r'<script id="chart-sales-1" type="application/json">(.*?)</script>', html).group(1)
    )
    assert data["currency"] == "GBP" and len(data["labels"]) == 30
    assert data["sales"][-1] == "0.00" or "144.00" in data["sales"]
    assert "144.00" in data["posted"]
    lag = json.loads(
        re.search(r'<script id="chart-lag" type="application/json">(.*?)</script>', html).group(1)
    )
    assert lag["labels"] == ["Channel till"] and lag["hours"] == [0.0]


def test_dashboard_shows_open_reconciliation_exceptions_or_says_it_is_not_installed(
    client: Client, users: Any, api_env: Any
) -> None:
    client.force_login(users["auditor"])
    html = client.get("/").content.decode()
    assert "No open exceptions." in html or "Reconciliation is not installed." in html


def test_transaction_page_tells_the_whole_story(client: Client, users: Any, booked: Transaction) -> None:
    client.force_login(users["auditor"])
    html = client.get(f"/transactions/{booked.pk}/").content.decode()
    posting = Posting.objects.get(entry__transaction=booked)
    for part in ("1. Raw events", "2. Canonical document", "3. Journal", "4. Posting", "5. In the ledger",
                 "6. Reconciliation", "sale.completed", "Kente", "revenue category=textiles", "BK-000001",
                 posting.idempotency_key, f'href="/postings/{posting.pk}/"'):  # fmt: skip
        assert part in html, part
    assert "Try again</button>" not in html  # posted, and auditors change nothing


def test_a_held_transaction_can_be_tried_again_once_mapped(client: Client, users: Any, api_env: Any) -> None:
    from datetime import date

    from integrator.models import MappingSet
    from integrator.services.mappings import activate_version, create_version
    from tests.conftest import standard_rules

    channel = make_channel(api_env.ledger, slug="late", mapped=False)
    api_env.post("late", sale_event("S-LATE"))
    txn = Transaction.objects.get(channel=channel)
    client.force_login(users["finance_clerk"])
    html = client.get(f"/transactions/{txn.pk}/").content.decode()
    assert "Waiting for a mapping:" in html and "Try again</button>" in html
    still = client.post(f"/transactions/{txn.pk}/retry/", follow=True).content.decode()
    assert "Still needs mapping" in still
    ms = MappingSet.objects.create(channel=channel, connection=api_env.ledger)
    activate_version(
        create_version(ms, effective_from=date(2020, 1, 1), rules=standard_rules(api_env.ledger))
    )
    done = client.post(f"/transactions/{txn.pk}/retry/", follow=True).content.decode()
    assert "is now journaled" in done
    assert Transaction.objects.get(pk=txn.pk).status == TransactionStatus.JOURNALED
    assert AuditEvent.objects.filter(
        action="transaction.journaled", object_id=str(txn.pk), actor__isnull=False
    ).exists()
    client.force_login(users["auditor"])
    assert client.post(f"/transactions/{txn.pk}/retry/").status_code == 403


def test_posting_page_shows_attempts_redacted_and_replays(client: Client, users: Any, api_env: Any) -> None:
    dead = f.make_postings(api_env.channel, 1, state=PostingState.DEAD, attempts=2)[0]
    IntegrationCall.objects.create(vendor="builtin", method="POST", url="http://127.0.0.1/x", status=400,
                                   idempotency_key=dead.idempotency_key, request_body={"password": "hunter2"},
                                   response_body={"error": "archived"})  # fmt: skip
    client.force_login(users["finance_clerk"])
    html = client.get(f"/postings/{dead.pk}/").content.decode()
    assert "Dead letter." in html and "Account 4000 is archived" in html and "#2" in html
    assert "s3cret" not in html and "hunter2" not in html and "[redacted]" in html
    assert "Vendor calls with this key" in html and "archived" in html
    response = client.post(f"/postings/{dead.pk}/replay/", {"next": f"/postings/{dead.pk}/"}, follow=True)
    assert "Outcome uncertain." in response.content.decode()


def test_a_held_posting_can_be_moved_to_an_open_day(client: Client, users: Any, api_env: Any) -> None:
    api_env.ledger.lock_date = timezone.localdate() - timedelta(days=1)
    api_env.ledger.save(update_fields=["lock_date"])
    held = f.make_postings(api_env.channel, 1, state=PostingState.HELD)[0]
    client.force_login(users["finance_clerk"])
    html = client.get(f"/postings/{held.pk}/").content.decode()
    assert "Post on another day" in html
    closed = client.post(
        f"/postings/{held.pk}/move/", {"date": api_env.ledger.lock_date.isoformat()}, follow=True
    )
    assert "still in the period closed" in closed.content.decode()
    day = timezone.localdate().isoformat()
    client.post(f"/postings/{held.pk}/move/", {"date": day})
    moved = Posting.objects.get(pk=held.pk)
    assert moved.state == PostingState.UNCERTAIN and moved.posting_date.isoformat() == day


def test_search_finds_numbers_references_and_amounts(client: Client, users: Any, booked: Transaction,
                                                     api_env: Any) -> None:  # fmt: skip
    client.force_login(users["auditor"])
    f.make_transactions(api_env.channel, 2)
    one = client.get("/search/", {"q": "BK-000001"})
    posting = Posting.objects.get(entry__transaction=booked)
    assert one.status_code == 302 and one["Location"] == f"/postings/{posting.pk}/"
    many = client.get("/search/", {"q": "144.00"}).content.decode()
    assert "Transactions" in many and "S-UI-1" in many and "Journal entries" in many
    assert 'value="144.00"' in many  # the box keeps the query
    nothing = client.get("/search/", {"q": "zzz-none"}).content.decode()
    assert "Nothing found for “zzz-none”" in nothing


def test_navigation_by_task_with_honest_empty_states(client: Client, users: Any, api_env: Any) -> None:
    client.force_login(users["auditor"])
    html = client.get("/transactions/").content.decode()
    labels = re.findall(
        r"<span>([A-Z][a-z]+(?: [a-z]+)*)</span>", html.split('<ul class="nav">')[1].split("</ul>")[0]
    )
    assert labels == [item.label for item in NAV]
    assert re.search(r'href="/transactions/" aria-current="page"', html)
    inventory = client.get("/sections/inventory/")  # the section has its screens now (issue 12)
    assert inventory.status_code == 302 and inventory["Location"] == "/inventory/"
    for item in NAV:
        url = re.search(
            rf'<a href="([^"]+)"[^>]*>\s*<svg[^>]*>.*?</svg>\s*<span>{item.label}</span>', html, re.S
        )
        assert url, item.label
        response = client.get(url.group(1), follow=True)
        assert response.status_code == 200, (item.label, url.group(1), response.status_code)
    assert client.get("/sections/nope/").status_code == 404


def test_job_progress_polls_while_running_and_stops_when_done(
    client: Client, users: Any, api_env: Any
) -> None:
    running = f.make_jobs(1, status="running")[0]
    client.force_login(users["auditor"])
    fragment = client.get(f"/jobs/{running.pk}/progress/").content.decode()
    assert f'hx-get="/jobs/{running.pk}/progress/"' in fragment and 'hx-trigger="every 1s"' in fragment
    assert 'role="progressbar"' in fragment and 'aria-valuenow="0"' in fragment
    strip = client.get("/jobs/running/").content.decode()
    assert running.description in strip
    running.status, running.done, running.total = "done", 4, 4
    running.save()
    done = client.get(f"/jobs/{running.pk}/progress/").content.decode()
    assert "hx-trigger" not in done and 'aria-valuenow="100"' in done
    assert client.get("/jobs/running/").content.decode().strip() == ""
    page = client.get(f"/jobs/{running.pk}/").content.decode()
    assert running.description in page and "/static/vendor/htmx/htmx.min.js" in page


def test_reports_of_the_built_in_ledger(
    client: Client, users: Any, booked: Transaction, api_env: Any
) -> None:
    client.force_login(users["auditor"])
    pk = api_env.ledger.pk
    assert "Trial balance" in client.get("/reports/").content.decode()
    tb = client.get(f"/books/{pk}/trial-balance/").content.decode()
    assert "144.00" in tb and "balanced" in tb
    gl = client.get(f"/books/{pk}/general-ledger/", {"account": "1100"}).content.decode()
    assert "BK-000001" in gl and "1\u20131 of 1 lines" in gl
    assert client.get(f"/books/{pk}/export.csv").status_code == 200


def test_connection_health_shows_expiry_last_call_and_budget(
    client: Client, users: Any, api_env: Any
) -> None:
    soon = (timezone.now() + timedelta(days=2)).isoformat()
    xero = LedgerConnection.objects.create(
        platform="xero", name="Xero books", functional_currency="GBP",
        credentials={"client_id": "c", "client_secret": "topsecret", "access_token": "a", "refresh_token": "r",
                     "expires_at": soon, "refresh_expires_at": soon, "tenant_id": "tenant-1"},
    )  # fmt: skip
    IntegrationCall.objects.create(
        vendor="xero", connection_key="tenant-1", method="GET", url="http://x/", status=200
    )
    IntegrationCall.objects.create(
        vendor="xero", connection_key="tenant-1", method="PUT", url="http://x/", status=500
    )
    client.force_login(users["auditor"])
    html = client.get("/connections/").content.decode()
    assert "Xero books" in html and "authorisation expires soon" in html and "1 failed call in 24 h" in html
    assert "4,998 / 5,000" in html and "topsecret" not in html
    detail = client.get(f"/connections/ledgers/{xero.pk}/").content.decode()
    assert "Authorisation expires in" in detail and "4,998 of 5,000 today" in detail
    dashboard = client.get("/").content.decode()
    assert re.search(r"\d+ needs? attention", dashboard) and "authorisation expires in" in dashboard
