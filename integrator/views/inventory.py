"""The Inventory section: stock levels, import shipments with their landed costs, the stock
valuation reconciled to the inventory account, reorder suggestions, profit by product,
category, channel or month (with CSV and XLSX downloads), and the tax report per code.

Everyone signed in reads; clerks and managers enter, import and receive shipments and act on
suggestions. Every write goes through a service (atomic, audited).
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from integrator import money
from integrator.models import InventoryBook, ReorderSuggestion, Shipment, ShipmentCost, StockCount, StockLevel
from integrator.services import audit
from integrator.services.inventory.adjustments import record_count
from integrator.services.inventory.imports import COLUMNS, import_shipments, parse_shipments
from integrator.services.inventory.landed import add_cost, landed_costs, receive_shipment
from integrator.services.inventory.valuation import stock_valuation
from integrator.services.profit import GROUPS, export_csv, export_xlsx, profit_report
from integrator.services.rates import NeedsRate
from integrator.services.tax_engine.report import tax_report
from integrator.widgets import IsoDateInput

__all__ = ["app_name", "urlpatterns"]

app_name = "inventory"
MAX_FILE_BYTES = 1_048_576
VIEW = "integrator.view_shipment"


class CostForm(forms.Form):
    """A cost of a shipment in its own currency (a late cost once the shipment is received)."""

    kind = forms.ChoiceField(choices=ShipmentCost.Kind.choices)
    amount = forms.DecimalField(max_digits=18, decimal_places=4, min_value=Decimal("0.0001"))
    currency = forms.CharField(max_length=3)
    basis = forms.ChoiceField(choices=ShipmentCost.Basis.choices, label="Allocate")
    rate = forms.DecimalField(
        max_digits=24, decimal_places=12, required=False, label="Agreed rate",
        help_text="Functional units per unit of the cost's currency; blank: the rate table's.",
    )  # fmt: skip
    paid_through = forms.ChoiceField(choices=ShipmentCost.PaidThrough.choices)
    invoice_date = forms.DateField(required=False, widget=IsoDateInput())

    def clean_currency(self) -> str:
        """A known currency."""
        value = str(self.cleaned_data["currency"]).upper()
        if not money.is_known_currency(value):
            raise forms.ValidationError(f"{value} is not an ISO-4217 currency")
        return value


def _book() -> InventoryBook | None:
    return InventoryBook.objects.select_related("connection", "inventory_account").first()


def _day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


@login_required
@permission_required(VIEW, raise_exception=True)
def index(request: HttpRequest) -> HttpResponse:
    """Stock levels against reorder points, with each product's value."""
    levels = StockLevel.objects.select_related("product").order_by("product__sku", "location")
    if request.GET.get("below"):
        levels = levels.filter(below=True)
    book = _book()
    values = {}
    if book is not None:
        values = {p.product_id: p for p in book.pools.all()}
    rows = [(lv, values.get(lv.product_id)) for lv in levels[:500]]
    return render(request, "inventory/index.html", {
        "rows": rows, "book": book, "below": bool(request.GET.get("below")),
        "open_suggestions": ReorderSuggestion.objects.filter(status=ReorderSuggestion.Status.OPEN).count(),
    })  # fmt: skip


@login_required
@permission_required(VIEW, raise_exception=True)
def shipments(request: HttpRequest) -> HttpResponse:
    """Shipments, newest first, and the import form."""
    rows = Shipment.objects.select_related("supplier").order_by("-invoice_date", "reference")[:200]
    return render(request, "inventory/shipments.html", {
        "rows": rows, "columns": COLUMNS, "can_add": request.user.has_perm("integrator.add_shipment"),
    })  # fmt: skip


@login_required
@permission_required(VIEW, raise_exception=True)
def shipment_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """A shipment's lines with their landed costs (forecast while a draft), and its costs."""
    shipment = get_object_or_404(
        Shipment.objects.select_related("supplier", "book__connection", "entry"), pk=pk
    )
    forecast, problem = None, ""
    if shipment.status == Shipment.Status.DRAFT and shipment.lines.exists():
        try:
            forecast = landed_costs(shipment)
        except (NeedsRate, ValueError) as exc:
            problem = getattr(exc, "reason", "") or str(exc)
    return render(request, "inventory/shipment_detail.html", {
        "shipment": shipment, "lines": shipment.lines.select_related("product"),
        "costs": shipment.costs.select_related("entry"), "forecast": forecast, "problem": problem,
        "functional": shipment.book.connection.functional_currency, "cost_form": CostForm(initial={
            "currency": shipment.currency, "invoice_date": date.today()}),
        "can_change": request.user.has_perm("integrator.change_shipment"),
    })  # fmt: skip


