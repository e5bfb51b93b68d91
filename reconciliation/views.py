"""Reconciliation screens: runs (start one, watch progress), exceptions (filter, resolve), bank
statements (upload with preview, import result). Server-rendered; htmx polls a running run's row
and swaps a resolved exception's row in place."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from integrator.models import Channel
from reconciliation.choices import ExceptionKind, ExceptionStatus
from reconciliation.filters import ExceptionFilter
from reconciliation.forms import (
    BankAccountForm,
    ConfirmImportForm,
    ResolveForm,
    StartRunForm,
    StatementUploadForm,
)
from reconciliation.importers import SAMPLE_CSV, StatementRejected
from reconciliation.models import (
    BankAccount,
    BankStatement,
    Match,
    ReconciliationException,
    ReconciliationRun,
)
from reconciliation.services.resolution import RESOLVE_PERMISSION, ResolutionRefused, resolve_exception
from reconciliation.services.runs import start_run
from reconciliation.services.statement_jobs import imports_in_background, start_statement_import
from reconciliation.services.statements import (
    create_bank_account,
    describe_size,
    import_statement,
    preview_statement,
    upload_limit,
)

__all__ = [
    "exception_list",
    "exception_resolve",
    "run_detail",
    "run_list",
    "run_progress",
    "sample_csv",
    "statement_confirm",
    "statement_detail",
    "statement_list",
]

PREVIEW_CARRY_LIMIT = 5 * 1024 * 1024  # larger files are imported straight away, not carried back


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    """Runs, newest first, and the form to start one (POST needs the add-run permission)."""
    form = StartRunForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("reconciliation.add_reconciliationrun"):
            raise PermissionDenied
        if form.is_valid():
            run = start_run(
                form.cleaned_data.get("day"),
                start=form.cleaned_data.get("start"),
                end=form.cleaned_data.get("end"),
                actor=request.user,
            )
            messages.success(request, f"Reconciliation of {run.label} started.")
            return redirect("reconciliation:runs")
    page = Paginator(ReconciliationRun.objects.select_related("started_by"), 30).get_page(
        request.GET.get("page")
    )
    return render(request, "reconciliation/run_list.html", {"page": page, "form": form})


@login_required
def run_progress(request: HttpRequest, pk: str) -> HttpResponse:
    """One run's row (htmx polls it every second until the run finishes)."""
    run = get_object_or_404(ReconciliationRun, pk=pk)
    return render(request, "reconciliation/_run_row.html", {"run": run})


@login_required
def run_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """A run: progress, each check's counts, channel-day totals, and the exceptions it saw."""
    run = get_object_or_404(ReconciliationRun.objects.select_related("started_by"), pk=pk)
    exceptions = (
        ReconciliationException.objects.filter(last_run=run).select_related("channel").order_by("kind", "day")
    )
    matches = Match.objects.filter(run=run).select_related("payout", "bank_line__bank_account")
    return render(
        request, "reconciliation/run_detail.html", {"run": run, "exceptions": exceptions, "matches": matches}
    )


@login_required
def exception_list(request: HttpRequest) -> HttpResponse:
    """Exceptions with filters (open by default) and a resolve form on each open one."""
    params = request.GET.copy()
    params.setdefault("status", ExceptionStatus.OPEN)
    qs = ReconciliationException.objects.select_related("channel", "transaction", "bank_line", "resolved_by")
    filtered = ExceptionFilter(params, queryset=qs.order_by("-day", "kind"))
    page = Paginator(filtered.qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "reconciliation/exception_list.html",
        {
            "page": page,
            "filters": params,
            "filter_errors": filtered.errors,
            "kinds": ExceptionKind.choices,
            "statuses": ExceptionStatus.choices,
            "channels": Channel.objects.all(),
            "can_resolve": request.user.has_perm(RESOLVE_PERMISSION),
            "can_write_off": request.user.has_perm("reconciliation.write_off_reconciliationexception"),
        },
    )


@login_required
@require_POST
@permission_required(RESOLVE_PERMISSION, raise_exception=True)
def exception_resolve(request: HttpRequest, pk: str) -> HttpResponse:
    """Resolve (or write off) one exception; htmx gets the updated row back."""
    exc = get_object_or_404(ReconciliationException, pk=pk)
    form = ResolveForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            exc = resolve_exception(
                exc,
                note=form.cleaned_data["note"],
                write_off=form.cleaned_data["write_off"],
                actor=request.user,
            )
        except (ResolutionRefused, PermissionDenied) as refused:
            error = str(refused)
    else:
        error = "; ".join(str(e) for errs in form.errors.values() for e in errs)
    if getattr(request, "htmx", False):
        context = {
            "e": exc,
            "error": error,
            "can_resolve": True,
            "can_write_off": request.user.has_perm("reconciliation.write_off_reconciliationexception"),
        }
        # Always 200: htmx only swaps successful responses, and the row carries the error.
        return render(request, "reconciliation/_exception_row.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request, f"{exc.get_kind_display()} of {exc.day}: {exc.get_status_display().lower()}."
        )
    return redirect(request.POST.get("next") or "reconciliation:exceptions")


