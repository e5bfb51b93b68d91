"""Two-factor screens: status, enrolment (QR code, then backup codes shown once), verification."""

from __future__ import annotations

from base64 import b32encode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from integrator.security import mfa
from integrator.security.forms import CodeForm
from integrator.security.roles import requires_mfa

__all__ = ["mfa_backup_codes", "mfa_enrol", "mfa_status", "mfa_verify"]


_NO_MATCH = "That code did not match. Check the time on your phone and enter the code it shows now."


def _wait_message(seconds: int) -> str:
    """What to say while the device waits out a run of wrong codes (the code was not checked)."""
    return (
        f"Too many wrong codes in a row: wait {seconds} second{'s' if seconds != 1 else ''}, then enter "
        "the code your app shows at that moment. This code was not checked."
    )


def _is_verified(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_verified", lambda: False)())


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


@require_safe
@login_required
def mfa_status(request: HttpRequest) -> HttpResponse:
    """The user's second factor: enrolled or not, this session verified or not, backup codes left."""
    return render(
        request,
        "security/mfa_status.html",
        {
            "enrolled": mfa.has_confirmed_device(request.user),
            "verified": _is_verified(request),
            "required": requires_mfa(request.user),
            "backup_left": mfa.remaining_backup_codes(request.user),
        },
    )


@never_cache
@login_required
def mfa_enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR code, enter a code, receive backup codes once.

    Replacing an existing authenticator needs a session verified with it first, so a stolen
    password alone cannot enrol the thief's phone.
    """
    if mfa.has_confirmed_device(request.user) and not _is_verified(request):
        messages.warning(request, "Verify with your current authenticator before replacing it.")
        return redirect("security:mfa-verify")
    device = mfa.pending_totp_device(request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        wait = mfa.device_wait_seconds(device)
        codes = None if wait else mfa.confirm_totp_device(request, device, form.cleaned_data["code"])
        if codes is not None:
            return render(
                request, "security/backup_codes.html", {"codes": codes, "next": _safe_next(request)}
            )
        form.add_error("code", _wait_message(wait) if wait else _NO_MATCH)
    return render(
        request,
        "security/mfa_enrol.html",
        {
            "form": form,
            "qr": mfa.qr_data_uri(device),
            "secret": b32encode(device.bin_key).decode(),
            "next": _safe_next(request),
        },
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
def mfa_verify(request: HttpRequest) -> HttpResponse:
    """Enter a code from the authenticator (or a backup code) to verify this session."""
    if not mfa.has_confirmed_device(request.user):
        return redirect("security:mfa-enrol")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        wait = mfa.wait_seconds(request.user, code)
        if not wait and mfa.verify_session(request, code):
            messages.success(request, "Two-factor verification done for this session.")
            return redirect(_safe_next(request))
        form.add_error("code", _wait_message(wait) if wait else _NO_MATCH)
    return render(
        request,
        "security/mfa_verify.html",
        {"form": form, "next": _safe_next(request)},
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_POST
def mfa_backup_codes(request: HttpRequest) -> HttpResponse:
    """Replace the backup codes (needs a verified session); the new ones are shown once."""
    if not _is_verified(request):
        messages.warning(request, "Verify with your authenticator first.")
        return redirect("security:mfa-verify")
    codes = mfa.regenerate_backup_codes(request.user, actor=request.user)
    return render(request, "security/backup_codes.html", {"codes": codes, "next": "/"})
