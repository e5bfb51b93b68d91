"""Setting up ledger connections without a shell: create, edit, test, disable, archive, delete
(only what has no history). Every function is atomic and audited; credentials are write-only.

Ledgers with an OAuth consent screen (QuickBooks, Xero) are created with the app's client id and
secret and then connected by the "Connect" button (:mod:`integrator.services.connections`), which
stores the tokens and the company; the others are usable as soon as they are saved.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.base import ConnectionCheck
from integrator import money
from integrator.choices import LockPolicy
from integrator.models import JournalEntry, LedgerConnection, MappingSet, Posting
from integrator.services import audit
from integrator.services.posting import ledger_target_for
from integrator.services.setup_fields import SetupInvalid, clean_setup_values, platform_of

__all__ = [
    "archive_ledger_connection",
    "delete_ledger_connection",
    "set_ledger_connection_active",
    "set_up_ledger_connection",
    "test_ledger_connection",
    "update_ledger_connection",
]

log = logging.getLogger(__name__)
_FIELDS = ["name", "functional_currency", "lock_policy", "base_url", "settings", "active", "archived_at"]


def _check(name: str, currency: str, lock_policy: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Give the connection a name."
    try:
        money.normalize_currency(currency)
    except money.UnknownCurrency:
        errors["functional_currency"] = f"{currency!r} is not an ISO 4217 currency code."
    if lock_policy not in LockPolicy.values:
        errors["lock_policy"] = "Choose what happens to a document dated in a closed period."
    return errors


def set_up_ledger_connection(
    platform_slug: str,
    *,
    name: str,
    functional_currency: str,
    lock_policy: str = LockPolicy.HOLD,
    raw_setup: Mapping[str, Any] | None = None,
    actor: Any = None,
) -> LedgerConnection:
    """Create a ledger connection from the wizard (or the API). Raises :class:`SetupInvalid`."""
    platform = platform_of("ledger", platform_slug)
    errors = _check(name, functional_currency, lock_policy)
    try:
        values = clean_setup_values(platform, raw_setup or {}, creating=True)
    except SetupInvalid as exc:
        errors.update(exc.errors)
        values = None
    if errors or values is None:
        raise SetupInvalid(errors)
    with transaction.atomic():
        conn = LedgerConnection.objects.create(
            platform=platform.slug,
            name=name.strip(),
            functional_currency=money.normalize_currency(functional_currency),
            lock_policy=lock_policy,
            base_url=values.base_url or "",
            credentials=values.credentials,
            settings=values.settings,
        )
        audit.record(
            "connection.created",
            obj=conn,
            after={**audit.snapshot(conn, _FIELDS), "credential_keys": sorted(values.credentials)},
            actor=actor,
        )
    return conn


def update_ledger_connection(
    connection: LedgerConnection,
    *,
    details: Mapping[str, Any] | None = None,
    raw_setup: Mapping[str, Any] | None = None,
    actor: Any = None,
) -> LedgerConnection:
    """Edit name, functional currency (only before anything was journalled for it), closed-period
    policy and setup fields (blank secrets keep the stored ones). New client credentials do not
    disconnect the ledger: the stored tokens stay until the person connects again."""
    details = dict(details or {})
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=connection.pk)
        platform = platform_of("ledger", locked.platform)
        name = str(details.get("name", locked.name))
        currency = str(details.get("functional_currency", locked.functional_currency)).upper()
        policy = str(details.get("lock_policy", locked.lock_policy))
        errors = _check(name, currency, policy)
        if currency != locked.functional_currency and JournalEntry.objects.filter(connection=locked).exists():
            errors["functional_currency"] = (
                "Entries were journalled in the current currency: it cannot change."
            )
        values = None
        if raw_setup:
            try:
                values = clean_setup_values(
                    platform, raw_setup, creating=False, stored_credentials=locked.credentials or {}
                )
            except SetupInvalid as exc:
                errors.update(exc.errors)
        if errors:
            raise SetupInvalid(errors)
        before = audit.snapshot(locked, _FIELDS)
        locked.name, locked.functional_currency, locked.lock_policy = name.strip(), currency, policy
        changed: list[str] = []
        if values is not None:
            if values.base_url is not None:
                locked.base_url = values.base_url
            settings = {**(locked.settings or {}), **values.settings}
            for key in values.remove_settings:
                settings.pop(key, None)
            locked.settings = settings
            if values.credentials:
                locked.credentials = {**(locked.credentials or {}), **values.credentials}
                changed = sorted(values.credentials)
        locked.save()
        audit.record("connection.updated", obj=locked, before=before,
                     after={**audit.snapshot(locked, _FIELDS), "credential_keys_changed": changed}, actor=actor)  # fmt: skip
    return locked


def test_ledger_connection(connection: LedgerConnection, *, actor: Any = None) -> ConnectionCheck:
    """Call the ledger with the stored configuration (outside any transaction); the answer is
    audited (the connection's page shows the latest)."""
    try:
        check = ledger_target_for(connection).test_connection()
    except Exception as exc:  # a connector bug must read as a failed test, not a server error
        log.exception("connection test of ledger %s failed unexpectedly", connection.pk)
        check = ConnectionCheck(False, f"The test could not run ({type(exc).__name__}); the error is logged.")
    audit.record("connection.tested", obj=connection,
                 after={"ok": check.ok, "message": check.message, "details": dict(check.details)}, actor=actor)  # fmt: skip
    return check


def set_ledger_connection_active(
    connection: LedgerConnection, active: bool, *, actor: Any = None
) -> LedgerConnection:
    """Enable or disable. Postings to a disabled ledger wait (nothing is lost); enabling an
    archived connection restores it."""
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=connection.pk)
        before = audit.snapshot(locked, ["active", "archived_at"])
        locked.active = active
        if active:
            locked.archived_at = None
        locked.save(update_fields=["active", "archived_at", "updated_at"])
        audit.record("connection.enabled" if active else "connection.disabled", obj=locked, before=before,
                     after=audit.snapshot(locked, ["active", "archived_at"]), actor=actor)  # fmt: skip
    return locked


