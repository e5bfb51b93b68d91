"""Setting up sales channels without a shell: create, edit, test, rotate the signing secret,
disable, archive, delete (only what has no history). Every function is atomic and audited.

Credentials are encrypted and write-only: the audit trail records which keys changed, never a
value. A signing secret we generate is returned once (for the screen or the API answer to show
and never again); a vendor-issued one is pasted by the person. Rotation keeps the previous secret
valid for a grace period (``Channel.previous_secrets_expire_at``), so deliveries the vendor signed
before the switch still verify; afterwards it is refused on read and removed by
:func:`expire_webhook_secrets`.
"""

from __future__ import annotations

import logging
import secrets
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from connectors.base import ConnectionCheck
from integrator import money
from integrator.choices import PostingMode, TransactionStatus
from integrator.models import Channel, LedgerConnection, MappingSet
from integrator.services import audit
from integrator.services.channels import create_channel, source_for
from integrator.services.setup_fields import Platform, SetupInvalid, clean_setup_values, platform_of

__all__ = [
    "DEFAULT_SECRET_GRACE",
    "ChannelDetails",
    "archive_channel",
    "delete_channel",
    "expire_webhook_secrets",
    "new_webhook_secret",
    "rotate_webhook_secret",
    "set_channel_active",
    "set_up_channel",
    "test_channel",
    "update_channel",
]

log = logging.getLogger(__name__)
#: How long a replaced signing secret is still accepted (vendors keep signing with the old one
#: until their own switch; Shopify and Stripe document overlapping secrets during a rotation).
DEFAULT_SECRET_GRACE = timedelta(hours=48)
MAX_SECRET_GRACE = timedelta(days=30)
# Statuses of transactions still on their way to the ledger through the channel's current setup.
_IN_FLIGHT = (TransactionStatus.JOURNALED, TransactionStatus.SUMMARISED)


@dataclass(frozen=True)
class ChannelDetails:
    """The plain fields of a channel the wizard and the API set (secrets come separately)."""

    name: str
    slug: str
    currency: str
    timezone: str
    posting_mode: str
    ledger_connection: LedgerConnection | None


def new_webhook_secret() -> str:
    """A fresh signing secret (256 bits, URL-safe: pastes cleanly into any platform)."""
    return "whsec_" + secrets.token_urlsafe(32)


