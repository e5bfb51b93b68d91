"""Global search: an order number, a document number or an amount, across transactions, journal
entries and postings. Uses the same ``q`` filters as the lists, so a result set here is one click
from the full filtered list."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from integrator.filters import (
    JournalEntryFilterSet,
    PostingFilterSet,
    TransactionFilterSet,
    parse_amount_query,
)
from integrator.models import JournalEntry, Posting, Transaction
from integrator.views.transactions import with_amount

__all__ = ["search"]

LIMIT = 20


def _one_document(hits: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A ledger document's number finds its posting, and through it its journal entry and its
    transaction: when every hit is one posting's chain, the posting alone is the answer."""
    postings = [row for key, row in hits if key == "postings"]
    if len(postings) != 1:
        return hits
    posting = postings[0]
    chain = {
        ("postings", posting.pk),
        ("journal", posting.entry_id),
        ("transactions", posting.entry.transaction_id),
    }
    if all((key, row.pk) in chain for key, row in hits):
        return [("postings", posting)]
    return hits


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Results grouped by kind; a single hit opens that object directly."""
    q = request.GET.get("q", "").strip()
    groups: list[dict[str, Any]] = []
    if q:
        params = {"q": q}
        user = request.user
        if user.has_perm("integrator.view_transaction"):
            txns = TransactionFilterSet(params, queryset=Transaction.objects.select_related("channel")).qs
            groups.append({"key": "transactions", "label": "Transactions", "rows": list(txns.order_by("-occurred_at")[:LIMIT]),
                           "all_url": reverse("transactions") + "?" + urlencode(params)})  # fmt: skip
        if user.has_perm("integrator.view_journalentry"):
            entries = JournalEntryFilterSet(
                params,
                queryset=with_amount(JournalEntry.objects.select_related("channel")),
            ).qs
            groups.append({"key": "journal", "label": "Journal entries", "rows": list(entries.order_by("-date")[:LIMIT]),
                           "all_url": reverse("journal") + "?" + urlencode(params)})  # fmt: skip
        if user.has_perm("integrator.view_posting"):
            postings = PostingFilterSet(
                params, queryset=Posting.objects.select_related("entry", "connection")
            ).qs
            groups.append({"key": "postings", "label": "Postings", "rows": list(postings.order_by("-created_at")[:LIMIT]),
                           "all_url": reverse("postings") + "?" + urlencode(params)})  # fmt: skip
        hits: list[tuple[str, Any]] = [(str(g["key"]), row) for g in groups for row in g["rows"]]
        hits = _one_document(hits)
        if len(hits) == 1 and request.GET.get("all") != "1":
            key, row = hits[0]
            target = {
                "transactions": "transaction-detail",
                "journal": "journal-detail",
                "postings": "posting-detail",
            }
            return redirect(target[key], pk=row.pk)
    context = {
        "q": q,
        "search_q": q,
        "groups": groups,
        "total": sum(len(g["rows"]) for g in groups),
        "is_amount": parse_amount_query(q) is not None,
    }
    return render(request, "integrator/search.html", context)