def archive_ledger_connection(connection: LedgerConnection, *, actor: Any = None) -> LedgerConnection:
    """Archive: disabled, hidden from the working lists, history kept. Refused while an active
    channel still posts to it."""
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=connection.pk)
        users = list(locked.channels.filter(active=True).values_list("name", flat=True))
        if users:
            raise SetupInvalid(
                {"connection": f"Channels still post to it: {', '.join(users)}. Move or disable them first."}
            )
        before = audit.snapshot(locked, ["active", "archived_at"])
        locked.active = False
        locked.archived_at = locked.archived_at or timezone.now()
        locked.save(update_fields=["active", "archived_at", "updated_at"])
        audit.record("connection.archived", obj=locked, before=before,
                     after=audit.snapshot(locked, ["active", "archived_at"]), actor=actor)  # fmt: skip
    return locked


def delete_ledger_connection(connection: LedgerConnection, *, actor: Any = None) -> None:
    """Delete a connection set up by mistake; refused once anything was journalled, posted or
    mapped for it, or a channel points at it (archive instead)."""
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=connection.pk)
        if (
            locked.channels.exists()
            or JournalEntry.objects.filter(connection=locked).exists()
            or Posting.objects.filter(connection=locked).exists()
            or MappingSet.objects.filter(connection=locked).exists()
        ):
            raise SetupInvalid(
                {"connection": "The connection has channels, mappings or entries: archive it instead."}
            )
        before = audit.snapshot(locked, _FIELDS)
        audit.record("connection.deleted", object_type="integrator.LedgerConnection", object_id=str(locked.pk),
                     before=before, actor=actor)  # fmt: skip
        locked.delete()
