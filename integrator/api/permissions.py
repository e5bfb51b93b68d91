"""API permissions: Django model permissions, with 'view' required for reading, and token scopes."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

__all__ = ["ModelPermission", "TokenScopePermission"]


def _token_scope_refusal(request: Request, view: Any) -> str:
    """'' unless the request is authenticated by an API token lacking the scope for this write."""
    from integrator.security.models import ApiToken
    from integrator.security.scopes import check_token_scope

    token = getattr(request, "auth", None)
    if not isinstance(token, ApiToken):
        return ""
    return check_token_scope(list(token.scopes), request.method or "GET", view)


class TokenScopePermission(permissions.BasePermission):
    """Requests authenticated by an API token need a write scope for the resource to change it.

    Session users are unaffected. Use it next to ``IsAuthenticated`` on views that override the
    default permission classes (custom actions).
    """

    message = "Your API token does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        """Refuse token writes outside the token's scopes."""
        reason = _token_scope_refusal(request, view)
        if reason:
            self.message = reason
            return False
        return True


class ModelPermission(permissions.DjangoModelPermissions):
    """Reading needs the model's view permission; writing its add/change/delete permission.

    Roles (groups created by migration 0003) grant these; objects are always fetched through the
    viewset's queryset. A request with an API token gets its owner's permissions, narrowed by the
    token's scopes (read-only unless it holds ``<resource>:write``).
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        """The owner's model permission and, for tokens, the scope."""
        reason = _token_scope_refusal(request, view)
        if reason:
            self.message = reason
            return False
        return super().has_permission(request, view)
