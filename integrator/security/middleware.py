"""Session limits and the second-factor gate for privileged users.

* :class:`SessionTimeoutMiddleware` logs a session out after ``SESSION_IDLE_TIMEOUT`` seconds
  without a request, and ``SESSION_ABSOLUTE_TIMEOUT`` seconds after login, whatever the activity.
* :class:`MfaRequiredMiddleware`: finance managers, integration admins and superusers must have a
  confirmed authenticator and have entered a code in this session before any change (every
  POST/PUT/PATCH/DELETE: approvals, replays, connection, credential and token changes). Reading is
  allowed; the first page after login tells them to verify.

Both go after django-otp's ``OTPMiddleware`` and the messages middleware.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from integrator.api.errors import error_body
from integrator.security.mfa import has_confirmed_device
from integrator.security.roles import requires_mfa

__all__ = ["MfaRequiredMiddleware", "SessionTimeoutMiddleware"]

security_log = logging.getLogger("integrator.security")
STARTED_KEY = "_integrator_auth_started"
SEEN_KEY = "_integrator_last_seen"
_NOTICE_KEY = "_integrator_mfa_notice"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Views a privileged user must reach before verifying: logging in and out, and the MFA pages.
_EXEMPT_URL_NAMES = frozenset(
    {"login", "logout", "security:mfa", "security:mfa-enrol", "security:mfa-verify"}
)


def _wants_json(request: HttpRequest) -> bool:
    return (
        request.path.startswith("/api/")
        or bool(request.headers.get("HX-Request"))
        or "application/json" in request.headers.get("Accept", "")
    )


def _same_site_path(request: HttpRequest, url: str) -> str:
    """The path (and query) of ``url`` when it points at this site, else '/'."""
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return "/"
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class SessionTimeoutMiddleware:
    """End idle sessions and sessions past their absolute lifetime (server-side clock)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Check the session's clocks before the view runs."""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            started = float(request.session.get(STARTED_KEY) or now)
            seen = float(request.session.get(SEEN_KEY) or now)
            idle_limit = settings.SESSION_IDLE_TIMEOUT
            absolute_limit = settings.SESSION_ABSOLUTE_TIMEOUT
            if now - seen > idle_limit or now - started > absolute_limit:
                why = "inactivity" if now - seen > idle_limit else "maximum session length"
                security_log.info("session ended (%s): user=%s", why, user.get_username())
                logout(request)
                messages.info(request, f"You were logged out after {why}. Please log in again.")
            else:
                if STARTED_KEY not in request.session:
                    request.session[STARTED_KEY] = started
                # Write at most every 30 s: the idle limit is minutes, not seconds.
                if now - seen >= 30 or SEEN_KEY not in request.session:
                    request.session[SEEN_KEY] = now
        return self.get_response(request)


class MfaRequiredMiddleware:
    """Refuse changes by privileged users whose session is not verified with a second factor."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Nothing to do outside the view hook."""
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        """Gate unsafe methods; nudge on the first page after login."""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not requires_mfa(user):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in _EXEMPT_URL_NAMES:
            return None
        verified = bool(getattr(user, "is_verified", lambda: False)())
        if verified:
            return None
        enrolled = has_confirmed_device(user)
        if request.method in _SAFE_METHODS:
            if not request.session.get(_NOTICE_KEY) and not _wants_json(request):
                request.session[_NOTICE_KEY] = True
                messages.warning(
                    request,
                    "Your role needs two-factor authentication: "
                    + ("verify with your authenticator" if enrolled else "set up an authenticator app")
                    + " (Security page) before approving or changing anything.",
                )
            return None
        security_log.warning(
            "change refused without verified second factor: user=%s method=%s path=%s",
            user.get_username(),
            request.method,
            request.path,
        )
        detail = (
            "Two-factor verification required: enter a code from your authenticator first."
            if enrolled
            else "Two-factor authentication required: set up an authenticator app first."
        )
        if _wants_json(request):
            return JsonResponse(error_body("mfa_required", detail), status=403)
        target = reverse("security:mfa-verify" if enrolled else "security:mfa-enrol")
        nxt = _same_site_path(request, request.headers.get("Referer", ""))
        messages.warning(request, detail)
        return redirect(f"{target}?{urlencode({'next': nxt})}")
