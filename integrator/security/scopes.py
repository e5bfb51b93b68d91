"""API token scopes and the one check every token request goes through.

A token always reads (``read``): what it may read is what its owner may read. Writing needs a write
scope for the resource (``postings:write``, ``transactions:write``, ``mappings:write``,
``reconciliation:write``) *and* the owner's model permission: a token never exceeds its owner.
Resources without a write scope (channels, ledger connections and their credentials, accounts, tax
codes, the audit trail, tokens) can never be changed with a token, and neither can the human-only
actions (approvals, period close and reopen, write-offs), which need a person with MFA.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

__all__ = [
    "HUMAN_ONLY_ACTIONS",
    "READ_SCOPE",
    "SCOPE_CHOICES",
    "WRITE_SCOPES",
    "check_token_scope",
    "resource_for_model",
    "resource_for_view",
    "validate_scopes",
]

READ_SCOPE = "read"
WRITE_SCOPES = {
    "transactions:write": "Change transactions (re-process, mark reviewed)",
    "postings:write": "Retry dead-lettered or held postings",
    "mappings:write": "Draft mapping changes (approval still needs a person)",
    "reconciliation:write": "Resolve reconciliation exceptions",
}
SCOPE_CHOICES = [(READ_SCOPE, "Read everything the owner may read"), *WRITE_SCOPES.items()]

# Actions a token may never perform, whatever its scopes: they need a person with a verified
# second factor (maker-checker approvals, closing and reopening periods, write-offs).
HUMAN_ONLY_ACTIONS = frozenset(
    {"approve", "reject", "activate", "close", "reopen", "write_off", "writeoff", "revoke", "rotate"}
)

# Model name -> resource. Anything not listed (connections, credentials, accounts, audit, tokens)
# has no write scope at all.
_RESOURCE_BY_MODEL = {
    "integrator": {
        "transaction": "transactions",
        "transactionline": "transactions",
        "transactionpayment": "transactions",
        "transactiontaxline": "transactions",
        "transactiondiscount": "transactions",
        "inboundevent": "transactions",
        "posting": "postings",
        "postingattempt": "postings",
    },
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def validate_scopes(scopes: list[str]) -> list[str]:
    """Normalise a scope list (``read`` always included, sorted); unknown scopes raise ValueError."""
    unknown = sorted(set(scopes) - {READ_SCOPE} - set(WRITE_SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
    return sorted(set(scopes) | {READ_SCOPE})


def resource_for_model(model: type[Model] | None) -> str:
    """The resource a model belongs to for write scopes ('' when tokens may never write it)."""
    if model is None:
        return ""
    meta = model._meta
    name = meta.model_name or ""
    if meta.app_label == "reconciliation":
        return "reconciliation"
    if name.startswith("mapping"):
        return "mappings"
    return _RESOURCE_BY_MODEL.get(meta.app_label, {}).get(name, "")


def resource_for_view(view: Any) -> str:
    """The resource a DRF view works on: its ``token_resource`` attribute, else its model's."""
    explicit = getattr(view, "token_resource", None)
    if explicit is not None:
        return str(explicit)
    queryset = getattr(view, "queryset", None)
    model = getattr(queryset, "model", None)
    if model is None:
        serializer = getattr(view, "serializer_class", None)
        model = getattr(getattr(serializer, "Meta", None), "model", None)
    return resource_for_model(model)


def check_token_scope(scopes: list[str], method: str, view: Any) -> str:
    """'' when a token with ``scopes`` may send ``method`` to ``view``; otherwise the reason."""
    if method.upper() in _SAFE_METHODS:
        return ""  # every token reads; what it sees is limited by its owner's permissions
    action = str(getattr(view, "action", "") or "")
    if action in HUMAN_ONLY_ACTIONS:
        return f"'{action}' needs a person with two-factor authentication, not an API token"
    resource = resource_for_view(view)
    if not resource:
        return "this resource cannot be changed with an API token"
    if f"{resource}:write" not in scopes:
        return f"token lacks the '{resource}:write' scope"
    return ""
