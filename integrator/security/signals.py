"""Signal handlers: start the session clocks at login, log lockouts on the security logger."""

from __future__ import annotations

import logging
import time
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from integrator.security.middleware import SEEN_KEY, STARTED_KEY

security_log = logging.getLogger("integrator.security")


@receiver(user_logged_in, dispatch_uid="integrator.security.session_clock")
def start_session_clock(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Record when the session began, for the absolute session lifetime."""
    session = getattr(request, "session", None)
    if session is not None:
        now = time.time()
        session[STARTED_KEY] = now
        session[SEEN_KEY] = now


@receiver(user_locked_out, dispatch_uid="integrator.security.lockout_log")
def log_lockout(
    sender: Any, request: Any, username: str | None = None, ip_address: str = "", **kwargs: Any
) -> None:
    """A username was locked out after too many failed logins."""
    security_log.warning("login locked out: username=%s ip=%s", username, ip_address)
