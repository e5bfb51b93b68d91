"""Postings (the outbox): the list, one posting with its attempts, and the actions on it."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from connectors.http import redact
from integrator.choices import PostingState
from integrator.filters import PostingFilterSet
from integrator.models import IntegrationCall, Posting
from integrator.services.posting import move_held_posting, replay_posting
from integrator.tables import PostingTable
from integrator.views.lists import ObjectListView

__all__ = ["PostingListView", "posting_detail", "posting_move", "posting_replay"]

TABS: tuple[tuple[str, list[str]], ...] = (
    ("All", []),
    ("Waiting", [PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN]),
    ("Posted", [PostingState.POSTED]),
    ("Held", [PostingState.HELD]),
    ("Dead letters", [PostingState.DEAD]),
)


class PostingListView(ObjectListView):
    """Every posting; dead letters and held postings can be replayed from the list."""

    permission_required = "integrator.view_posting"
    queryset = Posting.objects.select_related("entry", "entry__channel", "connection")
    filterset_class = PostingFilterSet
    table_class = PostingTable
    template_name = "integrator/posting_list.html"
    title = "Postings"
    export_name = "postings"
    filter_bar = ("q", "state", "channel", "posting_date")

    def extra_context(self, request: HttpRequest) -> dict[str, Any]:
        """State tabs with counts (one grouped query)."""
        counts = dict(Posting.objects.values_list("state").annotate(n=Count("id")).order_by())
        chosen = sorted(request.GET.getlist("state"))
        tabs = []
        for label, states in TABS:
            query = "&".join(f"state={s}" for s in states)
            tabs.append({"label": label, "query": query, "current": sorted(states) == chosen,
                         "count": sum(counts.get(s, 0) for s in states) if states else sum(counts.values())})  # fmt: skip
        return {"tabs": tabs, "can_replay": request.user.has_perm("integrator.change_posting")}


@login_required
@permission_required("integrator.view_posting", raise_exception=True)
def posting_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """A posting: state, key, ledger document, every attempt with what was sent and what came
    back (redacted), and the vendor calls made with its idempotency key."""
    posting = get_object_or_404(
        Posting.objects.select_related("entry", "entry__channel", "entry__transaction", "connection"), pk=pk
    )
    attempts = [
        {"row": a, "request": redact(a.request) if a.request is not None else None,
         "response": redact(a.response) if a.response is not None else None}
        for a in posting.attempt_rows.order_by("number")
    ]  # fmt: skip
    calls = [
        {"row": c, "request": redact(c.request_body), "response": redact(c.response_body)}
        for c in IntegrationCall.objects.filter(idempotency_key=posting.idempotency_key).order_by(
            "created_at"
        )[:50]
    ]
    return render(
        request,
        "integrator/posting_detail.html",
        {
            "posting": posting,
            "entry": posting.entry,
            "lines": posting.entry.lines.select_related("account").order_by("position"),
            "totals": posting.entry.lines.aggregate(debit=Sum("debit"), credit=Sum("credit")),
            "attempts": attempts,
            "calls": calls,
            "can_act": request.user.has_perm("integrator.change_posting"),
            "replayable": posting.state in (PostingState.DEAD, PostingState.HELD),
            "lock_date": posting.connection.effective_lock_date(),
        },
    )


def _back(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


@login_required
@require_POST
@permission_required("integrator.change_posting", raise_exception=True)
def posting_replay(request: HttpRequest, pk: str) -> HttpResponse:
    """Replay a dead-lettered or held posting (it is looked up first: never a second document)."""
    posting = get_object_or_404(Posting.objects.select_related("entry"), pk=pk)
    try:
        replay_posting(posting, actor=request.user)
        messages.success(
            request,
            f"Posting {posting.entry.reference} queued again; the ledger is checked for it before any re-send.",
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect(_back(request, reverse("posting-detail", args=[posting.pk])))


@login_required
@require_POST
@permission_required("integrator.change_posting", raise_exception=True)
def posting_move(request: HttpRequest, pk: str) -> HttpResponse:
    """Release a posting held for a closed period on a new, open date."""
    posting = get_object_or_404(Posting.objects.select_related("entry"), pk=pk)
    if posting.state != PostingState.HELD:
        messages.error(request, "Only a posting held for a closed period can be moved to another date.")
        return redirect("posting-detail", pk=posting.pk)
    try:
        new_date = date.fromisoformat(request.POST.get("date", ""))
    except ValueError:
        messages.error(request, "Choose the date to post on.")
        return redirect("posting-detail", pk=posting.pk)
    try:
        move_held_posting(posting, new_date, actor=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, f"Posting {posting.entry.reference} will be posted on {new_date:%d %b %Y}.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("posting-detail", pk=posting.pk)
