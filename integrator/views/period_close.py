"""Period close screens: the months of each ledger connection, and the close screen of one month
(checks green or explained, close, reopen, read the ledger's own lock date)."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from connectors.base import ConnectorError
from integrator.forms import CloseForm, ReopenForm
from integrator.models import LedgerConnection, PeriodClose
from integrator.services import period_close as svc

__all__ = ["close_index", "close_month", "read_lock_date", "reopen_month", "urlpatterns"]

MONTHS_SHOWN = 12


def _months_back(today: date, count: int) -> list[tuple[int, int]]:
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


@login_required
@permission_required("integrator.view_periodclose", raise_exception=True)
def close_index(request: HttpRequest) -> HttpResponse:
    """Every active connection with its lock dates and its last twelve months (or one calendar
    year's months with ``?year=``)."""
    today = timezone.localdate()
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = 0
    months_shown = (
        [(year, m) for m in range(12, 0, -1)] if 1900 < year < 3000 else _months_back(today, MONTHS_SHOWN)
    )
    rows = []
    for conn in LedgerConnection.objects.filter(archived_at__isnull=True):
        closes = {(c.period_start.year, c.period_start.month): c for c in
                  PeriodClose.objects.filter(connection=conn).select_related("closed_by").order_by("closed_at")}  # fmt: skip
        months = []
        for y, m in months_shown:
            start, end = svc.month_bounds(y, m)
            closed = conn.lock_date is not None and conn.lock_date >= end
            months.append({"year": y, "month": m, "start": start, "closed": closed,
                           "ended": end < today, "record": closes.get((y, m))})  # fmt: skip
        rows.append({"conn": conn, "months": months})
    shown = months_shown[0][0]
    return render(request, "close/index.html", {"rows": rows, "previous_year": shown - 1,
                                                "next_year": shown + 1 if shown < today.year else None})  # fmt: skip


@login_required
@permission_required("integrator.view_periodclose", raise_exception=True)
def close_month(request: HttpRequest, pk: str, year: int, month: int) -> HttpResponse:
    """The close screen of one month; POST closes it (finance managers)."""
    conn = get_object_or_404(LedgerConnection, pk=pk)
    try:
        status = svc.period_status(conn, year, month)
    except svc.CloseRefused as exc:
        messages.error(request, str(exc))
        return redirect("period-close")
    failing = [c for c in status.checks if not c.ok]
    form = CloseForm(request.POST if request.method == "POST" else None, failing=failing)
    if request.method == "POST":
        if not request.user.has_perm(svc.CLOSE_PERMISSION):
            raise PermissionDenied("Only a finance manager closes a period.")
        if form.is_valid():
            try:
                svc.close_period(conn, year, month, explanations=form.explanations(), actor=request.user)
            except svc.CloseRefused as exc:
                for key, text in exc.errors.items():
                    form.add_error(f"explain_{key}" if f"explain_{key}" in form.fields else None, text)
                if not exc.errors:
                    form.add_error(None, str(exc))
            else:
                messages.success(request, f"{status.label} is closed: {conn.name}'s books are locked to "
                                          f"{status.period_end:%d %b %Y}.")  # fmt: skip
                return redirect("period-close-month", pk=conn.pk, year=year, month=month)
    return render(request, "close/month.html", {
        "conn": conn, "status": status, "form": form, "reopen_form": ReopenForm(),
        "can_close": request.user.has_perm(svc.CLOSE_PERMISSION),
        "can_reopen": request.user.has_perm(svc.REOPEN_PERMISSION),
        "can_read_lock": request.user.has_perm("integrator.change_ledgerconnection"),
        "history": PeriodClose.objects.filter(connection=conn, period_start=status.period_start)
        .select_related("closed_by", "reopened_by").order_by("-closed_at"),
    })  # fmt: skip


@login_required
@require_POST
@permission_required(svc.REOPEN_PERMISSION, raise_exception=True)
def reopen_month(request: HttpRequest, pk: str, year: int, month: int) -> HttpResponse:
    """Reopen a closed month (finance managers, with a reason)."""
    conn = get_object_or_404(LedgerConnection, pk=pk)
    form = ReopenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the period is reopened (at least a sentence).")
    else:
        try:
            svc.reopen_period(conn, year, month, reason=form.cleaned_data["reason"], actor=request.user)
        except svc.CloseRefused as exc:
            messages.error(request, str(exc))
        else:
            conn.refresh_from_db()
            messages.success(request, f"Reopened: {conn.name}'s books are closed to "
                                      f"{conn.lock_date:%d %b %Y} now." if conn.lock_date else "Reopened.")  # fmt: skip
    return redirect("period-close-month", pk=conn.pk, year=year, month=month)


@login_required
@require_POST
@permission_required("integrator.change_ledgerconnection", raise_exception=True)
def read_lock_date(request: HttpRequest, pk: str) -> HttpResponse:
    """Read the ledger's own lock date now."""
    conn = get_object_or_404(LedgerConnection, pk=pk)
    try:
        found = svc.read_ledger_lock_date(conn, actor=request.user)
    except ConnectorError as exc:
        messages.error(request, f"{conn.name} did not answer: {exc.vendor_message or exc.message}")
    except NotImplementedError:
        messages.error(request, f"{conn.platform} cannot tell its lock date.")
    else:
        messages.success(request, f"{conn.name}'s own lock date: {found:%d %b %Y}." if found
                         else f"{conn.name} has no lock date of its own.")  # fmt: skip
    return redirect(request.POST.get("next") or "period-close")


urlpatterns = [
    path("", close_index, name="period-close"),
    path("<uuid:pk>/<int:year>/<int:month>/", close_month, name="period-close-month"),
    path("<uuid:pk>/<int:year>/<int:month>/reopen/", reopen_month, name="period-close-reopen"),
    path("<uuid:pk>/ledger-lock-date/", read_lock_date, name="period-close-read-lock"),
]
