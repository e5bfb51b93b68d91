"""Generated access test: every URL pattern x role x method, checked against the table below.

The URL patterns are walked from the resolver (screens, API with its format-suffix variants,
security, mappings, reconciliation, admin), so a new view is covered the day it is added: it has
no row yet and ``test_every_url_has_a_row`` fails until someone writes down who may use it.

Roles (letters used in the table):
  A anonymous, C finance clerk, M finance manager, U auditor, I integration admin (sessions; M and
  I verified with a second factor), r API token read-only, w API token with ``postings:write``.
  Both tokens belong to a service user in the finance clerk group.

Each row is ``name: (who may read with GET, who may write)``; the write part is one string for
POST/PATCH/DELETE or a dict per method. How a cell is checked:
  * read, allowed: the role gets through (not 401/403/429, not sent to log in or verify);
  * read, not allowed: the role is refused in one of those ways;
  * write, allowed: the role gets through authorisation (the empty request may still be invalid);
  * write, not allowed: nothing changes: no audit row is written (every service writes one), and
    nothing answers 5xx;
  * any GET writing an audit row other than an audit export is a failure (GETs must be safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from django.test import Client

from integrator.models import AuditEvent, LedgerAccount, MappingSet
from integrator.security.models import ApiToken
from integrator.security.tokens import create_token
from integrator.services import mapping_changes
from tests.security import urlwalk as w
from tests.security.conftest import bearer, verified_client

STAFF = "CMUI"  # every signed-in person
READERS = "CMUIrw"  # every signed-in person and both tokens
EVERYONE = "ACMUIrw"

# name: (GET, writes). Writes: a string for POST/PATCH/DELETE alike, or a dict per method.
TABLE: dict[str, tuple[str, str | dict[str, str]]] = {
    # -- core screens (sessions only: tokens are for the API) --
    "dashboard": (STAFF, ""),
    "login": (EVERYONE, EVERYONE),
    # Logging out changes no data (and sends everyone to the login page, which reads as a refusal).
    "logout": ("", ""),
    "search": (STAFF, ""),
    "transactions": (STAFF, ""),
    "transaction-detail": (STAFF, ""),
    "transaction-retry": ("", "CM"),
    "journal": (STAFF, ""),
    "journal-detail": (STAFF, ""),
    "inbox": (STAFF, ""),
    "postings": (STAFF, ""),
    "posting-detail": (STAFF, ""),
    "posting-replay": ("", "CMI"),
    "posting-move": ("", "CMI"),
    "reports": (STAFF, ""),
    "rates": (STAFF, ""),
    "rates-import": ("", "CM"),
    "rates-manual": ("", "M"),
    "trial-balance": (STAFF, ""),
    "general-ledger": (STAFF, ""),
    "profit-and-loss": (STAFF, ""),
    "balance-sheet": (STAFF, ""),
    "books-export": (STAFF, ""),
    "connections": (STAFF, ""),
    "connection-detail": (STAFF, ""),
    # Connecting a ledger (OAuth) changes credentials: change_ledgerconnection, second factor.
    "oauth-start": ("", "MI"),
    "oauth-callback": (STAFF, ""),
    "oauth-choose-tenant": ("", "MI"),
    "jobs": (STAFF, ""),
    "jobs-running": (STAFF, ""),
    "job-detail": (STAFF, ""),
    "job-progress": (STAFF, ""),
    "section": (STAFF, ""),
    # -- Setup (issue 13): ledgers and channels for integration admins (managers also hold
    #    change_ledgerconnection, as for the OAuth Connect button); people for integration admins.
    "welcome": ("", ""),  # only while nobody exists: everyone here is sent to log in
    "setup": (STAFF, ""),
    "setup-channel-platforms": ("I", ""),
    "setup-channel-new": ("I", "I"),
    "setup-channel": (STAFF, ""),
    "setup-channel-edit": ("I", "I"),
    "setup-channel-test": ("", "I"),
    "setup-channel-rotate": ("", "I"),
    "setup-channel-backfill": ("", "I"),
    "setup-channel-action": ("", "I"),
    "setup-ledger-platforms": ("I", ""),
    "setup-ledger-new": ("I", "I"),
    "setup-ledger-edit": ("MI", "MI"),
    "setup-ledger-test": ("", "MI"),
    "setup-ledger-action": ("", "MI"),
    "setup-people": ("I", ""),
    "setup-person-new": ("I", "I"),
    "setup-person": ("I", "I"),
    # Period close: everyone reads; only a finance manager closes and reopens.
    "period-close": (STAFF, ""),
    "period-close-month": (STAFF, "M"),
    "period-close-reopen": ("", "M"),
    "period-close-read-lock": ("", "MI"),
    # Recovery and alerts.
    "inbox-reprocess": ("", "CMI"),
    "inbox-reprocess-one": ("", "CMI"),
    "alerts": (STAFF, ""),
    "alert-settings": (STAFF, STAFF),
    # The vendor's signature is the webhook's authentication (401 without it, for everyone).
    "webhook": ("", ""),
    # -- REST API: reads need the view permission (every role has it); tokens read as their owner --
    "api:api-root": (READERS, ""),
    "schema": (READERS, ""),
    "api-docs": (READERS, ""),
    "api:platform-list": (READERS, ""),
    # Channels and ledger connections: integration admins (managers: ledgers' change permission);
    # API tokens never change connections or credentials.
    "api:channel-list": (READERS, {"POST": "I", "PATCH": "", "DELETE": ""}),
    "api:channel-detail": (READERS, {"PATCH": "I", "DELETE": "I"}),
    "api:channel-test": ("", {"POST": "I"}),
    "api:channel-rotate-secret": ("", {"POST": "I"}),
    "api:channel-backfill": ("", {"POST": "I"}),
    "api:channel-archive": ("", {"POST": "I"}),
    "api:ledgerconnection-list": (READERS, {"POST": "I", "PATCH": "", "DELETE": ""}),
    "api:ledgerconnection-detail": (READERS, {"PATCH": "MI", "DELETE": "MI"}),
    "api:ledgerconnection-test": ("", {"POST": "MI"}),
    "api:ledgerconnection-archive": ("", {"POST": "MI"}),
    "api:ledgerconnection-read-lock-date": ("", {"POST": "MI"}),
    "api:ledgerconnection-period": (READERS, ""),
    "api:ledgerconnection-close-period": ("", {"POST": "M"}),
    "api:ledgerconnection-reopen-period": ("", {"POST": "M"}),
    "api:ledgeraccount-list": (READERS, ""),
    "api:ledgeraccount-detail": (READERS, ""),
    "api:taxcode-list": (READERS, ""),
    "api:taxcode-detail": (READERS, ""),
    "api:transaction-list": (READERS, ""),
    "api:transaction-detail": (READERS, ""),
    "api:journalentry-list": (READERS, ""),
    "api:journalentry-detail": (READERS, ""),
    "api:posting-list": (READERS, ""),
    "api:posting-detail": (READERS, ""),
    # Retrying a posting: change_posting (clerk, manager, admin), and for tokens postings:write.
    "api:posting-retry": ("", {"POST": "CMIw"}),
    "api:posting-move": ("", {"POST": "CMIw"}),
    "api:transaction-retry": ("", {"POST": "CM"}),
    "api:inboundevent-list": (READERS, ""),
    "api:inboundevent-detail": (READERS, ""),
    # Re-processing: change_inboundevent (clerk, manager, admin); tokens need transactions:write.
    "api:inboundevent-reprocess": ("", {"POST": "CMI"}),
    "api:inboundevent-reprocess-many": ("", {"POST": "CMI"}),
    "api:job-list": (READERS, ""),
    "api:job-detail": (READERS, ""),
    "api:exchangerate-list": (READERS, {"POST": "M"}),
    "api:exchangerate-detail": (READERS, ""),
    "api:exchangerate-import-file": ("", {"POST": "CM"}),
    "api:report-list": (READERS, ""),
    "api:report-general-ledger": (READERS, ""),
    "api:report-trial-balance": (READERS, ""),
    "api:report-profit-and-loss": (READERS, ""),
    "api:report-balance-sheet": (READERS, ""),
    "api:auditevent-list": (READERS, ""),
    "api:auditevent-detail": (READERS, ""),
    "api:mappingset-list": (READERS, ""),
    "api:mappingset-detail": (READERS, ""),
    "api:mappingversion-list": (READERS, ""),
    "api:mappingversion-detail": (READERS, ""),
    # Maker-checker: clerks and managers draft; only a manager who is not the author approves.
    "api:mappingchangerequest-list": (READERS, {"POST": "CM", "PATCH": "", "DELETE": ""}),
    "api:mappingchangerequest-detail": (READERS, {"PATCH": "C"}),  # drafts are withdrawn, not deleted
    "api:mappingchangerequest-items": ("", {"POST": "C"}),
    "api:mappingchangerequest-item-detail": ("", {"DELETE": "CM"}),
    "api:mappingchangerequest-submit": ("", {"POST": "C"}),
    "api:mappingchangerequest-withdraw": ("", {"POST": "C"}),
    "api:mappingchangerequest-approve": ("", {"POST": "M"}),
    "api:mappingchangerequest-reject": ("", {"POST": "M"}),
    "api:mappingchangerequest-diff": (READERS, ""),
    "api:mappingchangerequest-impact": (READERS, ""),
    "api:repostrequest-list": (READERS, ""),
    "api:repostrequest-detail": (READERS, ""),
    "api:repostrequest-cancel": ("", {"POST": "M"}),
    "api:repostrequest-execute": ("", {"POST": "M"}),
    "api:held-transaction-list": (READERS, ""),
    "api:held-transaction-groups": (READERS, ""),
    "api:held-transaction-detail": (READERS, ""),
    "api:reconciliationrun-list": (READERS, {"POST": "CM", "PATCH": "", "DELETE": ""}),
    "api:reconciliationrun-detail": (READERS, ""),
    "api:reconciliationexception-list": (READERS, ""),
    "api:reconciliationexception-detail": (READERS, ""),
    "api:reconciliationexception-resolve": ("", {"POST": "CM"}),
    "api:bankaccount-list": (READERS, {"POST": "MI", "PATCH": "", "DELETE": ""}),
    "api:bankaccount-detail": (READERS, ""),
    "api:bankstatement-list": (READERS, {"POST": "CM", "PATCH": "", "DELETE": ""}),
    "api:bankstatement-detail": (READERS, ""),
    "api:bankstatement-lines": (READERS, ""),
    # Z report files of Prysm tills: importing creates transactions (change_transaction); the
    # column mapping is till configuration (change_transaction or change_channel).
    "api:zreport-list": (READERS, {"POST": "CM", "PATCH": "", "DELETE": ""}),
    "api:zreport-detail": (READERS, ""),
    "api:zreport-columns": (READERS, {"POST": "CMI", "PATCH": "", "DELETE": ""}),
    # -- security: everyone manages their own second factor; tokens are for integration admins --
    "security:mfa": (STAFF, ""),
    "security:mfa-enrol": (STAFF, STAFF),
    "security:mfa-verify": (STAFF, STAFF),
    "security:mfa-backup-codes": ("", STAFF),
    "security:tokens": ("UI", ""),
    "security:token-create": ("", "I"),
    "security:token-revoke": ("", "I"),
    "security:audit": (STAFF, ""),
    "security:audit-export": (STAFF, ""),
    # -- mappings screens --
    "mappings": (STAFF, ""),
    "mappings-held": (STAFF, ""),
    "mappings-approvals": (STAFF, ""),
    "mappings-set": (STAFF, ""),
    "mappings-set-new": ("", "CM"),
    "mappings-history": (STAFF, ""),
    "mappings-change-new": ("", "CM"),
    "mappings-version-export": (STAFF, ""),
    "mappings-change": (STAFF, ""),
    "mappings-change-edit": ("", "C"),
    # Only the author of a draft chooses the channels it covers.
    "mappings-change-channels": ("", "C"),
    # Drafting a change from a held transaction: whoever drafts changes.
    "mappings-fix": ("CM", "CM"),
    "mappings-item-save": ("", "C"),
    "mappings-item-validate": ("", "C"),
    "mappings-item-delete": ("", "C"),
    "mappings-change-impact": (STAFF, ""),
    "mappings-change-import": (STAFF, "C"),
    "mappings-change-decide": ("", "M"),
    "mappings-chart": (STAFF, ""),
    "mappings-chart-refresh": ("", "MI"),
    "mappings-chart-export": (STAFF, ""),
    "mappings-repost": (STAFF, ""),
    "mappings-repost-action": ("", "M"),
    # -- reconciliation screens --
    # -- Inventory (issue 12): everyone reads; clerks and managers enter, import and receive shipments --
    "inventory:index": (STAFF, ""),
    "inventory:shipments": (STAFF, ""),
    "inventory:shipment-import": ("", "CM"),
    "inventory:shipment": (STAFF, ""),
    "inventory:shipment-receive": ("", "CM"),
    "inventory:shipment-cost": ("", "CM"),
    "inventory:valuation": (STAFF, ""),
    "inventory:reorder": (STAFF, ""),
    "inventory:reorder-dismiss": ("", "CM"),
    "inventory:profit": (STAFF, ""),
    "inventory:tax": (STAFF, ""),
    "inventory:counts": (STAFF, "CM"),
    "api:inventory-stocklevel-list": (READERS, ""),
    "api:inventory-stocklevel-detail": (READERS, ""),
    "api:inventory-shipment-list": (READERS, {"POST": "CM", "PATCH": "", "DELETE": ""}),
    "api:inventory-shipment-detail": (READERS, ""),
    "api:inventory-shipment-receive": ("", {"POST": "CM"}),
    "api:inventory-shipment-add-cost": ("", {"POST": "CM"}),
    "api:inventory-reorder-list": (READERS, ""),
    "api:inventory-reorder-detail": (READERS, ""),
    "api:inventory-report-valuation": (READERS, ""),
    "api:inventory-report-profit": (READERS, ""),
    "api:inventory-report-tax": (READERS, ""),
    "reconciliation:runs": (STAFF, "CM"),
    "reconciliation:run-detail": (STAFF, ""),
    "reconciliation:run-progress": (STAFF, ""),
    "reconciliation:exceptions": (STAFF, ""),
    "reconciliation:exception-resolve": ("", "CM"),
    "reconciliation:statements": (STAFF, "CM"),
    "reconciliation:statement-confirm": ("", "CM"),
    "reconciliation:sample-csv": (STAFF, ""),
    "reconciliation:statement-detail": (STAFF, ""),
    # -- Z report screens (Prysm tills) --
    "z-reports": (STAFF, ""),
    "z-report-import": (STAFF, "CM"),
    "z-report-columns": (STAFF, "CMI"),
}
# The Django admin: nobody here is staff, so only its login page opens (and its logout page, which
# only redirects to the admin's front door).
ADMIN_ROW = ("", "")
ADMIN_LOGIN_ROW = (EVERYONE, "")
ADMIN_PUBLIC = ("admin:login", "admin:logout")


def row_for(ep: w.Endpoint) -> tuple[str, str | dict[str, str]] | None:
    """The table row of an endpoint (admin pages share one)."""
    if ep.is_admin:
        return ADMIN_LOGIN_ROW if ep.name in ADMIN_PUBLIC else ADMIN_ROW
    return TABLE.get(ep.name)


def allowed(row: tuple[str, str | dict[str, str]], method: str) -> str:
    """The role letters the row allows for ``method``."""
    if method == "GET":
        return row[0]
    writes = row[1]
    return writes if isinstance(writes, str) else writes.get(method, "")


@dataclass(frozen=True)
class Observation:
    """One request of the walk and what came of it."""

    endpoint: w.Endpoint
    url: str
    method: str
    status: int
    outcome: str
    audit_actions: tuple[str, ...]


def build_world(users: dict[str, Any], tokens: dict[str, Any], api_owner: Any) -> dict[Any, Any]:
    """Sample objects for URL parameters: a submitted mapping change by the clerk, a token to revoke."""
    clerk = users["finance_clerk"]
    mapping_set = MappingSet.objects.get()
    change = mapping_changes.draft_change(mapping_set, actor=clerk, title="New SKU to homeware")
    mapping_changes.set_item(
        change, actor=clerk, kind="revenue", match_field="sku", match_value="NEW-SKU",
        account=LedgerAccount.objects.get(code="4010"),
    )  # fmt: skip
    mapping_changes.submit_change(change, actor=clerk)
    victim = create_token(name="to revoke", owner=api_owner).token
    return {ApiToken: victim, type(change): change}


def client_for(role: str, users: dict[str, Any], tokens: dict[str, Any]) -> tuple[Client, dict[str, str]]:
    """A test client (and headers) acting as ``role``."""
    if role == w.ANON:
        client, headers = Client(), {}
    elif role in (w.TOKEN_RO, w.TOKEN_W):
        client, headers = Client(), bearer(tokens["ro" if role == w.TOKEN_RO else "w"])
    else:
        client, headers = verified_client(users[w.ROLES[role]]), {}
    client.raise_request_exception = False  # a crash is an answer (500) to report, not an abort
    return client, headers


def walk(
    role: str, users: dict[str, Any], tokens: dict[str, Any], samples: dict[Any, Any]
) -> list[Observation]:
    """Call every endpoint with every relevant verb as ``role``."""
    client, headers = client_for(role, users, tokens)
    seen: list[Observation] = []
    for ep in w.endpoints():
        url = w.url_for(ep, samples)
        for method in w.methods_for(ep):
            # Logging out would end the session the rest of the walk needs: use a throwaway one.
            c, h = client_for(role, users, tokens) if ep.name == "logout" else (client, headers)
            last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
            savepoint = transaction.savepoint()
            response = w.call(c, method, url, h)
            try:
                transaction.savepoint_commit(savepoint)
            except DatabaseError:  # a view broke the transaction (PostgreSQL): undo it, go on walking
                transaction.savepoint_rollback(savepoint)
            actions = tuple(AuditEvent.objects.filter(id__gt=last).values_list("action", flat=True))
            seen.append(Observation(ep, url, method, response.status_code, w.classify(response), actions))
    return seen


def check(role: str, observations: list[Observation]) -> list[str]:
    """Every way the observations disagree with the table."""
    problems = []
    for ob in observations:
        where = f"{ob.method} {ob.url} ({ob.endpoint.name}) as {w.ROLES[role]}: {ob.status}"
        if ob.outcome == "error":
            problems.append(f"{where}: server error")
            continue
        row = row_for(ob.endpoint)
        if row is None:
            continue  # reported by test_every_url_has_a_row
        may = role in allowed(row, ob.method)
        wrote = [a for a in ob.audit_actions if a != "audit.exported"]
        if ob.method == "GET":
            if wrote:
                problems.append(f"{where}: a GET changed something: {wrote}")
            if may and ob.outcome == "deny":
                problems.append(f"{where}: refused, the table says it may read")
            if not may and ob.outcome == "ok":
                problems.append(f"{where}: got through, the table says it may not read")
        else:
            if may and ob.outcome == "deny":
                problems.append(f"{where}: refused, the table says it may write")
            if not may and wrote:
                problems.append(f"{where}: wrote {wrote}, the table says it may not write")
    return problems


@pytest.mark.slow  # about 15 s per role: every pattern, every verb
@pytest.mark.parametrize("role", list(w.ROLES))
def test_every_endpoint_obeys_the_access_table(
    role: str, users: dict[str, Any], tokens: dict[str, Any], api_owner: Any, booked: Any
) -> None:
    samples = build_world(users, tokens, api_owner)
    observations = walk(role, users, tokens, samples)
    assert len({ob.endpoint.name for ob in observations}) > 100
    problems = check(role, observations)
    assert not problems, f"{len(problems)} disagreements with the access table:\n" + "\n".join(problems)


def test_every_url_has_a_row() -> None:
    names = {ep.name for ep in w.endpoints() if not ep.is_admin}
    missing = sorted(names - set(TABLE))
    stale = sorted(set(TABLE) - names)
    assert not missing, f"URL patterns without a row in the access table: {missing}"
    assert not stale, f"rows for URL patterns that no longer exist: {stale}"
