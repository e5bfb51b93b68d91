"""Reports of the built-in ledger: trial balance, general ledger, profit and loss and balance sheet
(each beside the previous period), with downloads."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from integrator.models import LedgerAccount, LedgerConnection
from integrator.services import books
from integrator.services import reports as statements
from integrator.views.exports import EXPORT_FORMATS, export_rows
from integrator.widgets import IsoDateInput

__all__ = ["balance_sheet", "books_export", "general_ledger", "profit_and_loss", "reports", "trial_balance"]


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


class PeriodForm(forms.Form):
    """The period of a statement (the comparison is the period of the same length before it)."""

    start = forms.DateField(widget=IsoDateInput(), label="From")
    end = forms.DateField(widget=IsoDateInput(), label="To")

    def clean(self) -> dict[str, Any]:
        """The period must not end before it starts."""
        data = super().clean() or {}
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


def _quick_periods(today: date) -> list[tuple[str, statements.Period]]:
    """The periods a finance user asks for most, as links."""
    this_month = statements.month_of(today)
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    quarter = statements.Period(
        quarter_start, statements.month_of(date(today.year, quarter_start.month + 2, 1)).end
    )
    return [
        ("This month", this_month),
        ("Last month", this_month.previous()),
        ("This quarter", quarter),
        ("This year", statements.Period(date(today.year, 1, 1), date(today.year, 12, 31))),
    ]


def _statement(request: HttpRequest, pk: str, kind: str) -> HttpResponse | StreamingHttpResponse:
    connection = get_object_or_404(LedgerConnection, pk=pk)
    today = timezone.localdate()
    default = statements.month_of(today)
    form = PeriodForm(request.GET if request.GET.get("start") or request.GET.get("end") else None,
                      initial={"start": default.start, "end": default.end})  # fmt: skip
    period = default
    if form.is_bound and form.is_valid():
        period = statements.Period(form.cleaned_data["start"], form.cleaned_data["end"])
    build = statements.profit_and_loss if kind == "profit-and-loss" else statements.balance_sheet
    result = build(connection, period)
    fmt = request.GET.get("export", "")
    if fmt in EXPORT_FORMATS:
        header, rows = statements.statement_rows(result)
        return export_rows(header, rows, fmt, f"{kind}-{period.start}-{period.end}", currency_at=0)
    return render(
        request,
        "integrator/statement.html",
        {
            "connection": connection,
            "kind": kind,
            "title": "Profit and loss" if kind == "profit-and-loss" else "Balance sheet",
            "statements": result,
            "period": period,
            "compared": period.previous(),
            "form": form,
            "quick": _quick_periods(today),
            "query": f"start={period.start.isoformat()}&end={period.end.isoformat()}",
        },
        status=400 if form.errors else 200,
    )


@login_required
@permission_required("integrator.view_ledgerconnection", raise_exception=True)
def profit_and_loss(request: HttpRequest, pk: str) -> HttpResponse | StreamingHttpResponse:
    """Revenue less expenses of a period beside the previous period (``?export=csv|xlsx``)."""
    return _statement(request, pk, "profit-and-loss")


@login_required
@permission_required("integrator.view_ledgerconnection", raise_exception=True)
def balance_sheet(request: HttpRequest, pk: str) -> HttpResponse | StreamingHttpResponse:
    """Assets, liabilities and equity at the end of a period and of the previous one."""
    return _statement(request, pk, "balance-sheet")
