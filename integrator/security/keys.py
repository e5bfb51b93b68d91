"""Key rotation for encrypted fields: re-encrypt every stored secret under the newest key.

``FIELD_ENCRYPTION_KEYS`` lists Fernet keys newest first. To rotate: put a new key in front,
deploy, run ``manage.py rotate_keys`` (every :class:`~integrator.crypto.EncryptedJSONField` value of
every model is re-encrypted with ``MultiFernet.rotate``, so plaintext never leaves the library),
check with ``manage.py rotate_keys --check``, then drop the old key from the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Value
from django.db.models.functions import Cast

from integrator.crypto import EncryptedJSONField, fernet, reset_key_cache
from integrator.services import audit

__all__ = ["FieldReport", "encrypted_fields", "key_usage", "rotate_all"]


@dataclass
class FieldReport:
    """What rotation (or the check) found in one encrypted column."""

    model: str
    field: str
    rows: int = 0
    rotated: int = 0
    unreadable: int = 0
    not_primary: int = 0


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedJSONField]]:
    """Every (model, field) pair stored encrypted, in every installed app."""
    found = []
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if isinstance(f, EncryptedJSONField):
                found.append((model, f))
    return found


def _ciphertexts(model: type[models.Model], field: EncryptedJSONField) -> list[tuple[Any, str]]:
    """(pk, raw ciphertext) of the non-empty values; the cast to text skips decryption."""
    raw = Cast(field.attname, output_field=models.TextField())
    rows = (
        model._base_manager.exclude(**{f"{field.attname}__isnull": True})
        .annotate(_raw=raw)
        .values_list("pk", "_raw")
        .order_by("pk")
    )
    return [(pk, value) for pk, value in rows if value]


def rotate_all(*, actor: Any = None, dry_run: bool = False) -> list[FieldReport]:
    """Re-encrypt every encrypted value under the first key; one audit row per column.

    Each column is rewritten in one transaction with its audit row. Values no configured key can
    read are left alone and counted as ``unreadable`` (the command then fails).
    """
    reset_key_cache()
    multi = fernet()
    reports = []
    for model, field in encrypted_fields():
        report = FieldReport(model=model._meta.label, field=field.name)
        with transaction.atomic():
            for pk, token in _ciphertexts(model, field):
                report.rows += 1
                try:
                    rotated = multi.rotate(token.encode()).decode()
                except InvalidToken:
                    report.unreadable += 1
                    continue
                if not dry_run:
                    # A Value with a plain text type is written as-is: no second encryption.
                    model._base_manager.filter(pk=pk).update(
                        **{field.attname: Value(rotated, output_field=models.TextField())}
                    )
                report.rotated += 1
            if report.rows and not dry_run:
                audit.record(
                    "keys.rotated",
                    object_type=report.model,
                    object_id=field.name,
                    after={"field": field.name, "rows": report.rows, "rotated": report.rotated,
                           "unreadable": report.unreadable, "keys": len(settings.FIELD_ENCRYPTION_KEYS)},
                    actor=actor,
                    actor_label="" if actor is not None else "rotate_keys",
                )  # fmt: skip
        reports.append(report)
    return reports


def key_usage() -> list[FieldReport]:
    """For each column, how many values the first key alone cannot read (must be 0 before an old
    key is dropped) and how many no key can read."""
    reset_key_cache()
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    primary = Fernet(keys[0].encode()) if keys else None
    multi = fernet()
    reports = []
    for model, field in encrypted_fields():
        report = FieldReport(model=model._meta.label, field=field.name)
        for _pk, token in _ciphertexts(model, field):
            report.rows += 1
            try:
                multi.decrypt(token.encode())
            except InvalidToken:
                report.unreadable += 1
                continue
            if primary is not None:
                try:
                    primary.decrypt(token.encode())
                except InvalidToken:
                    report.not_primary += 1
        reports.append(report)
    return reports
