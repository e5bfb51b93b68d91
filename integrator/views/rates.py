"""Exchange rates: the table the books convert with, the ECB file import and a person's rate.

Everyone sees which rates exist and which transactions wait for one; clerks and managers import
the ECB's euro reference rates (their XML or CSV file); finance managers enter or correct a manual
rate, with a note, audited. A stored rate releases the transactions waiting for it at once.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from integrator import money
from integrator.choices import RateSource, TransactionStatus
from integrator.models import ExchangeRate, Transaction
from integrator.services.rates import PEGS, import_reference_rates, record_rate
from integrator.widgets import IsoDateInput

__all__ = ["ManualRateForm", "RateFileForm", "rate_import", "rate_manual", "rates"]

MAX_FILE_BYTES = 5 * 1_048_576


class RateFileForm(forms.Form):
    """The ECB's euro reference rates, as they publish them (XML or CSV)."""

    file = forms.FileField(
        label="ECB reference rates file",
        help_text="eurofxref-daily.xml, eurofxref-hist.xml, eurofxref.csv or eurofxref-hist.csv",
    )


class ManualRateForm(forms.Form):
    """One rate a person vouches for: 1 base = rate quote on a day."""

    base = forms.CharField(max_length=3, label="From currency")
    quote = forms.CharField(max_length=3, label="To currency")
    day = forms.DateField(widget=IsoDateInput())
    rate = forms.DecimalField(max_digits=24, decimal_places=12, min_value=Decimal("0.000000000001"))
    note = forms.CharField(
        max_length=255, help_text="Where the rate comes from (the bank's rate on the day ...)."
    )

    def clean(self) -> dict[str, Any]:
        """Known currencies, two different ones."""
        data = super().clean() or {}
        for name in ("base", "quote"):
            value = str(data.get(name) or "").upper()
            if value and not money.is_known_currency(value):
                self.add_error(name, f"{value} is not an ISO-4217 currency")
            data[name] = value
        if data.get("base") and data.get("base") == data.get("quote"):
            raise forms.ValidationError("choose two different currencies")
        return data


@login_required
@permission_required("integrator.view_exchangerate", raise_exception=True)
def rates(request: HttpRequest) -> HttpResponse:
    """The rate table (filtered by currency and origin), the pegs, and what waits for a rate."""
    rows = ExchangeRate.objects.select_related("connection", "created_by").order_by("-day", "base", "quote")
    base = request.GET.get("base", "").upper().strip()
    if base:
        rows = rows.filter(base=base) | rows.filter(quote=base)
    source = request.GET.get("source", "")
    if source in RateSource.values:
        rows = rows.filter(source=source)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    waiting = (
        Transaction.objects.filter(status=TransactionStatus.NEEDS_RATE)
        .values("currency")
        .annotate(n=Count("id"))
        .order_by("currency")
    )
    return render(
        request,
        "integrator/rates.html",
        {
            "page": page,
            "base": base,
            "source": source,
            "sources": [(s.value, s.label) for s in RateSource if s != RateSource.IDENTITY],
            "pegs": sorted(PEGS.items()),
            "waiting": list(waiting),
            "file_form": RateFileForm(),
            "manual_form": ManualRateForm(initial={"day": date.today()}),
            "can_import": request.user.has_perm("integrator.add_exchangerate"),
            "can_enter": request.user.has_perm("integrator.change_exchangerate"),
        },
    )


@login_required
@permission_required("integrator.add_exchangerate", raise_exception=True)
@require_POST
def rate_import(request: HttpRequest) -> HttpResponse:
    """Import an ECB reference-rates file; say how many rates were new and what was released."""
    form = RateFileForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose the ECB file to import.")
        return redirect("rates")
    upload = form.cleaned_data["file"]
    if upload.size > MAX_FILE_BYTES:
        messages.error(
            request,
            f"The file is larger than {MAX_FILE_BYTES // 1_048_576} MB: the ECB's full history is about 1 MB.",
        )
        return redirect("rates")
    before = Transaction.objects.filter(status=TransactionStatus.NEEDS_RATE).count()
    try:
        with transaction.atomic():
            result = import_reference_rates(upload.read(), actor=request.user, provider="ECB")
    except ValueError as exc:
        messages.error(request, f"Nothing was imported: {exc}.")
        return redirect("rates")
    after = Transaction.objects.filter(status=TransactionStatus.NEEDS_RATE).count()
    messages.success(
        request,
        f"{result['rates']} rates for {result['days']} days read: {result['new']} new, {result['unchanged']} already "
        f"held. {before - after} transaction(s) waiting for a rate were booked.",
    )
    return redirect("rates")


@login_required
@permission_required("integrator.change_exchangerate", raise_exception=True)
@require_POST
def rate_manual(request: HttpRequest) -> HttpResponse:
    """Enter (or correct) a manual rate, audited; it releases what waits for it."""
    form = ManualRateForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(str(m) for m in v)}" for k, v in form.errors.items())
        messages.error(request, f"The rate was not saved: {problems}.")
        return redirect("rates")
    data = form.cleaned_data
    try:
        _, created = record_rate(data["base"], data["quote"], data["day"], data["rate"], source=RateSource.MANUAL,
                                 provider=request.user.get_username(), actor=request.user, note=data["note"])  # fmt: skip
    except (ValueError, InvalidOperation) as exc:
        messages.error(request, f"The rate was not saved: {exc}.")
        return redirect("rates")
    verb = "saved" if created else "updated"
    messages.success(
        request, f"1 {data['base']} = {data['rate']} {data['quote']} on {data['day']:%d %b %Y} {verb}."
    )
    return redirect(f"{request.path.rsplit('/manual/', 1)[0]}/?base={data['base']}")
