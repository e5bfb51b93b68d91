"""Encryption of secrets at rest (vendor credentials, OAuth tokens, webhook secrets).

Keys come from ``FIELD_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first). Without it, in
development and tests only, a key is derived from ``SECRET_KEY`` so the embedded setup works out of
the box. MultiFernet decrypts with any listed key and encrypts with the first, which is what
``manage.py rotate_keys`` relies on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

__all__ = ["EncryptedJSONField", "decrypt", "encrypt", "fernet", "reset_key_cache"]


@lru_cache(maxsize=1)
def fernet() -> MultiFernet:
    """The MultiFernet built from the configured keys."""
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        if not (settings.DEBUG or settings.TESTING):
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set in production")
        digest = hashlib.sha256(("field-encryption:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def reset_key_cache() -> None:
    """Forget the cached keys (after settings change, e.g. during key rotation)."""
    fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    """Encrypt a string with the newest key."""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a string encrypted with any configured key."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("cannot decrypt a stored secret: is FIELD_ENCRYPTION_KEYS right?") from exc


class EncryptedJSONField(models.TextField):
    """A JSON value stored encrypted (Fernet token in a text column). Never shown in admin lists,
    logs or API responses: serializers must not expose it."""

    description = "JSON encrypted at rest"
    # Tell django-stubs the Python-side value is JSON data, not str.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        """Decrypt on read."""
        if value is None or value == "":
            return None
        return json.loads(decrypt(value))

    def to_python(self, value: Any) -> Any:
        """Values in Python are plain JSON data."""
        return value

    def get_prep_value(self, value: Any) -> str | None:
        """Encrypt on write."""
        if value is None:
            return None
        return encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: Any) -> str:
        """Serialise (dumpdata) as ciphertext, never plaintext."""
        return self.get_prep_value(self.value_from_object(obj)) or ""
