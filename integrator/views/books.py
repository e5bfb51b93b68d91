"""Reports of the built-in ledger: trial balance and general ledger, with downloads."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from integrator.models import LedgerAccount, LedgerConnection
from integrator.services import books

__all__ = ["books_export", "general_ledger", "reports", "trial_balance"]


def _date_param(request: HttpRequest, name: str) -> date | None:
    try:
        return date.fromisoformat(request.GET.get(name, ""))
    except ValueError:
        return None


@login_required
@permission_required("integrator.view_ledgerconnection", raise_exception=True)
def reports(request: HttpRequest) -> HttpResponse:
    """Which reports exist, per ledger connection."""
    connections = LedgerConnection.objects.annotate(n=Count("book_entries")).order_by("name")
    return render(request, "integrator/reports.html", {"connections": connections})


@login_required
@permission_required("integrator.view_ledgerconnection", raise_exception=True)
def trial_balance(request: HttpRequest, pk: str) -> HttpResponse:
    """Trial balance of a built-in ledger connection, optionally as of a date."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    as_of = _date_param(request, "as_of")
    rows = books.trial_balance(connection, as_of=as_of)
    totals = {
        "debit": sum((r.debit for r in rows), Decimal(0)),
        "credit": sum((r.credit for r in rows), Decimal(0)),
    }
    foreign = books.trial_balance_currencies(rows)
    table = [(r, [(r.foreign_balances.get(c), c) for c in foreign]) for r in rows]
    return render(
        request,
        "integrator/trial_balance.html",
        {"connection": connection, "rows": rows, "table": table, "foreign": foreign, "totals": totals,
         "as_of": as_of, "functional": connection.functional_currency},
    )  # fmt: skip


@login_required
@permission_required("integrator.view_ledgerconnection", raise_exception=True)
def general_ledger(request: HttpRequest, pk: str) -> HttpResponse:
    """General ledger of a built-in ledger connection: lines with running balances, by account."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    account = request.GET.get("account", "").strip() or None
    start, end = _date_param(request, "start"), _date_param(request, "end")
    rows = books.general_ledger(connection, account_code=account, start=start, end=end)
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "connection": connection,
        "page": page,
        "account": account or "",
        "start": start,
        "end": end,
        "accounts": LedgerAccount.objects.filter(connection=connection).order_by("code"),
    }
    return render(request, "integrator/general_ledger.html", context)


@login_required
@permission_required("integrator.view_ledgerconnection", raise_exception=True)
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
