"""The first screens: today's dashboard, transactions, a transaction's whole story, postings, books."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from integrator.choices import EventStatus, PostingState, TransactionStatus
from integrator.models import (
    Channel,
    InboundEvent,
    JournalEntry,
    LedgerConnection,
    Posting,
    Transaction,
)
from integrator.services import books
from integrator.services.posting import replay_posting

__all__ = [
    "books_export",
    "dashboard",
    "posting_list",
    "posting_replay",
    "transaction_detail",
    "transaction_list",
    "trial_balance",
]


def _stage_counts() -> list[dict[str, Any]]:
    events = dict(InboundEvent.objects.values_list("status").annotate(n=Count("id")).order_by())
    txns = dict(Transaction.objects.values_list("status").annotate(n=Count("id")).order_by())
    posts = dict(Posting.objects.values_list("state").annotate(n=Count("id")).order_by())
    return [
        {"stage": "Received", "count": sum(events.values()), "detail": f"{events.get(EventStatus.QUARANTINED, 0)} quarantined", "url": ""},
        {"stage": "Transactions", "count": sum(txns.values()), "detail": f"{txns.get(TransactionStatus.INVALID, 0)} invalid", "url": "transactions"},
        {"stage": "Needs mapping", "count": txns.get(TransactionStatus.NEEDS_MAPPING, 0), "detail": "held until a mapping is approved", "url": "transactions?status=needs_mapping"},
        {"stage": "Waiting to post", "count": posts.get(PostingState.PENDING, 0) + posts.get(PostingState.SENDING, 0) + posts.get(PostingState.UNCERTAIN, 0), "detail": f"{posts.get(PostingState.UNCERTAIN, 0)} being checked", "url": "postings?state=pending"},
        {"stage": "Posted", "count": posts.get(PostingState.POSTED, 0), "detail": "in the ledger", "url": "postings?state=posted"},
        {"stage": "Held / dead letter", "count": posts.get(PostingState.HELD, 0) + posts.get(PostingState.DEAD, 0), "detail": "need a person", "url": "postings?state=dead"},
    ]  # fmt: skip


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Counts per pipeline stage, postings needing attention, recent transactions with journals."""
    recent = (
        Transaction.objects.select_related("channel")
        .prefetch_related("journal_entries__lines__account")
        .order_by("-created_at")[:15]
    )
    attention = (
        Posting.objects.filter(state__in=[PostingState.DEAD, PostingState.HELD])
        .select_related("entry", "connection")
        .order_by("-updated_at")[:10]
    )
    channels = Channel.objects.annotate(
        n=Count("transactions"),
        held=Count("transactions", filter=Q(transactions__status=TransactionStatus.NEEDS_MAPPING)),
    )
    return render(
        request,
        "integrator/dashboard.html",
        {"stages": _stage_counts(), "recent": recent, "attention": attention, "channels": channels},
    )


@login_required
def transaction_list(request: HttpRequest) -> HttpResponse:
    """Transactions, filterable by status, channel and kind, newest first."""
    qs = Transaction.objects.select_related("channel").order_by("-occurred_at")
    for name in ("status", "kind"):
        if request.GET.get(name):
            qs = qs.filter(**{name: request.GET[name]})
    if request.GET.get("channel"):
        qs = qs.filter(channel__slug=request.GET["channel"])
    if request.GET.get("q"):
        q = request.GET["q"].strip()
        qs = qs.filter(
            Q(number__icontains=q)
            | Q(external_id__icontains=q)
            | Q(total=q if q.replace(".", "", 1).isdigit() else None)
        )
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "integrator/transaction_list.html",
        {
            "page": page,
            "statuses": TransactionStatus.choices,
            "channels": Channel.objects.all(),
            "filters": request.GET,
        },
    )


@login_required
def transaction_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """Raw event -> canonical document -> journal (rule per line) -> postings and attempts."""
    txn = get_object_or_404(Transaction.objects.select_related("channel", "sale"), pk=pk)
    entries = (
        JournalEntry.objects.filter(transaction=txn)
        .select_related("mapping_version", "posting", "reverses")
        .prefetch_related("lines__account", "lines__mapping_rule", "lines__tax_code", "posting__attempt_rows")
        .order_by("created_at")
    )
    return render(
        request,
        "integrator/transaction_detail.html",
        {
            "txn": txn,
            "events": txn.events.order_by("received_at"),
            "entries": entries,
            "refunds": txn.refunds.all(),
        },
    )


@login_required
def posting_list(request: HttpRequest) -> HttpResponse:
    """Postings by state; dead letters and held postings can be replayed."""
    qs = Posting.objects.select_related("entry", "connection").order_by("-created_at")
    state = request.GET.get("state")
    if state == "dead":
        qs = qs.filter(state__in=[PostingState.DEAD, PostingState.HELD])
    elif state == "pending":
        qs = qs.filter(state__in=[PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN])
    elif state:
        qs = qs.filter(state=state)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "integrator/posting_list.html", {"page": page, "state": state or ""})


@login_required
@require_POST
@permission_required("integrator.change_posting", raise_exception=True)
def posting_replay(request: HttpRequest, pk: str) -> HttpResponse:
    """Replay a dead-lettered or held posting (it is looked up first: never a second document)."""
    posting = get_object_or_404(Posting, pk=pk)
    try:
        replay_posting(posting, actor=request.user)
        messages.success(
            request,
            f"Posting {posting.entry.reference} queued again; it will be looked up before any re-send.",
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect(request.POST.get("next") or "postings")


@login_required
def trial_balance(request: HttpRequest, pk: str) -> HttpResponse:
    """Trial balance of a built-in ledger connection."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    rows = books.trial_balance(connection)
    totals: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = totals.setdefault(r.currency, {"debit": 0, "credit": 0})
        t["debit"] += r.debit
        t["credit"] += r.credit
    return render(
        request, "integrator/trial_balance.html", {"connection": connection, "rows": rows, "totals": totals}
    )


@login_required
def books_export(request: HttpRequest, pk: str, fmt: str) -> HttpResponse:
    """Download the built-in ledger as CSV, XLSX or Beancount."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    if fmt == "csv":
        response = HttpResponse(books.export_csv(connection), content_type="text/csv")
    elif fmt == "xlsx":
        response = HttpResponse(
            books.export_xlsx(connection),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    elif fmt == "beancount":
        response = HttpResponse(books.export_beancount(connection), content_type="text/plain; charset=utf-8")
    else:
        return HttpResponse("unknown format", status=404)
    response["Content-Disposition"] = f'attachment; filename="ledger-{connection.pk}.{fmt}"'
    return response