def _statement_page(
    request: HttpRequest,
    upload: StatementUploadForm,
    account_form: BankAccountForm,
    row_errors: list[Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The statements page with its upload and bank-account forms (possibly showing errors, and
    the row errors of a refused file)."""
    statements = BankStatement.objects.defer("content").select_related("bank_account", "imported_by")
    return render(
        request,
        "reconciliation/statement_list.html",
        {
            "page": Paginator(statements, 30).get_page(request.GET.get("page")),
            "form": upload,
            "account_form": account_form,
            "accounts": BankAccount.objects.select_related("ledger_account", "connection"),
            "can_import": request.user.has_perm("reconciliation.add_bankstatement"),
            "can_add_account": request.user.has_perm("reconciliation.add_bankaccount"),
            "row_errors": row_errors or [],
        },
        status=status,
    )


@login_required
def statement_list(request: HttpRequest) -> HttpResponse:
    """Statements, the upload form (Preview or Import) and the bank accounts."""
    if request.method != "POST":
        return _statement_page(request, StatementUploadForm(), BankAccountForm())
    if request.POST.get("action") == "add_account":
        return _add_account(request)
    if not request.user.has_perm("reconciliation.add_bankstatement"):
        raise PermissionDenied
    form = StatementUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _statement_page(request, form, BankAccountForm())
    account = form.cleaned_data["bank_account"]
    upload = form.cleaned_data["file"]
    if upload.size > upload_limit():
        form.add_error(
            "file",
            f"The file is larger than {describe_size(upload_limit())}, the limit for uploads: an "
            "operator can import it with manage.py import_statement.",
        )
        return _statement_page(request, form, BankAccountForm())
    fmt = form.cleaned_data.get("format") or None
    preview = request.POST.get("action") == "preview" and upload.size <= PREVIEW_CARRY_LIMIT
    if not preview and imports_in_background(upload.size):
        # Longer than a request should last: the worker imports it and this page shows its progress.
        job = start_statement_import(account, upload, filename=upload.name, fmt=fmt, size=upload.size,
                                     actor=request.user)  # fmt: skip
        messages.info(
            request,
            f"{upload.name} is being imported in the background; this page shows its progress, and "
            "the statement appears under Bank statements when it is done.",
        )
        return redirect("job-detail", pk=job.pk)
    content = upload.read() if preview else b""  # an import streams from the upload itself
    try:
        if preview:
            result = preview_statement(account, content, filename=upload.name, fmt=fmt)
        else:
            result = import_statement(account, upload, filename=upload.name, fmt=fmt, actor=request.user)
    except StatementRejected as exc:
        form.add_error("file", str(exc))
        return _statement_page(request, form, BankAccountForm(), row_errors=exc.errors, status=400)
    if not preview:
        return _after_import(request, result)
    confirm = ConfirmImportForm(
        initial={
            "bank_account": account.pk,
            "filename": upload.name,
            "format": result.format,
            "checksum": result.checksum,
            "content_b64": base64.b64encode(content).decode(),
        }
    )
    return render(
        request,
        "reconciliation/statement_preview.html",
        {"result": result, "account": account, "confirm": confirm},
    )


def _after_import(request: HttpRequest, result: Any) -> HttpResponse:
    """Redirect to the imported statement (or the earlier import of the same file) with a message."""
    if result.duplicate_of is not None:
        messages.info(request, "This file was already imported: nothing imported.")
        return redirect("reconciliation:statement-detail", pk=result.duplicate_of.pk)
    statement = result.statement
    messages.success(
        request,
        f"{statement.imported_count} line(s) imported, {statement.duplicate_count} already known, "
        f"{statement.error_count} error(s).",
    )
    return redirect("reconciliation:statement-detail", pk=statement.pk)


@login_required
@require_POST
@permission_required("reconciliation.add_bankstatement", raise_exception=True)
def statement_confirm(request: HttpRequest) -> HttpResponse:
    """Import a file after its preview."""
    form = ConfirmImportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The preview expired; upload the file again.")
        return redirect("reconciliation:statements")
    try:
        content = base64.b64decode(form.cleaned_data["content_b64"], validate=True)
    except (binascii.Error, ValueError):
        messages.error(request, "The previewed file could not be read back; upload it again.")
        return redirect("reconciliation:statements")
    if hashlib.sha256(content).hexdigest() != form.cleaned_data["checksum"]:
        messages.error(request, "The previewed file changed on the way back; upload it again.")
        return redirect("reconciliation:statements")
    try:
        result = import_statement(
            form.cleaned_data["bank_account"],
            content,
            filename=form.cleaned_data["filename"],
            fmt=form.cleaned_data["format"],
            actor=request.user,
        )
    except StatementRejected as exc:
        messages.error(request, exc.describe())
        return redirect("reconciliation:statements")
    return _after_import(request, result)


def _add_account(request: HttpRequest) -> HttpResponse:
    """Register a bank account from the statements page (needs the add-bank-account permission)."""
    if not request.user.has_perm("reconciliation.add_bankaccount"):
        raise PermissionDenied
    form = BankAccountForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            account = create_bank_account(
                name=data["name"],
                connection=data["connection"],
                ledger_account=data["ledger_account"],
                currency=data["currency"],
                account_number=data["account_number"],
                actor=request.user,
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Bank account {account} added.")
            return redirect("reconciliation:statements")
    return _statement_page(request, StatementUploadForm(), form)


@login_required
def statement_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """A statement: counts, row errors, and its lines with the payouts they matched."""
    statement = get_object_or_404(
        BankStatement.objects.defer("content").select_related("bank_account"), pk=pk
    )
    lines = statement.lines.select_related("match__payout").order_by("date", "row")
    return render(request, "reconciliation/statement_detail.html", {"statement": statement, "lines": lines})


@login_required
def sample_csv(request: HttpRequest) -> HttpResponse:
    """The default CSV layout as a sample file."""
    response = HttpResponse(SAMPLE_CSV, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="bank-statement-sample.csv"'
    return response
