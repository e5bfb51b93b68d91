"""Login throttling: django-axes in front of the model backend, for logins that come with a request.

Every password login through a form or the API carries a request and is counted (per username,
``AXES_FAILURE_LIMIT`` failures within ``AXES_COOLOFF_TIME`` lock the account for that time).
``authenticate()`` without a request (the Django shell, the test client's ``login``) has no client
to throttle and is passed on to the next backend instead of failing.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest

__all__ = ["LoginThrottleBackend"]


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' standalone backend, tolerant of request-less authentication."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Refuse a locked-out username (raises); otherwise let the next backend decide."""
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
