"""Walk every URL pattern of the project and call it as a given role; classify what happened.

Used by the generated access test. A role is one of the four groups (a session, second factor
verified for the roles that need it), anonymous, or an API token (read-only, or with one write
scope) owned by a service user.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

ANON, CLERK, MANAGER, AUDITOR, ADMIN, TOKEN_RO, TOKEN_W = "A", "C", "M", "U", "I", "r", "w"
ROLES = {
    ANON: "anonymous",
    CLERK: "finance_clerk",
    MANAGER: "finance_manager",
    AUDITOR: "auditor",
    ADMIN: "integration_admin",
    TOKEN_RO: "API token, read-only",
    TOKEN_W: "API token with postings:write",
}
API_METHODS = ("GET", "POST", "PATCH", "DELETE")
SCREEN_METHODS = ("GET", "POST")  # other verbs reach a screen like GET or POST, or get 405

# Sample values for URL parameters that are not object ids.
PARAM_VALUES = {"fmt": "csv", "format": "json", "what": "accounts", "channel_slug": "till", "slug": "sales",
                "platform": "generic", "year": "2025", "month": "3"}  # fmt: skip
# Setup actions walk with "enable": harmless on an enabled object, so the walk changes nothing.
VERB_FOR = {"mappings-change-decide": "approve", "mappings-repost-action": "execute",
            "setup-channel-action": "enable", "setup-ledger-action": "enable"}  # fmt: skip
# URL name (regex) -> model whose object the <pk> names, for plain function views.
OBJECT_FOR = [
    (r"^(transaction|held-transaction)", "integrator.Transaction"),
    (r"^posting", "integrator.Posting"),
    (r"^journal", "integrator.JournalEntry"),
    (r"^job", "integrator.Job"),
    (r"^(trial-balance|general-ledger|books-export|connection-detail|mappings-chart|oauth-)", "integrator.LedgerConnection"),
    (r"^setup-channel", "integrator.Channel"),
    (r"^(setup-ledger|period-close)", "integrator.LedgerConnection"),
    (r"^setup-person$", "auth.User"),
    (r"^inbox-reprocess-one$", "integrator.InboundEvent"),
    (r"^mappings-(set|history|change-new)$", "integrator.MappingSet"),
    (r"^mappings-version", "integrator.MappingVersion"),
    (r"^mappings-(change|item)", "integrator.MappingChangeRequest"),
    (r"^mappings-repost", "integrator.RepostRequest"),
    (r"^security:token", "security.ApiToken"),
    (r"^reconciliation:run", "reconciliation.ReconciliationRun"),
    (r"^reconciliation:exception", "reconciliation.ReconciliationException"),
    (r"^reconciliation:statement", "reconciliation.BankStatement"),
    (r"^z-report-", "integrator.Channel"),
]  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern: its name (with namespace), route and the parameters it takes."""

    name: str
    route: str
    params: tuple[str, ...]
    callback: Any

    @property
    def is_admin(self) -> bool:
        """Django admin pages (no role here is staff)."""
        return self.route.startswith("admin/")


def _params(pattern: Any) -> tuple[str, ...]:
    converters = getattr(pattern, "converters", None)
    if converters:
        return tuple(converters)
    regex = getattr(pattern, "regex", None)
    return tuple(regex.groupindex) if regex is not None else ()


def endpoints() -> list[Endpoint]:
    """Every named URL pattern, in definition order."""

    def walk(patterns: list[Any], ns: str, route: str, params: tuple[str, ...]) -> Iterator[Endpoint]:
        for p in patterns:
            if isinstance(p, URLResolver):
                inner = f"{ns}:{p.namespace}" if ns and p.namespace else (p.namespace or ns)
                yield from walk(
                    p.url_patterns, inner or "", route + str(p.pattern), params + _params(p.pattern)
                )
            elif isinstance(p, URLPattern):
                name = f"{ns}:{p.name}" if ns and p.name else (p.name or f"{ns}:")
                yield Endpoint(name, route + str(p.pattern), params + _params(p.pattern), p.callback)

    return list(walk(get_resolver().url_patterns, "", "", ()))


def _model_for(ep: Endpoint) -> type[Model] | None:
    cls = getattr(ep.callback, "cls", None) or getattr(ep.callback, "view_class", None)
    queryset = getattr(cls, "queryset", None)
    if queryset is not None:
        return queryset.model
    model = getattr(cls, "model", None)
    if model is not None:
        return model
    for pattern, label in OBJECT_FOR:
        if re.search(pattern, ep.name):
            try:
                return apps.get_model(label)
            except LookupError:
                return None
    return None


def url_for(ep: Endpoint, samples: dict[type[Model], Model] | None = None) -> str:
    """A concrete URL for the pattern, naming real objects where it takes ids (``samples`` first,
    else the model's first row)."""
    kwargs: dict[str, Any] = {}
    for param in ep.params:
        if param in ("pk", "item_id", "object_id", "content_type_id"):
            if ep.is_admin:
                kwargs[param] = "1"
                continue
            model = _model_for(ep)
            if param == "item_id":
                model = apps.get_model("integrator", "MappingChangeItem")
            obj = (samples or {}).get(model) if model is not None else None
            if obj is None and model is not None:
                obj = model._base_manager.order_by("pk").first()
            kwargs[param] = str(obj.pk) if obj is not None else str(uuid.uuid4())
        elif param == "verb":
            kwargs[param] = VERB_FOR.get(ep.name, "approve")
        elif param == "app_label":
            kwargs[param] = "auth"
        else:
            kwargs[param] = PARAM_VALUES.get(param, "x")
    if ep.name and not ep.name.endswith(":"):
        return reverse(ep.name, kwargs=kwargs)
    # An unnamed pattern (the admin's old-style object URLs): fill the route in by hand.
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs.get(m.group(1), "x")), ep.route)


DENIED_REDIRECTS = ("/login/", "/admin/login/", "/security/mfa/")


def classify(response: Any) -> str:
    """'deny' (401/403/429, or sent to log in or verify), 'n/a' (405: nothing done), 'error' (5xx),
    or 'ok' (anything else: the role got through to the view)."""
    status = response.status_code
    if status >= 500:
        return "error"
    if status in (401, 403, 429):
        return "deny"
    if status == 405:
        return "n/a"
    if status in (301, 302, 303, 307, 308) and response["Location"].startswith(DENIED_REDIRECTS):
        return "deny"
    return "ok"


def methods_for(ep: Endpoint) -> tuple[str, ...]:
    """Verbs worth sending: all four to the API, GET and POST to screens and format variants, GET
    to the admin."""
    if ep.is_admin:
        return ("GET",)
    if ep.route.startswith("api/v1/") and "format" not in ep.params:
        return API_METHODS
    return SCREEN_METHODS


def call(client: Client, method: str, url: str, headers: dict[str, str]) -> Any:
    """One request with an empty body (JSON for the API)."""
    fn = getattr(client, method.lower())
    if method == "GET":
        return fn(url, **headers)
    return fn(url, data=b"{}" if url.startswith("/api/") else b"", content_type="application/json"
              if url.startswith("/api/") else "application/x-www-form-urlencoded", **headers)  # fmt: skip
