"""Connecting a ledger: the OAuth 2.0 authorization-code flow and tenant selection, audited.

The flow (QuickBooks Online, Xero, Sage, FreshBooks; later Zoho):

1. :func:`start_authorization` makes a one-time ``state`` (and a PKCE verifier where the vendor
   takes one) kept in the user's session, and returns the vendor's consent URL.
2. The vendor redirects back to ``/connections/oauth/callback/``; :func:`complete_authorization`
   checks the state, trades the code for tokens (saved encrypted, atomically, by the connector's
   ``save_credentials``) and, for a target that has ``list_tenants`` (Xero, Zoho Books), lists
   the organisations the token may use. Zoho names its data centre in the callback
   (``accounts-server``, ``location``): the code is traded only at that accounts server, and only
   if it is one of Zoho's (:func:`connectors.ledgers.zoho_books.datacentres.token_url_for`).
3. With several organisations, the user picks one (:func:`choose_tenant`).

Secrets never reach the audit trail: only which keys changed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.auth import OAuth2Client, OAuth2Provider
from integrator.models import LedgerConnection
from integrator.services import audit
from integrator.services.posting import ledger_config, ledger_target_for

__all__ = [
    "AuthorizationStart",
    "OAuthFlowError",
    "choose_tenant",
    "complete_authorization",
    "oauth_provider",
    "start_authorization",
]

SESSION_KEY = "integrator_oauth_flows"


class OAuthFlowError(Exception):
    """The authorization could not be completed; the message says what to do."""


@dataclass(frozen=True)
class AuthorizationStart:
    """Where to send the user, and what to remember in the session."""

    url: str
    state: str
    verifier: str


def oauth_provider(connection: LedgerConnection) -> OAuth2Provider:
    """The OAuth provider of a connection's platform."""
    if connection.platform == "zoho_books":
        from connectors.ledgers.zoho_books.target import ZOHO_OAUTH

        return ZOHO_OAUTH
    if connection.platform == "quickbooks":
        from connectors.ledgers.quickbooks.target import QUICKBOOKS_OAUTH

        return QUICKBOOKS_OAUTH
    if connection.platform == "xero":
        from connectors.ledgers.xero.target import XERO_OAUTH

        return XERO_OAUTH
    if connection.platform == "sage":
        from connectors.ledgers.sage.target import SAGE_OAUTH

        return SAGE_OAUTH
    if connection.platform == "freshbooks":
        from connectors.ledgers.freshbooks.target import FRESHBOOKS_OAUTH

        return FRESHBOOKS_OAUTH
    if connection.platform == "netsuite":
        # NetSuite's OAuth 2.0 endpoints are per account.
        from connectors.ledgers.netsuite.auth import netsuite_oauth2_provider

        return netsuite_oauth2_provider(str((connection.credentials or {}).get("account_id") or ""))
    raise OAuthFlowError(f"{connection.platform} connections do not use OAuth")


def _client(connection: LedgerConnection) -> OAuth2Client:
    return OAuth2Client.from_config(oauth_provider(connection), ledger_config(connection))


def start_authorization(
    connection: LedgerConnection, session: Any, redirect_uri: str, *, actor: Any = None
) -> AuthorizationStart:
    """Begin the flow: remember state and verifier in the session; return the consent URL."""
    credentials = connection.credentials or {}
    if not credentials.get("client_id") or not credentials.get("client_secret"):
        raise OAuthFlowError("Enter the app's client id and client secret for this connection first.")
    state = secrets.token_urlsafe(32)
    url, verifier = _client(connection).authorization_url(state, redirect_uri)
    flows = dict(session.get(SESSION_KEY, {}))
    flows[state] = {"connection": str(connection.pk), "verifier": verifier, "redirect_uri": redirect_uri,
                    "started": timezone.now().isoformat()}  # fmt: skip
    session[SESSION_KEY] = flows
    audit.record("connection.authorization_started", obj=connection, actor=actor)
    return AuthorizationStart(url=url, state=state, verifier=verifier)


