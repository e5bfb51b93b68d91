"""Z report screens: the tills that import end-of-day files, the import (upload, preview with every
report and row problem, confirm, result) and each till's saved column mapping.

Every write calls :mod:`integrator.services.z_reports`, which checks permissions and audits.
Templates use no inline script or style (a strict Content-Security-Policy applies).
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from connectors.sources.prysm.z_report import FIELDS, REQUIRED
from integrator.models import Channel
from integrator.services import z_reports as svc

__all__ = ["urlpatterns"]

VIEW = "integrator.view_transaction"
FIELD_HELP = {
    "report_number": "the Z report's number",
    "date": "the business day",
    "section": "sale, refund, tender, refund tender, tip or cash",
    "amount": "the amount, tax included",
    "name": "category, payment method, or expected / counted",
    "tax_rate": "0.18, 18 or 18 %",
    "tax": "tax included in the amount",
    "tax_name": "the tax's name",
    "register": "the till (else the channel's)",
    "location": "the shop (else the channel's)",
    "currency": "else the channel's",
}


class UploadForm(forms.Form):
    """A Z report file, or (on confirmation) the same file carried over from the preview."""

    file = forms.FileField(required=False)
    content = forms.CharField(widget=forms.HiddenInput, required=False)
    filename = forms.CharField(widget=forms.HiddenInput, required=False)
    confirm = forms.BooleanField(required=False)

    def payload(self) -> tuple[bytes, str]:
        """(content, filename) from the upload or the carried-over content."""
        upload = self.cleaned_data.get("file")
        if upload is not None:
            return upload.read(svc.MAX_FILE_BYTES + 1), upload.name or "z-report.csv"
        try:
            content = base64.b64decode(self.cleaned_data.get("content") or "", validate=True)
        except (binascii.Error, ValueError):
            content = b""
        if not content:
            raise svc.ZReportRejected("choose a CSV or XLSX file")
        return content, self.cleaned_data.get("filename") or "z-report.csv"


class MappingForm(forms.Form):
    """A till's column mapping: one header per field, the date format, decimals, the tax label."""

    date_format = forms.CharField(max_length=40, initial="%Y-%m-%d", help_text="e.g. %d/%m/%Y for 20/11/2026")
    decimal_comma = forms.BooleanField(required=False, label="Decimal comma (1 234,50)")
    tax_label = forms.CharField(max_length=40, initial="Tax", help_text="names tax lines: TVA -> TVA 18%")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in FIELDS:
            self.fields[f"col_{name}"] = forms.CharField(
                max_length=80,
                required=name in REQUIRED,
                label=name.replace("_", " "),
                help_text=FIELD_HELP[name],
            )

    def columns(self) -> dict[str, str]:
        """Our field -> the file's header."""
        return {name: self.cleaned_data.get(f"col_{name}") or "" for name in FIELDS}


def _channel(pk: Any) -> Channel:
    return get_object_or_404(Channel, pk=pk)


def _recent(events: Any, limit: int) -> list[dict[str, Any]]:
    """Imported reports with their sales total and the transactions they became."""
    rows = []
    for event in events.prefetch_related("transactions")[:limit]:
        report = json.loads(event.body)
        sales = sum((Decimal(s["amount"]) for s in report.get("sales", [])), Decimal(0))
        rows.append(
            {"event": event, "report": report, "sales": sales, "transactions": list(event.transactions.all())}
        )
    return rows


@login_required
@permission_required(VIEW, raise_exception=True)
def index(request: HttpRequest) -> HttpResponse:
    """The tills that import Z reports, and the reports imported lately with what became of them."""
    tills = Channel.objects.filter(platform__in=svc.PLATFORMS).order_by("name")
    recent = _recent(svc.imported_reports(), 50)
    return render(request, "integrator/z_reports/index.html", {"tills": tills, "recent": recent})


@login_required
@permission_required(VIEW, raise_exception=True)
def import_view(request: HttpRequest, pk: Any) -> HttpResponse:
    """Upload a Z report: a preview first (what each report holds, every problem by row), then
    confirm with the same file; a file with any problem imports nothing."""
    channel = _channel(pk)
    form = UploadForm(request.POST or None, request.FILES or None)
    result = None
    carry = filename = ""
    status = 200
    if request.method == "POST" and not request.user.has_perm(svc.IMPORT_PERMISSION):
        messages.error(request, "You may not import Z reports.")
        status = 403
    elif channel.platform not in svc.PLATFORMS:
        messages.error(
            request, f"{channel.name} is a {channel.platform} channel: only Prysm tills import Z reports."
        )
        status = 404
    elif request.method == "POST" and form.is_valid():
        try:
            content, filename = form.payload()
            run = svc.import_z_report if form.cleaned_data.get("confirm") else svc.preview_z_report
            result = run(channel, content, filename=filename, actor=request.user)
            carry = base64.b64encode(content).decode()
            if result.imported:
                messages.success(
                    request, f"Imported {result.new} report(s); {result.already} were already imported."
                )
            status = 200 if result.ok else 400
        except svc.ZReportRejected as exc:
            messages.error(request, str(exc))
            status = 400
        except PermissionDenied as exc:
            messages.error(request, str(exc))
            status = 403
    context = {
        "channel": channel,
        "form": form,
        "result": result,
        "carry": carry,
        "filename": filename,
        "mapping": svc.mapping_for(channel),
        "recent": _recent(svc.imported_reports(channel), 20),
    }
    return render(request, "integrator/z_reports/import.html", context, status=status)


@login_required
@permission_required(VIEW, raise_exception=True)
def columns_view(request: HttpRequest, pk: Any) -> HttpResponse:
    """The till's column mapping: which header of its file holds each of our fields."""
    channel = _channel(pk)
    mapping = svc.mapping_for(channel)
    initial: dict[str, Any] = {"date_format": mapping.date_format, "decimal_comma": mapping.decimal_comma,
                               "tax_label": mapping.tax_label}  # fmt: skip
    initial.update({f"col_{k}": v for k, v in mapping.columns.items()})
    form = MappingForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and not any(request.user.has_perm(p) for p in svc.MAPPING_PERMISSIONS):
        messages.error(request, "You may not change how this till's Z reports are read.")
        status = 403
    elif request.method == "POST":
        if form.is_valid():
            try:
                svc.save_mapping(
                    channel, columns=form.columns(), date_format=form.cleaned_data["date_format"],
                    decimal_comma=form.cleaned_data["decimal_comma"], tax_label=form.cleaned_data["tax_label"],
                    actor=request.user,
                )  # fmt: skip
            except PermissionDenied as exc:
                messages.error(request, str(exc))
                status = 403
            except svc.ZReportRejected as exc:
                messages.error(request, f"Not saved: {exc}")
                status = 400
            else:
                messages.success(request, "Column mapping saved: the next file of this till is read with it.")
                return redirect("z-report-import", pk=channel.pk)
        else:
            status = 400
    return render(
        request, "integrator/z_reports/columns.html", {"channel": channel, "form": form}, status=status
    )


urlpatterns = [
    path("", index, name="z-reports"),
    path("<uuid:pk>/z-reports/", import_view, name="z-report-import"),
    path("<uuid:pk>/z-reports/columns/", columns_view, name="z-report-columns"),
]