@login_required
@permission_required("integrator.change_shipment", raise_exception=True)
@require_POST
def shipment_receive(request: HttpRequest, pk: Any) -> HttpResponse:
    """Receive a draft shipment into stock at its landed cost."""
    shipment = get_object_or_404(Shipment, pk=pk)
    try:
        receive_shipment(shipment, on=_day(request.POST.get("on"), shipment.invoice_date), actor=request.user)
    except (NeedsRate, ValueError) as exc:
        messages.error(request, f"Not received: {getattr(exc, 'reason', '') or exc}.")
    else:
        messages.success(request, f"Shipment {shipment.reference} received into stock and posted.")
    return redirect("inventory:shipment", pk=shipment.pk)


@login_required
@permission_required("integrator.change_shipment", raise_exception=True)
@require_POST
def shipment_cost(request: HttpRequest, pk: Any) -> HttpResponse:
    """Add a cost (a late cost once received: it revalues stock on hand, expenses the rest)."""
    shipment = get_object_or_404(Shipment, pk=pk)
    form = CostForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(str(m) for m in v)}" for k, v in form.errors.items())
        messages.error(request, f"The cost was not added: {problems}.")
        return redirect("inventory:shipment", pk=shipment.pk)
    data = form.cleaned_data
    try:
        with transaction.atomic():
            add_cost(shipment, kind=data["kind"], amount=data["amount"], currency=data["currency"],
                     basis=data["basis"], rate=data["rate"], paid_through=data["paid_through"],
                     invoice_date=data["invoice_date"], actor=request.user)  # fmt: skip
    except (NeedsRate, ValueError) as exc:
        messages.error(request, f"The cost was not added: {getattr(exc, 'reason', '') or exc}.")
    else:
        messages.success(request, "Cost added.")
    return redirect("inventory:shipment", pk=shipment.pk)


@login_required
@permission_required("integrator.add_shipment", raise_exception=True)
@require_POST
def shipment_import(request: HttpRequest) -> HttpResponse:
    """Preview a CSV/XLSX file of shipments, then import it (the confirm step re-sends the file)."""
    book = _book()
    if book is None:
        messages.error(request, "Set up the inventory book first (which accounts stock is booked to).")
        return redirect("inventory:shipments")
    upload = request.FILES.get("file")
    if upload is not None:
        if (upload.size or 0) > MAX_FILE_BYTES:
            messages.error(request, "The file is larger than 1 MB.")
            return redirect("inventory:shipments")
        content, name = upload.read(), upload.name or "shipments.csv"
    else:
        try:
            content = base64.b64decode(request.POST.get("content", ""), validate=True)
        except (binascii.Error, ValueError):
            content = b""
        name = request.POST.get("filename", "shipments.csv")
    if not content:
        messages.error(request, "Choose a CSV or XLSX file.")
        return redirect("inventory:shipments")
    if request.POST.get("confirm"):
        try:
            made = import_shipments(content, name, book, actor=request.user)
        except ValueError as exc:
            messages.error(request, f"Nothing was imported: {exc}.")
        else:
            messages.success(
                request, f"{len(made)} shipment(s) imported as drafts: add any costs, then receive them."
            )
        return redirect("inventory:shipments")
    parsed, problems = parse_shipments(content, name)
    return render(request, "inventory/shipment_import.html", {
        "parsed": parsed, "problems": problems, "filename": name,
        "content": base64.b64encode(content).decode(),
    })  # fmt: skip


@login_required
@permission_required(VIEW, raise_exception=True)
def valuation(request: HttpRequest) -> HttpResponse:
    """Stock value at a date, reconciled to the inventory account."""
    book = _book()
    as_of = _day(request.GET.get("as_of"), date.today())
    result = stock_valuation(book, as_of) if book else None
    return render(request, "inventory/valuation.html", {"book": book, "as_of": as_of, "valuation": result})


@login_required
@permission_required(VIEW, raise_exception=True)
def reorder(request: HttpRequest) -> HttpResponse:
    """Reorder suggestions, open first."""
    rows = ReorderSuggestion.objects.select_related("level__product", "purchase_order__supplier").order_by(
        "status", "-created_at"
    )[:300]
    return render(request, "inventory/reorder.html", {
        "rows": rows, "can_change": request.user.has_perm("integrator.change_reordersuggestion"),
    })  # fmt: skip


@login_required
@permission_required("integrator.change_reordersuggestion", raise_exception=True)
@require_POST
def reorder_dismiss(request: HttpRequest, pk: Any) -> HttpResponse:
    """Dismiss (or mark ordered) an open suggestion."""
    status = request.POST.get("status", ReorderSuggestion.Status.DISMISSED)
    if status not in (ReorderSuggestion.Status.DISMISSED, ReorderSuggestion.Status.ORDERED):
        status = ReorderSuggestion.Status.DISMISSED
    with transaction.atomic():
        suggestion = get_object_or_404(ReorderSuggestion.objects.select_for_update(), pk=pk)
        if suggestion.status == ReorderSuggestion.Status.OPEN:
            suggestion.status = status
            suggestion.save(update_fields=["status"])
            audit.record(f"reorder.{status}", obj=suggestion, actor=request.user, after={"status": status})
    return redirect("inventory:reorder")


