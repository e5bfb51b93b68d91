"""Who must use two-factor authentication, and who counts as a privileged user."""

from __future__ import annotations

from typing import Any

__all__ = ["MFA_ROLES", "requires_mfa"]

# Finance managers approve mapping changes, write-offs and period close; integration admins hold
# the connections, credentials and API tokens. Both need a second factor before any change.
MFA_ROLES = ("finance_manager", "integration_admin")


def requires_mfa(user: Any) -> bool:
    """True for superusers and members of the MFA roles (cached on the user object)."""
    if not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, "_requires_mfa", None)
    if cached is None:
        cached = bool(user.is_superuser or user.groups.filter(name__in=MFA_ROLES).exists())
        user._requires_mfa = cached
    return bool(cached)
