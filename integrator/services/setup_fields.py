"""The platforms a person can connect, and what the wizard asks for each (from the connectors).

Connectors declare ``setup_fields`` (:class:`connectors.base.SetupField`); the screens and the API
build their forms from them, so a new connector appears in the wizard the day its module imports,
and a platform whose module does not exist (or does not import) is simply not offered.

:func:`clean_setup_values` turns what a person typed into where it is kept:

* ``base_url`` -> the connection's own column (shown and editable);
* ``store="settings"`` -> ``settings[name]`` (plain, shown and editable);
* ``store="credentials"`` -> ``credentials[name]`` (encrypted, write-only: never shown again;
  left blank when editing, the stored value is kept);
* ``webhook_secret`` (a source's vendor-issued signing secret) -> the channel's webhook secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from connectors.base import (
    LEDGER_PLATFORMS,
    SOURCE_PLATFORMS,
    SetupField,
    UnknownPlatform,
    ledger_target_class,
    sales_source_class,
)

__all__ = [
    "Platform",
    "SetupInvalid",
    "SetupValues",
    "clean_setup_values",
    "ledger_platforms",
    "platform_of",
    "source_platforms",
]

log = logging.getLogger(__name__)
Kind = Literal["source", "ledger"]
WEBHOOK_SECRET = "webhook_secret"
BASE_URL = "base_url"


class SetupInvalid(Exception):
    """What a person entered cannot be saved; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Platform:
    """A platform offered by the wizard: its connector's fields and what it can do."""

    slug: str
    name: str
    kind: Kind
    fields: tuple[SetupField, ...]
    capabilities: frozenset[str]

    @property
    def uses_oauth(self) -> bool:
        """A ledger connected through the vendor's consent screen (QuickBooks, Xero)."""
        return "oauth2" in self.capabilities

    @property
    def receives_webhooks(self) -> bool:
        """A source whose vendor posts webhooks to us."""
        return self.kind == "source" and "webhook" in self.capabilities

    @property
    def vendor_issues_secret(self) -> bool:
        """The vendor issues the webhook signing secret and the person pastes it here."""
        return any(f.name == WEBHOOK_SECRET for f in self.fields)

    @property
    def we_issue_secret(self) -> bool:
        """We generate the signing secret and the person pastes it into the platform."""
        return self.receives_webhooks and not self.vendor_issues_secret

    @property
    def can_pull(self) -> bool:
        """A source that can back-fill (pull since a date)."""
        return self.kind == "source" and "pull" in self.capabilities

    @property
    def plain_fields(self) -> tuple[SetupField, ...]:
        """Fields shown again when editing (everything but credentials and the signing secret)."""
        return tuple(f for f in self.fields if f.store == "settings" and f.name != WEBHOOK_SECRET)


def _platform(kind: Kind, slug: str, label: str) -> Platform | None:
    loader = sales_source_class if kind == "source" else ledger_target_class
    try:
        cls: Any = loader(slug)
    except UnknownPlatform:
        return None
    except Exception:  # a connector being written must never break the wizard for the others
        log.exception("the %s connector %r does not import; it is not offered", kind, slug)
        return None
    return Platform(slug, label, kind, tuple(cls.setup_fields), frozenset(cls.capabilities))


def source_platforms() -> list[Platform]:
    """Sales platforms whose connector imports, in the registry's order."""
    return [p for slug, label in SOURCE_PLATFORMS.items() if (p := _platform("source", slug, label))]


def ledger_platforms() -> list[Platform]:
    """Accounting platforms whose connector imports, in the registry's order."""
    return [p for slug, label in LEDGER_PLATFORMS.items() if (p := _platform("ledger", slug, label))]


def platform_of(kind: Kind, slug: str) -> Platform:
    """One platform, or :class:`UnknownPlatform` when it is not offered."""
    names = SOURCE_PLATFORMS if kind == "source" else LEDGER_PLATFORMS
    found = _platform(kind, slug, names.get(slug, slug)) if slug in names else None
    if found is None:
        raise UnknownPlatform(f"no connector for the {kind} platform {slug!r}")
    return found


@dataclass
class SetupValues:
    """Where each entered value goes. ``base_url`` None means "unchanged"; ``credentials`` holds
    only what was entered (blank secrets keep the stored ones); ``remove_settings`` lists settings
    cleared when editing."""

    base_url: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)
    webhook_secret: str = ""
    remove_settings: list[str] = field(default_factory=list)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _convert(spec: SetupField, value: Any) -> Any:
    """The value in its kind, or ValueError with words for the person."""
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("Answer yes or no.")
    text = str(value).strip()
    if spec.kind == "int":
        try:
            return int(text)
        except ValueError as exc:
            raise ValueError("Enter a whole number.") from exc
    if spec.kind == "url":
        try:
            URLValidator(schemes=["http", "https"])(text)
        except ValidationError as exc:
            raise ValueError("Enter a web address starting with https://") from exc
        return text.rstrip("/")
    if spec.kind == "choice":
        allowed = dict(spec.choices)
        if text not in allowed:
            raise ValueError(f"Choose one of: {', '.join(allowed.values())}.")
        return text
    if spec.kind == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError as exc:
            raise ValueError("Enter a date as YYYY-MM-DD.") from exc
    if len(text) > 2000:
        raise ValueError("This is too long.")
    return text


def clean_setup_values(
    platform: Platform,
    raw: Mapping[str, Any],
    *,
    creating: bool,
    stored_credentials: Mapping[str, Any] | None = None,
) -> SetupValues:
    """Check what was entered against the platform's fields and say where each value goes.

    Creating: required fields must be given (defaults fill the optional ones). Editing: a field
    that is not in ``raw`` is left alone; a blank secret keeps the stored one; a blank optional
    setting is removed. Unknown names are refused, so a typo never silently does nothing.
    """
    errors: dict[str, str] = {}
    values = SetupValues()
    known = {f.name for f in platform.fields}
    for name in raw:
        if name not in known:
            errors[name] = f"{platform.name} has no setting called {name!r}."
    stored = stored_credentials or {}
    for spec in platform.fields:
        present = spec.name in raw
        if not creating and not present:
            continue
        value = raw.get(spec.name)
        if spec.kind == "bool" and value is None:
            value = bool(spec.default)
        secret = spec.kind == "secret" or spec.store == "credentials" or spec.name == WEBHOOK_SECRET
        if _blank(value) and spec.kind != "bool":
            if secret:
                already = (spec.name == WEBHOOK_SECRET and not creating) or spec.name in stored
                if spec.required and creating and not already:
                    errors[spec.name] = "This is required."
                continue
            if spec.default not in (None, "") and creating:
                value = spec.default
            elif spec.required:
                errors[spec.name] = "This is required."
                continue
            else:
                if not creating:
                    if spec.name == BASE_URL:
                        values.base_url = ""
                    else:
                        values.remove_settings.append(spec.name)
                continue
        try:
            converted = _convert(spec, value)
        except ValueError as exc:
            errors[spec.name] = str(exc)
            continue
        if spec.name == WEBHOOK_SECRET:
            values.webhook_secret = str(converted)
        elif spec.name == BASE_URL:
            values.base_url = str(converted)
        elif spec.store == "credentials":
            values.credentials[spec.name] = converted
        else:
            values.settings[spec.name] = converted
    if errors:
        raise SetupInvalid(errors)
    return values