def _check_details(details: ChannelDetails, *, exclude_pk: Any = None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not details.name.strip():
        errors["name"] = "Give the channel a name."
    if not details.slug or slugify(details.slug) != details.slug:
        errors["slug"] = "Use lower-case letters, digits and hyphens (it becomes the webhook address)."
    elif Channel.objects.filter(slug=details.slug).exclude(pk=exclude_pk).exists():
        errors["slug"] = f"Another channel already uses {details.slug!r}."
    try:
        money.normalize_currency(details.currency)
    except money.UnknownCurrency:
        errors["currency"] = f"{details.currency!r} is not an ISO 4217 currency code."
    try:
        zoneinfo.ZoneInfo(details.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = f"{details.timezone!r} is not a time zone (e.g. Europe/London)."
    if details.posting_mode not in PostingMode.values:
        errors["posting_mode"] = "Choose how the sales are posted."
    conn = details.ledger_connection
    if conn is not None and (not conn.active or conn.archived_at is not None):
        errors["ledger_connection"] = f"{conn.name} is disabled or archived."
    return errors


def _credential_keys(values: Mapping[str, Any]) -> list[str]:
    return sorted(values)


def set_up_channel(
    platform_slug: str, details: ChannelDetails, raw_setup: Mapping[str, Any], *, actor: Any = None
) -> tuple[Channel, str]:
    """Create a channel from the wizard (or the API): returns it and, when we generated its signing
    secret, that secret (shown once); "" when the vendor issued it or the platform sends no
    webhooks. Raises :class:`SetupInvalid` with every problem at once."""
    platform = platform_of("source", platform_slug)
    errors = _check_details(details)
    try:
        values = clean_setup_values(platform, raw_setup, creating=True)
    except SetupInvalid as exc:
        errors.update(exc.errors)
        values = None
    if errors or values is None:
        raise SetupInvalid(errors)
    generated = new_webhook_secret() if platform.we_issue_secret else ""
    webhook_secrets = [s for s in (values.webhook_secret or generated,) if s]
    try:
        with transaction.atomic():
            channel = create_channel(
                platform=platform.slug,
                name=details.name.strip(),
                slug=details.slug,
                currency=money.normalize_currency(details.currency),
                ledger_connection=details.ledger_connection,
                actor=actor,
                webhook_secrets=webhook_secrets,
                credentials=values.credentials,
                timezone=details.timezone,
                posting_mode=details.posting_mode,
                base_url=values.base_url or "",
                settings=values.settings,
            )
            audit.record(
                "channel.set_up",
                obj=channel,
                after={"platform": platform.slug, "credential_keys": _credential_keys(values.credentials),
                       "settings": values.settings, "webhook_secret": "generated" if generated else
                       ("entered" if webhook_secrets else "none")},
                actor=actor,
            )  # fmt: skip
    except IntegrityError as exc:  # a concurrent wizard took the slug between the check and the insert
        raise SetupInvalid({"slug": f"Another channel already uses {details.slug!r}."}) from exc
    return channel, generated


def _locked(channel: Channel) -> Channel:
    return Channel.objects.select_for_update().get(pk=channel.pk)


def update_channel(
    channel: Channel,
    *,
    details: Mapping[str, Any] | None = None,
    raw_setup: Mapping[str, Any] | None = None,
    actor: Any = None,
) -> Channel:
    """Edit a channel: any of name, slug, currency, timezone, posting_mode, ledger_connection
    (``details``) and its setup fields (``raw_setup``; blank secrets keep the stored ones).

    What would rewrite history is refused with the reason: a new slug once the vendor sends to the
    old address (events exist), a new currency once transactions exist, a new posting mode or ledger
    while transactions are on their way to the ledger.
    """
    details = dict(details or {})
    with transaction.atomic():
        locked = _locked(channel)
        platform = platform_of("source", locked.platform)
        current = ChannelDetails(locked.name, locked.slug, locked.currency, locked.timezone, locked.posting_mode,
                                 locked.ledger_connection)  # fmt: skip
        wanted = ChannelDetails(
            name=str(details.get("name", current.name)),
            slug=str(details.get("slug", current.slug)),
            currency=str(details.get("currency", current.currency)).upper(),
            timezone=str(details.get("timezone", current.timezone)),
            posting_mode=str(details.get("posting_mode", current.posting_mode)),
            ledger_connection=details.get("ledger_connection", current.ledger_connection),
        )
        errors = _check_details(wanted, exclude_pk=locked.pk)
        if wanted.slug != current.slug and locked.events.exists():
            errors["slug"] = "The platform already sends to the current address: the slug cannot change."
        if wanted.currency != current.currency and locked.transactions.exists():
            errors["currency"] = "The channel has transactions in its currency: set up a new channel instead."
        in_flight = locked.transactions.filter(status__in=_IN_FLIGHT).exists()
        if wanted.posting_mode != current.posting_mode and in_flight:
            errors["posting_mode"] = "Transactions are waiting to post: change the mode once they are posted."
        moved = (
            wanted.ledger_connection.pk if wanted.ledger_connection else None
        ) != locked.ledger_connection_id
        if moved and in_flight:
            errors["ledger_connection"] = "Transactions are waiting to post to the current ledger."
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
        before = audit.snapshot(locked)
        locked.name, locked.slug, locked.currency = wanted.name.strip(), wanted.slug, wanted.currency
        locked.timezone, locked.posting_mode = wanted.timezone, wanted.posting_mode
        locked.ledger_connection = wanted.ledger_connection
        changed_keys: list[str] = []
        if values is not None:
            if values.base_url is not None:
                locked.base_url = values.base_url
            settings = {**(locked.settings or {}), **values.settings}
            for name in values.remove_settings:
                settings.pop(name, None)
            locked.settings = settings
            if values.credentials:
                locked.credentials = {**(locked.credentials or {}), **values.credentials}
                changed_keys = _credential_keys(values.credentials)
        locked.save()
        if values is not None and values.webhook_secret and values.webhook_secret not in locked.secrets()[:1]:
            _rotate(locked, values.webhook_secret, DEFAULT_SECRET_GRACE)
            changed_keys.append("webhook_secret")
        audit.record("channel.updated", obj=locked, before=before,
                     after={**audit.snapshot(locked), "credential_keys_changed": changed_keys}, actor=actor)  # fmt: skip
    return locked


def _rotate(locked: Channel, new_secret: str, grace: timedelta) -> datetime | None:
    """Put ``new_secret`` first; the current one stays accepted for ``grace``; older ones go."""
    current = locked.secrets()[:1]
    locked.webhook_secrets = [new_secret, *current]
    locked.previous_secrets_expire_at = timezone.now() + grace if current else None
    locked.save(update_fields=["webhook_secrets", "previous_secrets_expire_at", "updated_at"])
    return locked.previous_secrets_expire_at


def rotate_webhook_secret(
    channel: Channel, *, new_secret: str = "", grace: timedelta = DEFAULT_SECRET_GRACE, actor: Any = None
) -> tuple[Channel, str]:
    """Replace the channel's signing secret; the previous one stays valid for ``grace``.

    For a platform that signs with a secret we issue, a new one is generated and returned (shown
    once). For a platform that issues its own, ``new_secret`` is the one the person copied from it.
    """
    platform: Platform = platform_of("source", channel.platform)
    if not platform.receives_webhooks:
        raise SetupInvalid(
            {"webhook_secret": f"{platform.name} sends no webhooks: there is no secret to rotate."}
        )
    if grace < timedelta(0) or grace > MAX_SECRET_GRACE:
        raise SetupInvalid({"grace_hours": "Keep the old secret for between 0 hours and 30 days."})
    new_secret = new_secret.strip()
    if platform.vendor_issues_secret and not new_secret:
        raise SetupInvalid({"webhook_secret": f"Paste the new signing secret from {platform.name}."})
    generated = "" if new_secret else new_webhook_secret()
    with transaction.atomic():
        locked = _locked(channel)
        if (new_secret or generated) in locked.secrets():
            raise SetupInvalid({"webhook_secret": "That is already the channel's secret."})
        before = {"secrets": len(locked.secrets())}
        expires = _rotate(locked, new_secret or generated, grace)
        audit.record(
            "channel.webhook_secret_rotated",
            obj=locked,
            before=before,
            after={"secrets": len(locked.secrets()), "previous_valid_until": expires.isoformat() if expires else None,
                   "generated": bool(generated)},
            actor=actor,
        )  # fmt: skip
    return locked, generated


def expire_webhook_secrets(now: datetime | None = None) -> int:
    """Remove previous signing secrets whose grace period has ended (scheduled; they are refused on
    read already, this only tidies the stored list). Returns how many channels were tidied."""
    now = now or timezone.now()
    tidied = 0
    for pk in list(Channel.objects.filter(previous_secrets_expire_at__lte=now).values_list("pk", flat=True)):
        with transaction.atomic():
            locked = Channel.objects.select_for_update().get(pk=pk)
            stored = locked.webhook_secrets or []
            if locked.previous_secrets_expire_at is None or locked.previous_secrets_expire_at > now:
                continue
            locked.webhook_secrets = list(stored)[:1] if isinstance(stored, list) else stored
            locked.previous_secrets_expire_at = None
            locked.save(update_fields=["webhook_secrets", "previous_secrets_expire_at", "updated_at"])
            audit.record("channel.previous_secret_expired", obj=locked, after={"secrets": len(locked.secrets())},
                         actor_label="system")  # fmt: skip
            tidied += 1
    return tidied


def test_channel(channel: Channel, *, actor: Any = None) -> ConnectionCheck:
    """Call the vendor with the stored configuration (outside any transaction) and record the
    answer in the audit trail, where the channel's page reads the latest one."""
    try:
        check = source_for(channel).test_connection()
    except Exception as exc:  # a connector bug must read as a failed test, not a server error
        log.exception("connection test of %s failed unexpectedly", channel.slug)
        check = ConnectionCheck(False, f"The test could not run ({type(exc).__name__}); the error is logged.")
    audit.record("channel.connection_tested", obj=channel,
                 after={"ok": check.ok, "message": check.message, "details": dict(check.details)}, actor=actor)  # fmt: skip
    return check


def set_channel_active(channel: Channel, active: bool, *, actor: Any = None) -> Channel:
    """Enable or disable a channel. A disabled channel refuses webhooks (the vendor retries later)
    and is not pulled; what it booked stays. Enabling an archived channel restores it."""
    with transaction.atomic():
        locked = _locked(channel)
        before = audit.snapshot(locked, ["active", "archived_at"])
        locked.active = active
        if active:
            locked.archived_at = None
        locked.save(update_fields=["active", "archived_at", "updated_at"])
        audit.record("channel.enabled" if active else "channel.disabled", obj=locked, before=before,
                     after=audit.snapshot(locked, ["active", "archived_at"]), actor=actor)  # fmt: skip
    return locked


def archive_channel(channel: Channel, *, actor: Any = None) -> Channel:
    """Archive: disabled and out of the working lists, history kept (never deleted)."""
    with transaction.atomic():
        locked = _locked(channel)
        before = audit.snapshot(locked, ["active", "archived_at"])
        locked.active = False
        locked.archived_at = locked.archived_at or timezone.now()
        locked.save(update_fields=["active", "archived_at", "updated_at"])
        audit.record("channel.archived", obj=locked, before=before,
                     after=audit.snapshot(locked, ["active", "archived_at"]), actor=actor)  # fmt: skip
    return locked


def delete_channel(channel: Channel, *, actor: Any = None) -> None:
    """Delete a channel set up by mistake. Refused as soon as it has received anything or has
    mappings: then it is archived instead, so no history is ever lost."""
    with transaction.atomic():
        locked = _locked(channel)
        if locked.events.exists() or locked.transactions.exists():
            raise SetupInvalid(
                {"channel": "The channel has received events: archive it instead of deleting."}
            )
        if MappingSet.objects.filter(channel=locked).exists():
            raise SetupInvalid({"channel": "The channel has mappings: archive it instead of deleting."})
        before = audit.snapshot(locked)
        pk = str(locked.pk)
        audit.record(
            "channel.deleted", object_type="integrator.Channel", object_id=pk, before=before, actor=actor
        )
        locked.delete()
