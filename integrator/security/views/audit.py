"""The audit-trail screen: browse and filter, and export to CSV for auditors (the export is audited)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime, time
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from integrator.cells import inert_text
from integrator.models import AuditEvent
from integrator.security.forms import AuditFilterForm
from integrator.services import audit

__all__ = ["audit_export", "audit_list", "filter_audit_events"]

CSV_COLUMNS = [
    "id", "occurred_at", "actor_id", "actor_label", "action", "object_type", "object_id", "object_repr",
    "before", "after", "request_id", "prev_hash", "row_hash",
]  # fmt: skip


def filter_audit_events(form: AuditFilterForm) -> QuerySet[AuditEvent]:
    """Audit rows matching the form's filters, newest first (all rows when the form is invalid)."""
    qs = AuditEvent.objects.order_by("-id")
    if not form.is_valid():
        return qs
    data = form.cleaned_data
    if data["action"]:
        action = data["action"].strip()
        qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
    for name in ("object_type", "object_id", "actor_label", "request_id"):
        value = data["actor"] if name == "actor_label" else data[name]
        if value:
            qs = qs.filter(**{name: value.strip()})
    tz = timezone.get_current_timezone()
    if data["date_from"]:
        qs = qs.filter(
            occurred_at__gte=timezone.make_aware(datetime.combine(data["date_from"], time.min), tz)
        )
    if data["date_to"]:
        qs = qs.filter(occurred_at__lte=timezone.make_aware(datetime.combine(data["date_to"], time.max), tz))
    return qs


@require_safe
@login_required
@permission_required("integrator.view_auditevent", raise_exception=True)
def audit_list(request: HttpRequest) -> HttpResponse:
    """Audit rows, 100 a page, with filters and the current chain head."""
    form = AuditFilterForm(request.GET or None)
    page = Paginator(filter_audit_events(form), 100).get_page(request.GET.get("page"))
    head = AuditEvent.objects.order_by("-id").values("id", "row_hash").first()
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "security/audit_list.html",
        {"form": form, "page": page, "head": head, "query": query.urlencode()},
    )


def _cell(value: Any) -> str:
    """A CSV cell: structures as the chain's canonical JSON; a leading apostrophe defuses
    spreadsheet formulas (strip it before recomputing a hash)."""
    if value is None:
        text = ""
    elif isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    else:
        text = str(value)
    return inert_text(text)


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


@require_safe
@login_required
@permission_required("integrator.view_auditevent", raise_exception=True)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """Stream the filtered audit rows as CSV, oldest first, hashes included so the chain can be
    re-checked outside the application. The export itself is recorded in the audit trail."""
    form = AuditFilterForm(request.GET or None)
    qs = filter_audit_events(form).order_by("id")
    audit.record(
        "audit.exported",
        object_type="integrator.AuditEvent",
        after={"filters": form.active_filters(), "rows": qs.count()},
        actor=request.user,
    )
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for row in qs.iterator(chunk_size=2000):
            cells = [
                row.occurred_at.isoformat() if c == "occurred_at" else getattr(row, c) for c in CSV_COLUMNS
            ]
            yield writer.writerow([_cell(c) for c in cells])

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
    return response