def complete_authorization(
    session: Any,
    *,
    state: str,
    code: str,
    realm_id: str = "",
    error: str = "",
    actor: Any = None,
    accounts_server: str = "",
    location: str = "",
) -> tuple[LedgerConnection, list[dict[str, str]]]:
    """Finish the flow. Returns the connection and, for a target with organisations (Xero, Zoho
    Books), the organisations to choose from (empty when the choice was made automatically or is
    not needed). ``accounts_server`` and ``location`` are Zoho's data centre from the callback."""
    flows = dict(session.get(SESSION_KEY, {}))
    flow = flows.pop(state, None)
    session[SESSION_KEY] = flows
    if flow is None:
        raise OAuthFlowError(
            "This authorization link is unknown or was already used. Start again from the connection."
        )
    if error:
        raise OAuthFlowError(f"The vendor did not authorise the connection ({error}).")
    connection = LedgerConnection.objects.get(pk=flow["connection"])
    extra = {"realm_id": realm_id} if realm_id else {}
    client = _client(connection)
    if connection.platform == "zoho_books":
        from connectors.ledgers.zoho_books.datacentres import origin, token_url_for

        client.token_url = token_url_for(accounts_server, connection.settings or {})
        extra = {"accounts_server": origin(accounts_server), "location": location}
    client.exchange_code(code, flow["redirect_uri"], flow["verifier"], extra=extra)
    connection.refresh_from_db()
    tenants: list[dict[str, str]] = []
    target = ledger_target_for(connection)
    if callable(getattr(target, "list_tenants", None)):
        tenants = target.list_tenants()  # type: ignore[attr-defined]
        if len(tenants) == 1:
            choose_tenant(connection, tenants[0]["tenant_id"], actor=actor)
            tenants = []
    if connection.platform == "sage":
        # Sage's token serves every business of the user: the connection posts to the lead one.
        business_id = ledger_target_for(connection).lead_business()  # type: ignore[attr-defined]
        _store_credential_keys(connection, {"business_id": business_id}, actor=actor)
    if connection.platform == "freshbooks":
        # FreshBooks' accounting calls are addressed by the business's account id (users/me).
        _store_credential_keys(connection, ledger_target_for(connection).identity(), actor=actor)  # type: ignore[attr-defined]
    with transaction.atomic():
        LedgerConnection.objects.filter(pk=connection.pk).update(needs_reauth=False)
        audit.record(
            "connection.authorized",
            obj=connection,
            before={"needs_reauth": connection.needs_reauth},
            after={"needs_reauth": False, "credential_keys": sorted((connection.credentials or {}).keys())},
            actor=actor,
        )
    connection.refresh_from_db()
    return connection, tenants


def _store_credential_keys(
    connection: LedgerConnection, values: dict[str, str], *, actor: Any = None
) -> None:
    """Store ids the vendor gave with the tokens (Sage's business, FreshBooks' account and business)
    beside the credentials."""
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=connection.pk)
        credentials = dict(locked.credentials or {})
        before = {k: credentials.get(k, "") for k in values}
        credentials.update(values)
        locked.credentials = credentials
        locked.save(update_fields=["credentials", "updated_at"])
        audit.record("connection.account_chosen", obj=locked, before=before, after=values, actor=actor)
    connection.refresh_from_db()


def choose_tenant(connection: LedgerConnection, tenant_id: str, *, actor: Any = None) -> LedgerConnection:
    """Store the organisation (Xero tenant, Zoho Books organisation) the connection posts to."""
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=connection.pk)
        credentials = dict(locked.credentials or {})
        before = {"tenant_id": credentials.get("tenant_id", "")}
        credentials["tenant_id"] = tenant_id
        locked.credentials = credentials
        locked.save(update_fields=["credentials", "updated_at"])
        audit.record(
            "connection.tenant_chosen", obj=locked, before=before, after={"tenant_id": tenant_id}, actor=actor
        )
    return locked
