"""Channel services: building connector configuration and creating channels (audited)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import transaction

from connectors.base import SalesSource, SourceConfig, sales_source_class
from integrator.models import Channel, LedgerConnection
from integrator.services import audit

__all__ = ["create_channel", "record_webhook_handshake", "source_config", "source_for"]


def source_config(channel: Channel) -> SourceConfig:
    """The frozen configuration a source connector gets for a channel (secrets decrypted)."""
    return SourceConfig(
        channel_slug=channel.slug,
        currency=channel.currency,
        timezone=channel.timezone,
        base_url=channel.base_url,
        credentials=dict(channel.credentials or {}),
        webhook_secrets=channel.secrets(),
        settings=dict(channel.settings or {}),
        save_credentials=_save_channel_credentials(channel.pk),
    )


def _save_channel_credentials(channel_id: Any) -> Callable[[Mapping[str, Any]], None]:
    """Persist a source's rotated tokens atomically (a refresh token must never be lost)."""

    def save(credentials: Mapping[str, Any]) -> None:
        with transaction.atomic():
            locked = Channel.objects.select_for_update().get(pk=channel_id)
            locked.credentials = {**dict(locked.credentials or {}), **dict(credentials)}
            locked.save(update_fields=["credentials", "updated_at"])
            audit.record("channel.credentials_rotated", obj=locked, actor_label="system")

    return save


def share_channels(rows: Sequence[Any]) -> None:
    """Give each of ``rows`` (inbox rows, transactions: anything with a ``channel``) its channel
    with its ledger connection, one object per channel read with one query, unless it has it
    already. A batch read with ``select_related("channel")`` got a copy of the channel per row, and
    each copy decrypted the channel's secrets again (issue 19)."""
    wanted = {row.channel_id for row in rows if not _loaded(row)}
    if not wanted:
        return
    channels = Channel.objects.select_related("ledger_connection").in_bulk(wanted)
    for row in rows:
        if row.channel_id in wanted:
            row.channel = channels[row.channel_id]


def _loaded(row: Any) -> bool:
    """Whether ``row`` holds its channel and the channel its ledger connection (no query)."""
    field = type(row)._meta.get_field("channel")
    return bool(field.is_cached(row) and Channel._meta.get_field("ledger_connection").is_cached(row.channel))


def source_for(channel: Channel) -> SalesSource:
    """The channel's source connector, configured."""
    return sales_source_class(channel.platform)(source_config(channel))


def create_channel(
    *,
    platform: str,
    name: str,
    slug: str,
    currency: str,
    ledger_connection: LedgerConnection | None,
    actor: Any = None,
    webhook_secrets: list[str] | None = None,
    credentials: dict[str, Any] | None = None,
    **fields: Any,
) -> Channel:
    """Create a channel and audit it (secrets are encrypted and never written to the audit trail)."""
    sales_source_class(platform)  # fail early on an unknown platform
    with transaction.atomic():
        channel = Channel.objects.create(
            platform=platform,
            name=name,
            slug=slug,
            currency=currency,
            ledger_connection=ledger_connection,
            webhook_secrets=webhook_secrets or [],
            credentials=credentials or {},
            **fields,
        )
        audit.record("channel.created", obj=channel, after=audit.snapshot(channel), actor=actor)
    return channel


def record_webhook_handshake(channel: Channel, record: dict[str, str]) -> None:
    """Keep what a vendor's handshake carried (e.g. Clover's verification code) on the channel,
    where the admin reads it; audited. Values are short strings (at most 10 keys of 200 characters)."""
    clean = {str(k)[:40]: str(v)[:200] for k, v in list(record.items())[:10]}
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        settings = dict(locked.settings or {})
        settings["webhook_handshake"] = clean
        locked.settings = settings
        locked.save(update_fields=["settings", "updated_at"])
        audit.record("channel.webhook_handshake", obj=locked, after=clean, actor_label="vendor")
