"""DRF authentication by API token: ``Authorization: Bearer itk_...``.

Scopes are enforced here as well as in :class:`integrator.api.permissions.ModelPermission`, so a
view that overrides its permission classes (a custom action) still cannot be written to by a token
without the scope for its resource.
"""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from integrator.security.scopes import check_token_scope
from integrator.security.tokens import find_active_token, touch_token

__all__ = ["ApiTokenAuthentication"]

security_log = logging.getLogger("integrator.security")


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticate a bearer token; the request then acts as the token's owner within its scopes.

    ``request.auth`` is the :class:`~integrator.security.models.ApiToken`. Unknown, expired and
    revoked tokens are refused and logged (with the prefix only) on ``integrator.security``.
    """

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """Return (owner, token), None when no bearer token is sent, or raise."""
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid bearer header: send 'Bearer <token>'.")
        try:
            plaintext = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        token = find_active_token(plaintext)
        if token is None:
            security_log.warning(
                "api token refused: prefix=%s ip=%s request_id=%s",
                plaintext[:12] if plaintext.startswith("itk_") else "(none)",
                request.META.get("REMOTE_ADDR", ""),
                getattr(request._request, "request_id", ""),
            )
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        view = (getattr(request, "parser_context", None) or {}).get("view")
        reason = check_token_scope(list(token.scopes), request.method or "GET", view)
        if reason:
            security_log.warning(
                "api token scope refused: prefix=%s method=%s path=%s reason=%s",
                token.prefix,
                request.method,
                request.path,
                reason,
            )
            raise exceptions.PermissionDenied(reason)
        touch_token(token)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            # The audit rows of this write carry the owner and the request id; this line ties
            # that request id to the token.
            security_log.info(
                "api token write: prefix=%s owner=%s method=%s path=%s request_id=%s",
                token.prefix,
                token.owner.get_username(),
                request.method,
                request.path,
                getattr(request._request, "request_id", ""),
            )
        return token.owner, token

    def authenticate_header(self, request: Request) -> str:
        """The challenge sent with 401 answers."""
        return 'Bearer realm="api"'