@login_required
@permission_required(VIEW, raise_exception=True)
def profit(request: HttpRequest) -> HttpResponse:
    """Profit by product, category, channel or month, with a chart and downloads."""
    book = _book()
    today = date.today()
    start = _day(request.GET.get("start"), today.replace(day=1) - timedelta(days=0))
    end = _day(request.GET.get("end"), today)
    group = request.GET.get("group", "product")
    group = group if group in GROUPS else "product"
    report = profit_report(book.connection, start, end, group_by=group) if book else None
    fmt = request.GET.get("format", "")
    if report is not None and fmt == "csv":
        response = HttpResponse(export_csv(report), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="profit-{group}-{start}-{end}.csv"'
        return response
    if report is not None and fmt == "xlsx":
        response = HttpResponse(
            export_xlsx(report),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="profit-{group}-{start}-{end}.xlsx"'
        return response
    peak = max([abs(r.net_revenue) for r in report.rows] + [Decimal(1)]) if report else Decimal(1)
    return render(request, "inventory/profit.html", {
        "report": report, "start": start, "end": end, "group": group, "groups": GROUPS,
        "total": report.total() if report else None, "peak": peak,
    })  # fmt: skip


@login_required
@permission_required(VIEW, raise_exception=True)
def tax(request: HttpRequest) -> HttpResponse:
    """Tax per period and code, reconciled to the ledger's tax accounts."""
    book = _book()
    today = date.today()
    start = _day(request.GET.get("start"), today.replace(day=1))
    end = _day(request.GET.get("end"), today)
    report = tax_report(book.connection, start, end) if book else None
    return render(request, "inventory/tax.html", {"report": report, "start": start, "end": end})


class CountForm(forms.Form):
    """A stock take: one ``SKU, units`` per line."""

    location = forms.CharField(max_length=80, initial="main")
    counted_on = forms.DateField(widget=IsoDateInput())
    counts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), help_text="One “SKU, units counted” a line."
    )
    note = forms.CharField(max_length=255, required=False)

    def clean_counts(self) -> dict[str, Decimal]:
        """Parse the lines."""
        out: dict[str, Decimal] = {}
        for n, line in enumerate(str(self.cleaned_data["counts"]).splitlines(), start=1):
            if not line.strip():
                continue
            sku, _, qty = line.partition(",")
            try:
                out[sku.strip()] = Decimal(qty.strip())
            except InvalidOperation as exc:
                raise forms.ValidationError(f"line {n}: {qty.strip()!r} is not a number") from exc
        if not out:
            raise forms.ValidationError("count at least one product")
        return out


@login_required
@permission_required(VIEW, raise_exception=True)
def counts(request: HttpRequest) -> HttpResponse:
    """Stock takes: the recent ones, and (clerks, managers) a new one applied at once."""
    book = _book()
    can_count = request.user.has_perm("integrator.add_stockcount")
    form = CountForm(
        initial={"counted_on": date.today(), "location": book.default_location if book else "main"}
    )
    if request.method == "POST":
        if not can_count:
            raise PermissionDenied
        form = CountForm(request.POST)
        if book is None:
            messages.error(request, "Set up the inventory book first.")
        elif form.is_valid():
            data = form.cleaned_data
            try:
                count = record_count(book, location=data["location"], counted_on=data["counted_on"],
                                     counts=data["counts"], note=data["note"], actor=request.user)  # fmt: skip
            except ValueError as exc:
                messages.error(request, f"The count was not recorded: {exc}.")
            else:
                changed = sum(1 for ln in count.lines.all() if ln.expected != ln.counted)
                messages.success(request, f"Count recorded: {changed} level(s) adjusted at cost.")
                return redirect("inventory:counts")
    recent = StockCount.objects.prefetch_related("lines__product").order_by("-counted_on", "-created_at")[:20]
    return render(request, "inventory/counts.html", {"form": form, "recent": recent, "can_count": can_count})


urlpatterns = [
    path("", index, name="index"),
    path("shipments/", shipments, name="shipments"),
    path("shipments/import/", shipment_import, name="shipment-import"),
    path("shipments/<uuid:pk>/", shipment_detail, name="shipment"),
    path("shipments/<uuid:pk>/receive/", shipment_receive, name="shipment-receive"),
    path("shipments/<uuid:pk>/costs/", shipment_cost, name="shipment-cost"),
    path("valuation/", valuation, name="valuation"),
    path("reorder/", reorder, name="reorder"),
    path("reorder/<uuid:pk>/", reorder_dismiss, name="reorder-dismiss"),
    path("profit/", profit, name="profit"),
    path("tax/", tax, name="tax"),
    path("counts/", counts, name="counts"),
]
