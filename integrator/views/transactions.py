"""Transactions, their whole story, journal entries and the inbox."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Case, Count, DecimalField, F, Prefetch, QuerySet, Sum, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from integrator.choices import EntryKind, TransactionStatus
from integrator.filters import InboundEventFilterSet, JournalEntryFilterSet, TransactionFilterSet
from integrator.models import InboundEvent, JournalEntry, JournalLine, Posting, Transaction
from integrator.services.pipeline import advance_transaction
from integrator.tables import InboundEventTable, JournalEntryTable, TransactionTable
from integrator.views.documents import document_breakdown
from integrator.views.lists import ObjectListView
from integrator.views.mapping_scope import fix_suggestions
from integrator.views.waiting import awaiting_close, close_note, next_close_run

__all__ = [
    "InboxView",
    "JournalEntryListView",
    "TransactionListView",
    "journal_entry_detail",
    "status_counts",
    "transaction_detail",
    "transaction_retry",
    "with_amount",
]

RETRYABLE = (
    TransactionStatus.INVALID,
    TransactionStatus.NEEDS_MAPPING,
    TransactionStatus.NEEDS_RATE,
    TransactionStatus.RECEIVED,
)


def status_counts() -> dict[str, int]:
    """Transactions per status (one grouped query): the one count behind the transactions list's
    tabs and Today's cards, so "posted" means the same number everywhere."""
    return dict(Transaction.objects.values_list("status").annotate(n=Count("id")).order_by())


def with_amount(entries: QuerySet[JournalEntry]) -> QuerySet[JournalEntry]:
    """Journal entries annotated with ``amount``, what the entry is worth in words a clerk uses: the
    transaction's own total for the entry of its current revision (a sale's total, a payout's bank
    deposit), else (daily summaries, reversals, older revisions) the total of the debits."""
    return entries.annotate(debits=Sum("lines__debit")).annotate(
        amount=Case(
            When(
                kind=EntryKind.TRANSACTION,
                transaction__isnull=False,
                transaction_revision=F("transaction__revision"),
                then=F("transaction__total"),
            ),
            default=F("debits"),
            output_field=DecimalField(max_digits=18, decimal_places=4),
        )
    )


class TransactionListView(ObjectListView):
    """Every canonical transaction, filterable by the shared TransactionFilterSet."""

    permission_required = "integrator.view_transaction"
    queryset = Transaction.objects.select_related("channel")
    filterset_class = TransactionFilterSet
    table_class = TransactionTable
    template_name = "integrator/transaction_list.html"
    title = "Transactions"
    export_name = "transactions"
    filter_bar = ("q", "channel", "kind", "status", "business_date")

    def get_queryset(self) -> QuerySet[Transaction]:
        """Every transaction, marked when it waits for its day's daily summary."""
        return awaiting_close(self.queryset.all())

    def prepare_page(self, request: HttpRequest, rows: list[Any]) -> None:
        """Say when a daily-summary transaction waiting for its day's close will be posted."""
        waiting = [row for row in rows if getattr(row, "awaiting_close", False)]
        if not waiting:
            return
        now, next_run = timezone.now(), next_close_run()
        for row in waiting:
            row.close_note = close_note(row, now=now, next_run=next_run)

    def extra_context(self, request: HttpRequest) -> dict[str, Any]:
        """Counts per status for the tabs (one grouped query)."""
        counts = status_counts()
        tabs = [{"value": "", "label": "All", "count": sum(counts.values())}]
        tabs += [
            {"value": v, "label": label, "count": counts.get(v, 0)} for v, label in TransactionStatus.choices
        ]
        return {"tabs": tabs, "current_status": request.GET.get("status", "")}


class JournalEntryListView(ObjectListView):
    """Our ledger of intent: every journal entry with its debit total and posting state."""

    permission_required = "integrator.view_journalentry"
    queryset = with_amount(JournalEntry.objects.select_related("channel", "mapping_version", "posting"))
    filterset_class = JournalEntryFilterSet
    table_class = JournalEntryTable
    template_name = "integrator/journal_list.html"
    title = "Journal entries"
    export_name = "journal-entries"
    filter_bar = ("q", "channel", "kind", "date")


class InboxView(ObjectListView):
    """The inbox: every event received or pulled, with what it became."""

    permission_required = "integrator.view_inboundevent"
    queryset = InboundEvent.objects.select_related("channel").prefetch_related(
        Prefetch("transactions", queryset=Transaction.objects.only("id", "kind", "number", "external_id"))
    )
    filterset_class = InboundEventFilterSet
    table_class = InboundEventTable
    template_name = "integrator/inbox.html"
    title = "Inbox"
    export_name = "inbox"
    filter_bar = ("q", "channel", "status", "received_at")

    def extra_context(self, request: HttpRequest) -> dict[str, Any]:
        """Whether this person may re-process events (integrator.views.recovery)."""
        return {"can_reprocess": request.user.has_perm("integrator.change_inboundevent")}


def _reconciliation_for(txn: Transaction) -> list[Any] | None:
    """Reconciliation exceptions about this transaction (None when that app has no such model)."""
    try:
        model = apps.get_model("reconciliation", "ReconciliationException")
    except LookupError:
        return None
    return list(model.objects.filter(transaction=txn).order_by("-day"))


def _reposts_for(txn: Transaction) -> list[Any]:
    """Re-postings (after past-dated mapping changes) that touched this transaction."""
    try:
        model = apps.get_model("integrator", "RepostResult")
    except LookupError:
        return []
    return list(model.objects.filter(transaction=txn).select_related("repost").order_by("-created_at"))


