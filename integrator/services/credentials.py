"""Credentials of ledger connections: the cross-process refresh lock and the fresh re-read.

Refresh tokens rotate (QuickBooks, Xero, Sage): two workers refreshing at once would spend the same
refresh token twice and one would get ``invalid_grant``. ``connectors.auth.OAuth2Client`` therefore
refreshes under ``connection_lock(key)`` and re-reads the stored credentials first. The lock never
holds a database transaction open across the vendor call (network I/O stays outside transactions):

* PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) on a dedicated connection;
* SQLite (one machine): an exclusive ``flock`` on a file under ``var/locks/``, shared by every
  process of the installation.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection

__all__ = ["connection_lock", "load_connection_credentials"]


def _lock_id(key: str) -> int:
    """A stable signed 64-bit id for an advisory lock."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@contextmanager
def connection_lock(key: str) -> Iterator[None]:
    """Hold the refresh lock of one connection across processes and machines."""
    if connection.vendor == "postgresql":
        import psycopg

        db = settings.DATABASES["default"]
        params = {k: v for k, v in {"dbname": connection.settings_dict["NAME"], "user": db.get("USER"),
                  "password": db.get("PASSWORD"), "host": db.get("HOST"), "port": db.get("PORT")}.items() if v}  # fmt: skip
        with psycopg.connect(autocommit=True, **params) as conn:  # its own session: no open transaction
            conn.execute("SELECT pg_advisory_lock(%s)", [_lock_id(key)])
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [_lock_id(key)])
        return
    lock_dir = settings.VAR_DIR / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.lock"
    with path.open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_connection_credentials(connection_id: str) -> Mapping[str, Any]:
    """The connection's stored credentials, decrypted, read fresh from the database."""
    from integrator.models import LedgerConnection

    value = LedgerConnection.objects.values_list("credentials", flat=True).get(pk=connection_id)
    return dict(value or {})
