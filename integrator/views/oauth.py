"""The "Connect" button of a ledger connection: OAuth 2.0 consent, callback, tenant choice."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from connectors.base import ConnectorError
from integrator.models import LedgerConnection
from integrator.services.connections import (
    OAuthFlowError,
    choose_tenant,
    complete_authorization,
    start_authorization,
)

__all__ = ["oauth_callback", "oauth_choose_tenant", "oauth_start", "urlpatterns"]


def _detail(connection: LedgerConnection) -> str:
    try:
        return reverse("connection-detail", args=[connection.pk])
    except Exception:  # the connection page lives in another module; fall back to the list
        return "/connections/"


@login_required
@require_POST
@permission_required("integrator.change_ledgerconnection", raise_exception=True)
def oauth_start(request: HttpRequest, pk: str) -> HttpResponse:
    """Send the user to the vendor's consent screen."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    try:
        start = start_authorization(
            connection,
            request.session,
            request.build_absolute_uri(reverse("oauth-callback")),
            actor=request.user,
        )
    except OAuthFlowError as exc:
        messages.error(request, str(exc))
        return redirect(_detail(connection))
    # Not a redirect: the page's Content-Security-Policy (form-action 'self') also governs every
    # redirect that answers a form, including the vendor's own hops to its sign-in page, so a 302
    # here would be blocked by the browser. This short page moves on by itself (meta refresh, no
    # script) and keeps a link for the user.
    return render(
        request,
        "connections/oauth_continue.html",
        {"connection": connection, "consent_url": start.url, "vendor": _vendor_name(connection)},
    )


def _vendor_name(connection: LedgerConnection) -> str:
    from connectors.base import UnknownPlatform
    from integrator.services.setup_fields import platform_of

    try:
        return str(platform_of("ledger", connection.platform).name)
    except UnknownPlatform:
        return connection.platform


@login_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """The vendor sends the user back here with a code (or an error)."""
    try:
        connection, tenants = complete_authorization(
            request.session,
            state=request.GET.get("state", ""),
            code=request.GET.get("code", ""),
            realm_id=request.GET.get("realmId", ""),
            error=request.GET.get("error", ""),
            actor=request.user,
            accounts_server=request.GET.get("accounts-server", ""),
            location=request.GET.get("location", ""),
        )
    except OAuthFlowError as exc:
        messages.error(request, str(exc))
        return redirect("/connections/")
    except ConnectorError as exc:
        messages.error(request, f"The vendor refused the connection: {exc.vendor_message}")
        return redirect("/connections/")
    if tenants:
        return render(
            request, "connections/choose_tenant.html", {"connection": connection, "tenants": tenants}
        )
    messages.success(request, f"{connection.name} is connected. Postings will flow on the next sweep.")
    return redirect(_detail(connection))


@login_required
@require_POST
@permission_required("integrator.change_ledgerconnection", raise_exception=True)
def oauth_choose_tenant(request: HttpRequest, pk: str) -> HttpResponse:
    """Store the organisation the user picked."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    tenant_id = request.POST.get("tenant_id", "").strip()
    if not tenant_id:
        messages.error(request, "Choose an organisation.")
        return redirect(_detail(connection))
    choose_tenant(connection, tenant_id, actor=request.user)
    messages.success(request, f"{connection.name} now posts to the chosen organisation.")
    return redirect(_detail(connection))


urlpatterns = [
    path("<uuid:pk>/start/", oauth_start, name="oauth-start"),
    path("callback/", oauth_callback, name="oauth-callback"),
    path("<uuid:pk>/tenant/", oauth_choose_tenant, name="oauth-choose-tenant"),
]
