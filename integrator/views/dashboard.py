"""Today: where the day's sales are on the spine, what needs a person, and how connections are doing.

Every number links to the filtered list behind it. Charts are drawn by the locally served Chart.js
from JSON embedded with ``json_script`` (no inline script). The page costs a fixed number of
queries whatever the volume: everything is grouped in the database.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.db.models import Case, Count, Max, Min, Prefetch, Q, Sum, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from integrator import money
from integrator.choices import EventStatus, PostingState, TransactionKind, TransactionStatus
from integrator.models import Channel, InboundEvent, JournalEntry, JournalLine, Posting, Transaction
from integrator.views.connections import connection_health
from integrator.views.transactions import status_counts

__all__ = ["dashboard", "sales_vs_posted", "sync_lag"]

CHART_DAYS = 30
RECENT = 8
SALE_KINDS = (TransactionKind.SALE, TransactionKind.INVOICE)
NOT_IN_LEDGER = [s for s in TransactionStatus.values if s != TransactionStatus.POSTED]


def _link(name: str, **params: Any) -> str:
    query = urlencode(
        [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list | tuple) else [vs])]
    )
    return reverse(name) + (f"?{query}" if query else "")


def stage_cards() -> list[dict[str, Any]]:
    """The spine at a glance: one grouped count per table, each card linking to its list."""
    since = timezone.now() - timedelta(hours=24)
    events = InboundEvent.objects.aggregate(
        day=Count("id", filter=Q(received_at__gte=since)),
        quarantined=Count("id", filter=Q(status=EventStatus.QUARANTINED)),
        failed=Count("id", filter=Q(status=EventStatus.FAILED)),
    )
    txns = status_counts()
    posts = dict(Posting.objects.values_list("state").annotate(n=Count("id")).order_by())
    waiting = [PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN]
    person = [PostingState.DEAD, PostingState.HELD]
    return [
        {"key": "received", "label": "Received (24 h)", "count": events["day"],
         "detail": f"{events['quarantined']} quarantined · {events['failed']} failed", "url": _link("inbox"),
         "tone": "bad" if events["quarantined"] else ""},
        {"key": "needs_mapping", "label": "Needs mapping", "count": txns.get(TransactionStatus.NEEDS_MAPPING, 0),
         "detail": "held until a mapping is approved", "url": _link("transactions", status="needs_mapping"),
         "tone": "warn" if txns.get(TransactionStatus.NEEDS_MAPPING) else ""},
        {"key": "needs_rate", "label": "Needs a rate", "count": txns.get(TransactionStatus.NEEDS_RATE, 0),
         "detail": "held until an exchange rate exists", "url": _link("transactions", status="needs_rate"),
         "tone": "warn" if txns.get(TransactionStatus.NEEDS_RATE) else ""},
        {"key": "invalid", "label": "Invalid", "count": txns.get(TransactionStatus.INVALID, 0),
         "detail": "totals or references do not add up", "url": _link("transactions", status="invalid"),
         "tone": "bad" if txns.get(TransactionStatus.INVALID) else ""},
        {"key": "waiting", "label": "Waiting to post", "count": sum(posts.get(s, 0) for s in waiting),
         "detail": f"{posts.get(PostingState.UNCERTAIN, 0)} being checked with the ledger",
         "url": _link("postings", state=waiting), "tone": ""},
        # Transactions, as on the transactions list: a daily summary of 40 sales is 40 posted sales.
        {"key": "posted", "label": "Posted", "count": txns.get(TransactionStatus.POSTED, 0),
         "detail": f"in {posts.get(PostingState.POSTED, 0)} ledger documents",
         "url": _link("transactions", status=TransactionStatus.POSTED), "tone": "ok"},
        {"key": "attention", "label": "Dead letters and held", "count": sum(posts.get(s, 0) for s in person),
         "detail": "need a person", "url": _link("postings", state=person),
         "tone": "bad" if sum(posts.get(s, 0) for s in person) else ""},
    ]  # fmt: skip


def sales_vs_posted(today: date, days: int = CHART_DAYS) -> list[dict[str, Any]]:
    """Per channel, per business day: sales (and B2B invoices) and the part already in the ledger.

    Amounts stay in each channel's own currency (never summed across currencies), so there is one
    small chart per channel.
    """
    start = today - timedelta(days=days - 1)
    labels = [start + timedelta(days=i) for i in range(days)]
    rows = (
        Transaction.objects.filter(kind__in=SALE_KINDS, business_date__gte=start, business_date__lte=today)
        .values("channel_id", "business_date")
        .annotate(
            sales=Sum("total"), posted=Sum("total", filter=Q(status=TransactionStatus.POSTED)), n=Count("id")
        )
        .order_by()
    )
    by_channel: dict[Any, dict[date, dict[str, Any]]] = {}
    for r in rows:
        by_channel.setdefault(r["channel_id"], {})[r["business_date"]] = dict(r)
    charts = []
    for i, channel in enumerate(Channel.objects.filter(active=True).order_by("name"), start=1):
        days_of = by_channel.get(channel.pk, {})
        cur = channel.currency
        sales = [money.quantize(days_of.get(d, {}).get("sales") or Decimal(0), cur) for d in labels]
        posted = [money.quantize(days_of.get(d, {}).get("posted") or Decimal(0), cur) for d in labels]
        charts.append({
            "channel": channel, "currency": cur, "total_sales": sum(sales, Decimal(0)),
            "total_posted": sum(posted, Decimal(0)), "not_posted": sum(sales, Decimal(0)) - sum(posted, Decimal(0)),
            "chart_id": f"chart-sales-{i}", "count": sum(int(r.get("n", 0)) for r in days_of.values()),
            "url": _link("transactions", channel=channel.slug, kind=list(SALE_KINDS), business_date_after=start.isoformat()),
            "data": {"labels": [d.strftime("%d %b") for d in labels],
                     # Decimals travel as exact strings; Chart.js reads numeric strings.
                     "sales": [str(v) for v in sales], "posted": [str(v) for v in posted],
                     "currency": cur},
        })  # fmt: skip
    return charts


def sync_lag(now: Any = None) -> list[dict[str, Any]]:
    """Per channel: last event received, last back-fill, and how far behind the ledger is (the age
    of the oldest transaction not yet in it)."""
    now = now or timezone.now()
    last_event = dict(
        InboundEvent.objects.values_list("channel_id").annotate(m=Max("received_at")).order_by()
    )
    behind = {
        r["channel_id"]: r
        for r in Transaction.objects.filter(status__in=NOT_IN_LEDGER)
        .values("channel_id")
        .annotate(oldest=Min("occurred_at"), n=Count("id"))
        .order_by()
    }
    out = []
    for channel in Channel.objects.filter(active=True).order_by("name"):
        b = behind.get(channel.pk)
        oldest = b["oldest"] if b else None
        hours = round((now - oldest).total_seconds() / 3600, 1) if oldest else 0.0
        out.append({
            "channel": channel, "last_event": last_event.get(channel.pk), "last_sync": channel.last_synced_at,
            "oldest_unposted": oldest, "unposted": b["n"] if b else 0, "hours_behind": max(hours, 0.0),
            "url": _link("transactions", channel=channel.slug, status=NOT_IN_LEDGER),
        })  # fmt: skip
    return out


def _exception_url(**params: Any) -> str:
    for name in ("reconciliation:exceptions",):
        try:
            base = reverse(name)
        except NoReverseMatch:
            continue
        return base + (f"?{urlencode(params)}" if params else "")
    return reverse("section", args=["reconciliation"])


def open_exceptions() -> dict[str, Any] | None:
    """Open reconciliation exceptions by kind, or None when the reconciliation app has no such model."""
    try:
        model = apps.get_model("reconciliation", "ReconciliationException")
    except LookupError:
        return None
    choices = dict(model._meta.get_field("kind").choices or [])
    rows = model.objects.filter(status="open").values_list("kind").annotate(n=Count("id")).order_by("-n")
    kinds = [{"kind": k, "label": choices.get(k, k), "count": n, "url": _exception_url(status="open", kind=k)}
             for k, n in rows]  # fmt: skip
    try:
        runs = apps.get_model("reconciliation", "ReconciliationRun")
        last_run = runs.objects.filter(status="done").order_by("-finished_at").first()
    except LookupError:
        last_run = None
    return {
        "kinds": kinds,
        "last_run": last_run,
        "total": sum(k["count"] for k in kinds),
        "url": _exception_url(status="open"),
        "data": {"labels": [k["label"] for k in kinds], "counts": [k["count"] for k in kinds]},
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The Today page."""
    now = timezone.now()
    today = timezone.localdate(now)
    charts = sales_vs_posted(today)
    lag = sync_lag(now)
    attention = (
        Posting.objects.filter(state__in=[PostingState.DEAD, PostingState.HELD])
        .select_related("entry", "connection")
        .order_by("-updated_at")[:8]
    )
    health = connection_health(now)
    recent = (
        Transaction.objects.select_related("channel")
        .prefetch_related(
            Prefetch(
                "journal_entries",
                queryset=JournalEntry.objects.prefetch_related(
                    # Debits first: the preview shows four lines, and a sale's one debit (what was
                    # paid) would otherwise hide behind its revenue and tax credits.
                    Prefetch(
                        "lines",
                        queryset=JournalLine.objects.select_related("account").order_by(
                            Case(When(debit__gt=0, then=0), default=1), "position"
                        ),
                    )
                ),
            )
        )
        .order_by("-occurred_at", "-pk")[:RECENT]
    )
    context = {
        "cards": stage_cards(),
        "charts": charts,
        "lag": lag,
        "lag_height": 40 + 34 * max(1, len(lag)),
        "recent": recent,
        "lag_chart": {
            "labels": [r["channel"].name for r in lag],
            "hours": [r["hours_behind"] for r in lag],
        },
        "exceptions": open_exceptions(),
        "attention": attention,
        "attention_url": _link("postings", state=[PostingState.DEAD, PostingState.HELD]),
        "health": health,
        "health_problems": sum(1 for h in health if h.level != "ok"),
        "chart_days": CHART_DAYS,
        "today": today,
    }
    return render(request, "integrator/dashboard.html", context)
