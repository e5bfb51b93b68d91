"""API token screens: list, create (the plaintext is shown once), revoke. Integration admins only."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from integrator.security.forms import TokenForm
from integrator.security.models import ApiToken
from integrator.security.scopes import WRITE_SCOPES
from integrator.security.tokens import create_token, revoke_token

__all__ = ["token_create", "token_list", "token_revoke"]


def _list(request: HttpRequest, form: TokenForm, status: int = 200) -> HttpResponse:
    tokens = ApiToken.objects.select_related("owner", "created_by").order_by("-created_at")
    return render(
        request,
        "security/token_list.html",
        {"tokens": tokens, "form": form, "write_scopes": WRITE_SCOPES},
        status=status,
    )


@require_safe
@login_required
@permission_required("security.view_apitoken", raise_exception=True)
def token_list(request: HttpRequest) -> HttpResponse:
    """Every token with its owner, scopes, expiry, last use and status (never the token itself)."""
    return _list(request, TokenForm())


@never_cache
@login_required
@require_POST
@permission_required("security.add_apitoken", raise_exception=True)
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a token and show its plaintext once (the page is not cached and not re-shown)."""
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _list(request, form, status=400)
    try:
        new = create_token(
            name=form.cleaned_data["name"],
            owner=request.user,
            scopes=list(form.cleaned_data["scopes"]),
            expires_at=timezone.now() + timedelta(days=form.cleaned_data["expires_in_days"]),
            actor=request.user,
        )
    except ValueError as exc:
        form.add_error(None, str(exc))
        return _list(request, form, status=400)
    return render(request, "security/token_created.html", {"token": new.token, "plaintext": new.plaintext})


@login_required
@require_POST
@permission_required("security.change_apitoken", raise_exception=True)
def token_revoke(request: HttpRequest, pk: str) -> HttpResponse:
    """Revoke a token at once."""
    token = get_object_or_404(ApiToken, pk=pk)
    revoke_token(token, actor=request.user)
    messages.success(request, f"Token {token.prefix}… ({token.name}) revoked: it no longer works.")
    return redirect("security:tokens")
