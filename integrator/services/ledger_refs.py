"""The ledger ids a connector found or created for us, kept per connection (a RefStore)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from integrator.models import LedgerRef

__all__ = ["DbRefStore"]


class DbRefStore:
    """:class:`connectors.base.RefStore` over the ``LedgerRef`` table. Each call is its own short
    transaction (connectors call it between vendor requests, never inside ours)."""

    def __init__(self, connection_id: Any) -> None:
        self.connection_id = connection_id

    def get(self, kind: str, key: str) -> str | None:
        """The remote id stored for (kind, key), or None."""
        return (
            LedgerRef.objects.filter(connection_id=self.connection_id, kind=kind, key=key[:200])
            .values_list("remote_id", flat=True)
            .first()
        )

    def put(self, kind: str, key: str, remote_id: str, label: str = "") -> None:
        """Remember a remote id; when another worker stored one first, theirs stands."""
        try:
            with transaction.atomic():
                LedgerRef.objects.create(
                    connection_id=self.connection_id,
                    kind=kind[:20],
                    key=key[:200],
                    remote_id=remote_id[:120],
                    label=label[:200],
                )
        except IntegrityError:
            pass
