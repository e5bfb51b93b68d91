"""API token services: create (plaintext returned once), revoke, look up. Every change is audited.

A token is ``itk_<8 characters>_<43 characters>``: the part before the second underscore is the
prefix kept in clear to identify it; the whole string is hashed (SHA-256) for storage. 256 bits of
randomness make a slow hash unnecessary: nobody can guess a token, only steal one, and a stolen
hash cannot be used as a token.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrator.security.models import ApiToken
from integrator.security.scopes import validate_scopes
from integrator.services import audit

__all__ = [
    "DEFAULT_LIFETIME",
    "MAX_LIFETIME",
    "NewToken",
    "create_token",
    "find_active_token",
    "hash_token",
    "revoke_token",
    "touch_token",
]

TOKEN_PREFIX = "itk_"
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=366)
_PREFIX_ALPHABET = string.ascii_letters + string.digits
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is bookkeeping: at most one write a minute


@dataclass(frozen=True)
class NewToken:
    """A freshly created token: the row and the plaintext, which is never available again."""

    token: ApiToken
    plaintext: str


def hash_token(plaintext: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _public_fields(token: ApiToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "owner": token.owner.get_username(),
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def create_token(
    *,
    name: str,
    owner: Any,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    actor: Any = None,
) -> NewToken:
    """Create a token for ``owner`` (read-only unless write scopes are given); audited.

    The plaintext is returned here and nowhere else: only its hash and prefix are stored. A
    person can mint a token only for themselves: a token acts as its owner, so one minted for
    somebody else would let its maker act as that person (and approve their own change through
    it: issue 14). Without a person (``actor=None``: ``manage.py create_api_token``, run by an
    operator with a shell) any active owner may be given, which is how service users get tokens.
    """
    name = name.strip()
    if not name:
        raise ValueError("a token needs a name")
    if not getattr(owner, "is_active", False):
        raise ValueError("a token's owner must be an active user")
    if getattr(actor, "is_authenticated", False) and actor.pk != owner.pk:
        raise ValueError("a token is owned by the person who creates it: nobody mints one for someone else")
    now = timezone.now()
    expires_at = expires_at or now + DEFAULT_LIFETIME
    if expires_at <= now:
        raise ValueError("the expiry must be in the future")
    if expires_at > now + MAX_LIFETIME:
        raise ValueError(f"a token may live at most {MAX_LIFETIME.days} days")
    prefix = TOKEN_PREFIX + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name[:100],
            owner=owner,
            prefix=prefix,
            token_hash=hash_token(plaintext),
            scopes=validate_scopes(list(scopes or [])),
            expires_at=expires_at,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit.record("api_token.created", obj=token, after=_public_fields(token), actor=actor)
    return NewToken(token=token, plaintext=plaintext)


def revoke_token(token: ApiToken, *, actor: Any = None) -> ApiToken:
    """Revoke a token at once (idempotent: revoking twice changes nothing more); audited."""
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().select_related("owner").get(pk=token.pk)
        if locked.revoked_at is not None:
            return locked
        before = _public_fields(locked)
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit.record(
            "api_token.revoked", obj=locked, before=before, after=_public_fields(locked), actor=actor
        )
    return locked


def find_active_token(plaintext: str) -> ApiToken | None:
    """The active token with this plaintext, or None (unknown, revoked, expired or owner inactive)."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    token = (
        ApiToken.objects.select_related("owner")
        .filter(token_hash=hash_token(plaintext), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.owner.is_active:
        return None
    if token.created_by_id is not None and token.created_by_id != token.owner_id:
        # Minted for someone else before tokens were owned by their maker: it would let its maker
        # act as another person, so it no longer works (its owner creates their own).
        return None
    return token


def touch_token(token: ApiToken) -> None:
    """Record that the token was used (not audited: it is bookkeeping, written once a minute at most)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= _TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
