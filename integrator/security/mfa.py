"""Two-factor authentication glue around django-otp: TOTP enrolment with a QR code, backup codes,
verifying a session. Device changes are audited; verifications are logged on ``integrator.security``.

A session is *verified* once the user has entered a code from a confirmed device in it
(``request.user.is_verified()``, from django-otp's middleware). Finance managers and integration
admins need a verified session before any change (:mod:`integrator.security.middleware`).

Wrong codes are throttled per device, but people mistype: the first ``FREE_ATTEMPTS`` wrong codes
in a row cost no wait, so the right code entered straight after a typo is accepted; from then on
django-otp's exponential wait applies (8 s, 16 s, ...), and :func:`wait_seconds` tells the screen how
long, so a right code is never answered "did not match" while the device is waiting.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import django_otp
import segno
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from integrator.services import audit

__all__ = [
    "BACKUP_CODE_COUNT",
    "FREE_ATTEMPTS",
    "confirm_totp_device",
    "device_wait_seconds",
    "has_confirmed_device",
    "pending_totp_device",
    "qr_data_uri",
    "regenerate_backup_codes",
    "remaining_backup_codes",
    "verify_session",
    "wait_seconds",
]

security_log = logging.getLogger("integrator.security")
BACKUP_CODE_COUNT = 10
FREE_ATTEMPTS = 3
_TOTP_NAME = "Authenticator app"
_BACKUP_NAME = "Backup codes"
_DIGITS = re.compile(r"^\d{6,8}$")


def has_confirmed_device(user: Any) -> bool:
    """True when the user has a confirmed TOTP device (backup codes alone do not count)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def pending_totp_device(user: Any) -> TOTPDevice:
    """The user's unconfirmed TOTP device, created on first call (the secret stays until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_TOTP_NAME, confirmed=False)
    return device


def qr_data_uri(device: TOTPDevice) -> str:
    """An SVG QR code of the device's otpauth:// URL as a data URI (rendered here: no network)."""
    return str(segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2))


def _clean(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _devices_for(user: Any, code: str) -> list[Any]:
    """The devices a code is checked against: the authenticator for digits, else backup codes."""
    if _DIGITS.match(_clean(code)):
        return list(TOTPDevice.objects.filter(user=user, confirmed=True))
    return list(StaticDevice.objects.filter(user=user, confirmed=True))


def _forgive_first_failures(device: Any) -> None:
    """After a wrong code, let the next try through at once while the run of wrong codes is short
    (the failure count is kept, so the wait starts after ``FREE_ATTEMPTS`` misses in a row)."""
    type(device).objects.filter(
        pk=device.pk, throttling_failure_count__gte=1, throttling_failure_count__lte=FREE_ATTEMPTS
    ).update(throttling_failure_timestamp=None)


def device_wait_seconds(device: Any) -> int:
    """Whole seconds before ``device`` accepts another code (0: it accepts one now)."""
    device.refresh_from_db()
    allowed, info = device.verify_is_allowed()
    if allowed or not info or not info.get("locked_until"):
        return 0
    return max(1, math.ceil((info["locked_until"] - timezone.now()).total_seconds()))


def wait_seconds(user: Any, code: str) -> int:
    """Whole seconds before a code like ``code`` can be checked for ``user`` (0: now)."""
    return max((device_wait_seconds(d) for d in _devices_for(user, code)), default=0)


@transaction.atomic
def confirm_totp_device(request: HttpRequest, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm a pending device with a code from the app; verifies the session.

    Returns fresh backup codes (shown once) on success, None when the code is wrong. Other TOTP
    devices of the user are removed: one authenticator per person keeps recovery simple.
    """
    user = request.user
    if device.user_id != user.pk or device.confirmed or not device.verify_token(_clean(code)):
        security_log.warning("mfa enrolment code refused: user=%s", user.get_username())
        _forgive_first_failures(device)
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record(
        "mfa.totp_confirmed",
        object_type="otp_totp.TOTPDevice",
        object_id=str(device.pk),
        after={"user": user.get_username(), "device": device.name},
        actor=user,
    )
    django_otp.login(request, device)
    return regenerate_backup_codes(user, actor=user)


@transaction.atomic
def regenerate_backup_codes(user: Any, *, actor: Any = None) -> list[str]:
    """Replace the user's backup codes with ``BACKUP_CODE_COUNT`` new ones (shown once; audited)."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=_BACKUP_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    audit.record(
        "mfa.backup_codes_generated",
        object_type="otp_static.StaticDevice",
        object_id=str(device.pk),
        after={"user": user.get_username(), "codes": len(codes)},
        actor=actor,
    )
    return codes


def remaining_backup_codes(user: Any) -> int:
    """How many unused backup codes the user has."""
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def verify_session(request: HttpRequest, code: str) -> bool:
    """Check a code (authenticator or backup code) and mark the session verified when it matches.

    Each device throttles wrong codes itself (growing delays); a backup code works once.
    """
    user = request.user
    code = _clean(code)
    devices = _devices_for(user, code)
    for device in devices:
        matched = django_otp.verify_token(user, device.persistent_id, code)
        if matched is not None:
            django_otp.login(request, matched)
            security_log.info("mfa verified: user=%s device=%s", user.get_username(), matched.persistent_id)
            return True
    security_log.warning(
        "mfa code refused: user=%s ip=%s", user.get_username(), request.META.get("REMOTE_ADDR", "")
    )
    for device in devices:
        _forgive_first_failures(device)
    return False