def _url_or_empty(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


_TAX_BASES = {
    "computed:line": "Computed by the channel's rule: tax rounded on each line (the sales system sent none)",
    "computed:document": (
        "Computed by the channel's rule: tax rounded once per rate on the whole ticket (the sales "
        "system sent none)"
    ),
}


def tax_basis(txn: Transaction) -> str:
    """Where a document's tax came from, in words: the tax the sales system charged (the books take
    it as charged), or the channel's rounding rule in force when the source sent none."""
    metadata = (txn.document or {}).get("metadata") or {}
    basis = str(metadata.get("tax_basis") or "source")
    return _TAX_BASES.get(basis, "As charged by the sales system")


@login_required
@permission_required("integrator.view_transaction", raise_exception=True)
def transaction_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """Raw event -> canonical document -> journal (rule per line) -> postings and attempts ->
    ledger document -> reconciliation status, with the actions that apply."""
    txn = get_object_or_404(
        Transaction.objects.select_related("channel", "channel__ledger_connection", "sale"), pk=pk
    )
    entries = list(
        JournalEntry.objects.filter(transaction=txn)
        .select_related("mapping_version", "posting", "reverses", "summary", "summary__posting", "connection")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=JournalLine.objects.select_related("account", "mapping_rule", "tax_code").order_by(
                    "position"
                ),
            ),
            "posting__attempt_rows",
        )
        .order_by("created_at")
    )
    waiting_for_close = any(
        e.kind == EntryKind.TRANSACTION
        and not e.superseded
        and not e.summary_id
        and not hasattr(e, "posting")
        for e in entries
        if e.transaction_revision == txn.revision
    )
    posted = [e for e in entries if hasattr(e, "posting") and e.posting.state == "posted"]
    summary_posted = [e.summary for e in entries if e.summary_id and hasattr(e.summary, "posting")]
    ledger_docs = [e.posting for e in posted] + [s.posting for s in summary_posted if s is not None]
    reconciliation = _reconciliation_for(txn)
    reposts = _reposts_for(txn)
    for r in reposts:
        r.url = _url_or_empty("mappings-repost", r.repost_id)
    context = {
        "txn": txn,
        "events": txn.events.order_by("received_at"),
        "entries": entries,
        "lines": txn.lines.all(),
        "breakdown": document_breakdown(txn),
        "tax_basis": tax_basis(txn),
        "tax_lines": txn.tax_lines.all(),
        "payments": txn.payments.all(),
        "discounts": txn.discounts.all(),
        "refunds": txn.refunds.select_related("channel"),
        "ledger_docs": ledger_docs,
        "reconciliation": reconciliation,
        "recon_open": any(getattr(x, "status", "") == "open" for x in reconciliation or []),
        "reposts": reposts,
        "can_retry": txn.status in RETRYABLE and request.user.has_perm("integrator.change_transaction"),
        "can_replay": request.user.has_perm("integrator.change_posting"),
        "fixes": fix_suggestions(txn, request.user) if txn.status == TransactionStatus.NEEDS_MAPPING else [],
        # Issue 12: the tax rules' check of this revision, and what it moved in stock.
        "tax_check": txn.tax_checks.filter(revision=txn.revision).first(),
        "stock_moves": txn.stock_movements.select_related("product").order_by("created_at"),
        "close_note": close_note(txn, now=timezone.now(), next_run=next_close_run())
        if waiting_for_close
        else "",
    }
    return render(request, "integrator/transaction_detail.html", context)


@login_required
@require_POST
@permission_required("integrator.change_transaction", raise_exception=True)
def transaction_retry(request: HttpRequest, pk: str) -> HttpResponse:
    """Run validate -> journal -> post again (after a mapping was approved or a sale arrived)."""
    txn = get_object_or_404(Transaction, pk=pk)
    if txn.status not in RETRYABLE:
        messages.error(request, f"{txn} is {txn.get_status_display().lower()}: nothing to retry.")
        return redirect("transaction-detail", pk=txn.pk)
    txn = advance_transaction(txn.pk, actor=request.user)
    if txn.status in RETRYABLE:
        messages.warning(
            request, f"Still {txn.get_status_display().lower()}: {'; '.join(txn.status_reasons)}"
        )
    else:
        messages.success(request, f"{txn} is now {txn.get_status_display().lower()}.")
    return redirect("transaction-detail", pk=txn.pk)


@login_required
@permission_required("integrator.view_journalentry", raise_exception=True)
def journal_entry_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """One journal entry: lines with their rules, its posting, and (for a daily summary) the
    transactions it carries."""
    entry = get_object_or_404(
        JournalEntry.objects.select_related(
            "channel", "connection", "mapping_version", "transaction", "reverses", "summary"
        ),
        pk=pk,
    )
    posting = Posting.objects.filter(entry=entry).prefetch_related("attempt_rows").first()
    carried = (
        entry.summarised_entries.select_related("transaction")
        .annotate(amount=Sum("lines__debit"))
        .order_by("date")
    )
    return render(
        request,
        "integrator/journal_detail.html",
        {
            "entry": entry,
            "lines": entry.lines.select_related("account", "mapping_rule", "tax_code").order_by("position"),
            "posting": posting,
            "carried": carried[:200],
            "carried_count": carried.count(),
            "reversed_by": JournalEntry.objects.filter(reverses=entry).first(),
        },
    )
