"""Setup > Ledger connections: the wizard (choose the platform, then one form), editing, the
connection test, disable, archive and delete-if-unused. The connection's page is the existing
ledger page (``connection-detail``), which shows these actions to those who may use them; the
OAuth "Connect" button there (:mod:`integrator.views.oauth`) finishes QuickBooks and Xero.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from connectors.base import UnknownPlatform
from integrator.forms import LedgerDetailsForm, setup_form_class, setup_values
from integrator.models import LedgerConnection
from integrator.services import ledger_setup as svc
from integrator.services.setup_fields import SetupInvalid, ledger_platforms, platform_of
from integrator.views.setup_channels import _apply_errors

__all__ = ["ledger_action", "ledger_edit", "ledger_new", "ledger_platforms_view", "ledger_test"]

CHANGE = "integrator.change_ledgerconnection"


@login_required
@permission_required("integrator.add_ledgerconnection", raise_exception=True)
def ledger_platforms_view(request: HttpRequest) -> HttpResponse:
    """Step 1: choose the accounting system (only those whose connector is installed)."""
    return render(request, "setup/platforms.html", {"kind": "ledger", "platforms": ledger_platforms()})


@login_required
@permission_required("integrator.add_ledgerconnection", raise_exception=True)
def ledger_new(request: HttpRequest, platform: str) -> HttpResponse:
    """Step 2: the connection's details and the platform's own fields."""
    try:
        chosen = platform_of("ledger", platform)
    except UnknownPlatform:
        messages.error(request, f"There is no connector for {platform!r} in this installation.")
        return redirect("setup-ledger-platforms")
    setup_form = setup_form_class(chosen)(request.POST or None, prefix="setup")
    details = LedgerDetailsForm(request.POST or None, prefix="ledger")
    if request.method == "POST" and details.is_valid() and setup_form.is_valid():
        try:
            conn = svc.set_up_ledger_connection(
                chosen.slug, **details.cleaned_data, raw_setup=setup_values(setup_form, editing=False),
                actor=request.user,
            )  # fmt: skip
        except SetupInvalid as exc:
            _apply_errors(exc.errors, details, setup_form)
        else:
            nxt = f"Press Connect to {chosen.name} to sign in to the company." if chosen.uses_oauth else ""
            messages.success(request, f"{conn.name} is set up. {nxt}".strip())
            return redirect("connection-detail", pk=conn.pk)
    return render(request, "setup/ledger_form.html", {"platform": chosen, "details": details,
                                                      "setup_form": setup_form, "editing": False})  # fmt: skip


@login_required
@permission_required(CHANGE, raise_exception=True)
def ledger_edit(request: HttpRequest, pk: str) -> HttpResponse:
    """Edit: plain fields shown again; secrets left blank are kept."""
    conn = get_object_or_404(LedgerConnection, pk=pk)
    try:
        platform = platform_of("ledger", conn.platform)
    except UnknownPlatform:
        messages.error(
            request, f"The connector for {conn.platform} is not installed: the connection cannot be edited."
        )
        return redirect("connection-detail", pk=conn.pk)
    stored = set((conn.credentials or {}).keys())
    form_class = setup_form_class(platform, editing=True, stored_credentials=stored)
    setup_form = form_class(
        request.POST or None, prefix="setup", initial={**(conn.settings or {}), "base_url": conn.base_url}
    )
    details = LedgerDetailsForm(request.POST or None, prefix="ledger", initial={
        "name": conn.name, "functional_currency": conn.functional_currency, "lock_policy": conn.lock_policy})  # fmt: skip
    if request.method == "POST" and details.is_valid() and setup_form.is_valid():
        try:
            svc.update_ledger_connection(conn, details=details.cleaned_data,
                                         raw_setup=setup_values(setup_form, editing=True), actor=request.user)  # fmt: skip
        except SetupInvalid as exc:
            _apply_errors(exc.errors, details, setup_form)
        else:
            messages.success(request, "Saved.")
            return redirect("connection-detail", pk=conn.pk)
    return render(request, "setup/ledger_form.html", {"platform": platform, "details": details,
                                                      "setup_form": setup_form, "editing": True, "conn": conn})  # fmt: skip


@login_required
@require_POST
@permission_required(CHANGE, raise_exception=True)
def ledger_test(request: HttpRequest, pk: str) -> HttpResponse:
    """Test connection: call the ledger now and show what it said."""
    conn = get_object_or_404(LedgerConnection, pk=pk)
    check = svc.test_ledger_connection(conn, actor=request.user)
    (messages.success if check.ok else messages.error)(request, check.message)
    return redirect("connection-detail", pk=conn.pk)


@login_required
@require_POST
@permission_required(CHANGE, raise_exception=True)
def ledger_action(request: HttpRequest, pk: str, verb: str) -> HttpResponse:
    """disable, enable, archive or delete."""
    conn = get_object_or_404(LedgerConnection, pk=pk)
    try:
        if verb == "disable":
            svc.set_ledger_connection_active(conn, False, actor=request.user)
            messages.success(request, f"{conn.name} is disabled: postings wait until it is enabled.")
        elif verb == "enable":
            svc.set_ledger_connection_active(conn, True, actor=request.user)
            messages.success(request, f"{conn.name} is enabled: waiting postings go out on the next sweep.")
        elif verb == "archive":
            svc.archive_ledger_connection(conn, actor=request.user)
            messages.success(request, f"{conn.name} is archived; its history is kept.")
        elif verb == "delete":
            svc.delete_ledger_connection(conn, actor=request.user)
            messages.success(request, f"{conn.name} was deleted.")
            return redirect("setup")
        else:
            return HttpResponse(status=404)
    except SetupInvalid as exc:
        messages.error(request, " ".join(exc.errors.values()))
    return redirect("connection-detail", pk=conn.pk)
