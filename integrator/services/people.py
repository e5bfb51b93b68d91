"""The people who use the integrator: the first administrator of an empty installation, then
everyone else, with their roles. No shell and no Django admin needed; every change is audited
(never a password).

The first administrator. An installation with no user at all shows "Welcome" instead of the login
page. Creating the first account needs a one-time setup code, so whoever reaches a fresh server
first cannot take it over: the code is written to ``var/first-admin-code.txt`` (readable only by
the server's account) and printed by ``manage.py serve`` (``make run``); ``FIRST_ADMIN_CODE`` in the
environment sets it instead (containers). The file is removed once the account exists.

The first account is an integration admin (connections, credentials, people, API tokens; a second
factor is required before any change). Integration admins add the others with their roles; the
maker-checker rule of mappings still holds: nobody approves their own change.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction

from integrator.services import audit
from integrator.services.roles import ROLE_NAMES, ensure_roles

__all__ = [
    "FIRST_ADMIN_ROLES",
    "PeopleError",
    "create_first_admin",
    "create_person",
    "first_admin_code",
    "first_run_needed",
    "update_person",
]

FIRST_ADMIN_ROLES = ("integration_admin",)
_LOCK_ID = 0x1A0D18


class PeopleError(Exception):
    """A change to people that is refused; the message says why."""


def _code_path() -> Path:
    return Path(settings.VAR_DIR) / "first-admin-code.txt"


def first_run_needed() -> bool:
    """True while nobody can log in: the installation has no user yet."""
    return not get_user_model().objects.exists()


def first_admin_code() -> str:
    """The one-time code for creating the first administrator (made on first use)."""
    preset = os.environ.get("FIRST_ADMIN_CODE", "").strip()
    if preset:
        return preset
    path = _code_path()
    if path.exists():
        return path.read_text().strip()
    code = "-".join(secrets.token_hex(3) for _ in range(3))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(code + "\n")
    return code


def _serialise_first_run() -> None:
    """Two people submitting the welcome form at once: one wins (SQLite serialises writers)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_ID])


def _groups(roles: Iterable[str]) -> list[Group]:
    wanted = list(dict.fromkeys(roles))
    unknown = [r for r in wanted if r not in ROLE_NAMES]
    if unknown:
        raise PeopleError(f"unknown role(s): {', '.join(unknown)}")
    groups = ensure_roles()
    return [groups[r] for r in wanted]


def _split_name(full_name: str) -> tuple[str, str]:
    first, _, last = full_name.strip().partition(" ")
    return first[:150], last[:150]


def _picture(user: Any) -> dict[str, Any]:
    return {"username": user.get_username(), "name": user.get_full_name(), "email": user.email,
            "active": user.is_active, "roles": sorted(user.groups.values_list("name", flat=True))}  # fmt: skip


def create_first_admin(*, code: str, username: str, full_name: str, email: str, password: str) -> Any:
    """Create the first administrator, if the code is right and nobody exists yet."""
    expected = first_admin_code()
    if not hmac.compare_digest(code.strip().encode(), expected.encode()):
        raise PermissionDenied("That setup code is not the one printed by the server.")
    with transaction.atomic():
        _serialise_first_run()
        if not first_run_needed():
            raise PeopleError("The first administrator exists already: log in instead.")
        first, last = _split_name(full_name)
        user = get_user_model().objects.create_user(
            username=username, email=email, password=password, first_name=first, last_name=last
        )
        user.groups.set(_groups(FIRST_ADMIN_ROLES))
        audit.record("user.first_admin_created", obj=user, after=_picture(user), actor=user)
    _code_path().unlink(missing_ok=True)
    return user


def create_person(
    *, username: str, full_name: str, email: str, roles: Iterable[str], password: str, actor: Any
) -> Any:
    """Add someone with their role(s) and a first password."""
    if not getattr(actor, "has_perm", lambda _p: False)("auth.add_user"):
        raise PermissionDenied("Only an integration admin adds people.")
    with transaction.atomic():
        groups = _groups(roles)
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise PeopleError("Someone already uses this login.")
        first, last = _split_name(full_name)
        user = get_user_model().objects.create_user(
            username=username, email=email, password=password, first_name=first, last_name=last
        )
        user.groups.set(groups)
        audit.record("user.created", obj=user, after=_picture(user), actor=actor)
    return user


def update_person(
    user: Any,
    *,
    actor: Any,
    full_name: str | None = None,
    email: str | None = None,
    roles: Iterable[str] | None = None,
    password: str = "",
    active: bool | None = None,
) -> Any:
    """Change someone's name, e-mail, roles, password or whether they may log in. Nobody can lock
    themselves out (deactivate themselves, or drop their own integration admin role)."""
    if not getattr(actor, "has_perm", lambda _p: False)("auth.change_user"):
        raise PermissionDenied("Only an integration admin changes people.")
    with transaction.atomic():
        locked = get_user_model().objects.select_for_update().get(pk=user.pk)
        before = _picture(locked)
        if locked.pk == actor.pk:
            if active is False:
                raise PeopleError("You cannot deactivate your own account.")
            if (
                roles is not None
                and "integration_admin" in before["roles"]
                and "integration_admin" not in roles
            ):
                raise PeopleError("You cannot remove your own integration admin role.")
        if full_name is not None:
            locked.first_name, locked.last_name = _split_name(full_name)
        if email is not None:
            locked.email = email
        if active is not None:
            locked.is_active = active
        if password:
            locked.set_password(password)
        locked.save()
        if roles is not None:
            locked.groups.set(_groups(roles))
        audit.record("user.updated", obj=locked, before=before,
                     after={**_picture(locked), "password_changed": bool(password)}, actor=actor)  # fmt: skip
    return locked
