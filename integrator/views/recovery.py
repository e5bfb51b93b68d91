"""Re-processing inbox events from the inbox screen: one at once, or the ones ticked (or every
quarantined or failed event matching the filters) in the worker with a progress bar."""

from __future__ import annotations

from urllib.parse import parse_qs

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from integrator.filters import InboundEventFilterSet
from integrator.models import InboundEvent
from integrator.services.recovery import MAX_BULK, REPROCESSABLE, reprocess_event, start_bulk_reprocess

__all__ = ["inbox_reprocess", "inbox_reprocess_one"]

PERMISSION = "integrator.change_inboundevent"


def _back(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("filters", "")
    return redirect(f"/inbox/?{query}" if query else "/inbox/")


@login_required
@require_POST
@permission_required(PERMISSION, raise_exception=True)
def inbox_reprocess_one(request: HttpRequest, pk: str) -> HttpResponse:
    """Re-process one event now and say what became of it."""
    event = get_object_or_404(InboundEvent, pk=pk)
    outcome = reprocess_event(event, actor=request.user)
    if outcome.skipped:
        messages.info(request, f"Nothing to do: {outcome.skipped}.")
    elif outcome.recovered:
        made = len(outcome.transactions)
        messages.success(request, f"The event was read this time ({outcome.after}); it stands behind "
                                  f"{made} transaction{'s' if made != 1 else ''}.")  # fmt: skip
    else:
        messages.error(request, f"Still {outcome.after}: {outcome.error[:300]}")
    return _back(request)


@login_required
@require_POST
@permission_required(PERMISSION, raise_exception=True)
def inbox_reprocess(request: HttpRequest) -> HttpResponse:
    """Re-process the ticked events, or every quarantined or failed one matching the filters."""
    if request.POST.get("scope") == "matching":
        params = {
            k: v for k, v in parse_qs(request.POST.get("filters", "")).items() if k not in ("page", "sort")
        }
        events = InboundEventFilterSet(params, queryset=InboundEvent.objects.all()).qs
    else:
        events = InboundEvent.objects.filter(pk__in=request.POST.getlist("event"))
    ids = list(
        events.filter(status__in=REPROCESSABLE)
        .order_by("received_at")
        .values_list("pk", flat=True)[:MAX_BULK]
    )
    if not ids:
        messages.info(request, "No quarantined or failed event was selected.")
        return _back(request)
    job = start_bulk_reprocess(ids, actor=request.user)
    messages.success(request, f"Re-processing {len(ids)} event{'s' if len(ids) != 1 else ''} in the worker.")
    return redirect("job-detail", pk=job.pk)
