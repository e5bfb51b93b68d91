"""Every core API resource gets the generic battery (tests/api/mixins.py) by declaring itself."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Model

from integrator.choices import PostingState, TransactionStatus
from integrator.models import (
    AuditEvent,
    Channel,
    InboundEvent,
    Job,
    JournalEntry,
    LedgerAccount,
    LedgerConnection,
    MappingSet,
    Posting,
    TaxCode,
    Transaction,
)
from integrator.services.mappings import activate_version, create_version
from tests.api import factories as f
from tests.api.mixins import (
    ActionTests,
    CreateObjectTests,
    DeleteObjectTests,
    FilterTests,
    GetObjectTests,
    ListObjectsTests,
    ReadOnlyTests,
    UpdateObjectTests,
)
from tests.conftest import make_channel, sale_event, standard_rules


def _ids(objs: list[Model]) -> set[str]:
    return {str(o.pk) for o in objs}


class ReadResource(GetObjectTests, ListObjectsTests, FilterTests, ReadOnlyTests):
    """Reading, filtering and refused writes."""


class WritableResource(GetObjectTests, ListObjectsTests, FilterTests, CreateObjectTests, UpdateObjectTests,
                       DeleteObjectTests):  # fmt: skip
    """Reading and filtering, plus create, update and delete through the services (integrator/api/setup.py)."""

    create_role = update_role = delete_role = "integration_admin"


class TestChannels(WritableResource):
    url = "/api/v1/channels/"
    model = Channel
    expected_fields = ("id", "platform", "name", "slug", "currency", "posting_mode", "ledger_connection",
                       "credential_keys", "webhook_url", "signing_secrets_accepted")  # fmt: skip
    create_audit_action = "channel.set_up"
    update_audit_action = "channel.updated"
    delete_audit_action = "channel.deleted"

    def create_data(self, env: Any) -> dict[str, Any]:
        return {"platform": "shopify", "name": "Web shop", "slug": "web-shop", "currency": "GBP",
                "timezone": "Europe/London", "ledger_connection": str(env.ledger.pk),
                "setup": {"base_url": "https://sankofa.myshopify.com", "access_token": "shpat_x",
                          "webhook_secret": "app-secret"}}  # fmt: skip

    def update_data(self, obj: Model) -> dict[str, Any]:
        return {"name": "Renamed shop", "timezone": "Africa/Accra"}

    def make(self, env: Any, count: int) -> list[Model]:
        return list(f.extra_channels(env.ledger, count))

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        return [
            ({"slug": made[0].slug}, {str(made[0].pk)}),
            ({"q": made[1].slug}, {str(made[1].pk)}),
            ({"platform": "generic"}, _ids(made)),
            ({"active": "false"}, set()),
        ]

    def test_secrets_never_leave(self, client: Any, api_env: Any, users: Any) -> None:
        client.force_login(users["auditor"])
        body = client.get(self.url).content.decode()
        assert "test-secret-1" not in body and "webhook_secrets" not in body and "credentials" not in body


class TestLedgerConnections(WritableResource):
    url = "/api/v1/ledger-connections/"
    model = LedgerConnection
    create_audit_action = "connection.created"
    update_audit_action = "connection.updated"
    delete_audit_action = "connection.deleted"

    def create_data(self, env: Any) -> dict[str, Any]:
        return {"platform": "xero", "name": "Xero UK", "functional_currency": "GBP",
                "setup": {"client_id": "xero-client", "client_secret": "xero-secret"}}  # fmt: skip

    def update_data(self, obj: Model) -> dict[str, Any]:
        return {"name": "Renamed books", "lock_policy": "move"}

    expected_fields = (
        "id",
        "platform",
        "name",
        "functional_currency",
        "lock_date",
        "lock_policy",
        "needs_reauth",
    )

    def make(self, env: Any, count: int) -> list[Model]:
        return list(f.extra_connections(count))

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        return [({"q": made[0].name}, {str(made[0].pk)}), ({"needs_reauth": "true"}, set()),
                ({"platform": "builtin"}, _ids(made))]  # fmt: skip


class TestAccounts(ReadResource):
    url = "/api/v1/accounts/"
    model = LedgerAccount
    expected_fields = ("id", "connection", "code", "name", "type", "active")
    invalid_filter = {"type": "not-a-type"}

    def make(self, env: Any, count: int) -> list[Model]:
        return list(f.extra_accounts(env.ledger, count))

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        return [
            ({"code": made[0].code}, {str(made[0].pk)}),
            ({"type": "expense"}, _ids(made)),
            ({"type": "revenue"}, set()),
            ({"connection_id": str(made[0].connection_id)}, _ids(made)),
        ]


class TestTaxCodes(ReadResource):
    url = "/api/v1/tax-codes/"
    model = TaxCode
    expected_fields = ("id", "connection", "code", "name", "rate")

    def make(self, env: Any, count: int) -> list[Model]:
        return list(f.extra_tax_codes(env.ledger, count))

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        return [({"code": made[2].code}, {str(made[2].pk)}), ({"q": "Tax"}, _ids(made))]


class TestTransactions(ReadResource, ActionTests):
    url = "/api/v1/transactions/"
    model = Transaction
    expected_fields = ("id", "channel", "channel_slug", "kind", "external_id", "number", "status", "total",
                       "tax_total", "currency", "document")  # fmt: skip
    invalid_filter = {"status": "lost"}
    action = "retry"
    audit_action = "transaction.journaled"

    def make(self, env: Any, count: int) -> list[Model]:
        made = f.make_transactions(env.channel, count - 1) if count > 1 else []
        odd = f.make_transactions(env.channel, 1, status=TransactionStatus.NEEDS_MAPPING, total=Decimal("99.50"),
                                  day=date(2026, 12, 24))  # fmt: skip
        return [*made, *odd]

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        odd = made[-1]
        rest = _ids(made[:-1])
        return [
            ({"status": "needs_mapping"}, {str(odd.pk)}),
            ({"status": ["needs_mapping", "posted"]}, _ids(made)),
            ({"q": odd.number}, {str(odd.pk)}),
            ({"q": "99.50"}, {str(odd.pk)}),
            ({"q": "144"}, rest),
            ({"channel": "till"}, _ids(made)),
            ({"kind": "refund"}, set()),
            ({"business_date_after": "2026-12-01"}, {str(odd.pk)}),
            ({"business_date_before": "2026-12-01"}, rest),
            ({"total_min": "100"}, rest),
            ({"external_id": odd.external_id}, {str(odd.pk)}),
        ]

    def make_actionable(self, env: Any) -> Model:
        # A sale on a channel without mappings is held; a mapping approved afterwards lets retry book it.
        channel = make_channel(env.ledger, slug="late", mapped=False)
        env.post("late", sale_event("S-LATE"))
        txn = Transaction.objects.get(channel=channel)
        assert txn.status == TransactionStatus.NEEDS_MAPPING
        ms = MappingSet.objects.create(channel=channel, connection=env.ledger)
        activate_version(
            create_version(ms, effective_from=date(2020, 1, 1), rules=standard_rules(env.ledger))
        )
        return txn

    def make_not_actionable(self, env: Any) -> Model:
        env.post("till", sale_event("S-DONE"))
        txn = Transaction.objects.get(external_id="S-DONE")
        assert txn.status == TransactionStatus.POSTED
        return txn

    def test_amounts_are_exact_decimal_strings(self, client: Any, api_env: Any, users: Any) -> None:
        txn = f.make_transactions(api_env.channel, 1, total=Decimal("1203.5"))[0]
        client.force_login(users["auditor"])
        data = client.get(f"{self.url}{txn.pk}/").json()
        assert data["total"] == "1203.50" and data["tax_total"] == "24.00"


class TestJournalEntries(ReadResource):
    url = "/api/v1/journal-entries/"
    model = JournalEntry
    expected_fields = (
        "id",
        "kind",
        "transaction",
        "reference",
        "date",
        "currency",
        "lines",
        "mapping_version",
    )

    def make(self, env: Any, count: int) -> list[Model]:
        return [p.entry for p in f.make_postings(env.channel, count)]

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        return [
            ({"reference": made[0].reference}, {str(made[0].pk)}),
            ({"q": made[1].reference}, {str(made[1].pk)}),
            ({"q": "144.00"}, _ids(made)),
            ({"transaction_id": str(made[2].transaction_id)}, {str(made[2].pk)}),
            ({"channel": "till", "kind": "transaction"}, _ids(made)),
            ({"kind": "summary"}, set()),
        ]

    def test_lines_carry_account_codes_and_balance(self, client: Any, api_env: Any, users: Any) -> None:
        entry = self.make(api_env, 1)[0]
        client.force_login(users["auditor"])
        lines = client.get(f"{self.url}{entry.pk}/").json()["lines"]
        assert [(ln["account_code"], ln["debit"], ln["credit"]) for ln in lines] == [
            ("1000", "144.00", "0.00"), ("1100", "0.00", "144.00")]  # fmt: skip


class TestPostings(ReadResource, ActionTests):
    url = "/api/v1/postings/"
    model = Posting
    expected_fields = ("id", "connection", "entry", "reference", "transaction", "idempotency_key", "state",
                       "attempts", "remote_id", "last_error", "attempt_rows")  # fmt: skip
    action = "retry"
    audit_action = "posting.replayed"

    def make(self, env: Any, count: int) -> list[Model]:
        made = f.make_postings(env.channel, count - 1) if count > 1 else []
        return [*made, *f.make_postings(env.channel, 1, state=PostingState.DEAD, attempts=2)]

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        dead = made[-1]
        return [
            ({"state": "dead"}, {str(dead.pk)}),
            ({"state": ["dead", "held"]}, {str(dead.pk)}),
            ({"state": "posted"}, _ids(made[:-1])),
            ({"q": made[0].remote_number}, {str(made[0].pk)}),
            ({"idempotency_key": dead.idempotency_key}, {str(dead.pk)}),
            ({"error_class": "Permanent"}, {str(dead.pk)}),
            ({"channel": "till"}, _ids(made)),
            ({"transaction_id": str(dead.entry.transaction_id)}, {str(dead.pk)}),
        ]

    def make_actionable(self, env: Any) -> Model:
        return f.make_postings(env.channel, 1, state=PostingState.DEAD)[0]

    def make_not_actionable(self, env: Any) -> Model:
        return f.make_postings(env.channel, 1, state=PostingState.POSTED)[0]

    def test_attempt_bodies_are_redacted(self, client: Any, api_env: Any, users: Any) -> None:
        posting = self.make_actionable(api_env)
        client.force_login(users["auditor"])
        body = client.get(f"{self.url}{posting.pk}/").content.decode()
        assert "s3cret" not in body and "[redacted]" in body

    def test_retry_puts_it_back_as_uncertain_so_it_is_looked_up_first(
        self, client: Any, api_env: Any, users: Any
    ) -> None:
        posting = self.make_actionable(api_env)
        client.force_login(users["finance_clerk"])
        data = client.post(f"{self.url}{posting.pk}/retry/").json()
        assert data["state"] == "uncertain" and data["attempts"] == 0


class TestPostingMove(ActionTests):
    """Moving a held posting to an open date: the second action of postings."""

    url = "/api/v1/postings/"
    model = Posting
    action = "move"
    audit_action = "posting.moved"

    def _held(self, env: Any) -> Posting:
        env.ledger.lock_date = date(2026, 11, 30)
        env.ledger.save(update_fields=["lock_date"])
        return f.make_postings(env.channel, 1, state=PostingState.HELD)[0]

    def make_actionable(self, env: Any) -> Model:
        return self._held(env)

    def make_not_actionable(self, env: Any) -> Model:
        return f.make_postings(env.channel, 1, state=PostingState.POSTED)[0]

    def action_body(self, obj: Model) -> dict[str, Any]:
        return {"date": "2026-12-01"}

    def test_a_date_still_closed_is_refused(self, client: Any, api_env: Any, users: Any) -> None:
        from tests.api.mixins import assert_error

        posting = self._held(api_env)
        client.force_login(users["finance_clerk"])
        response = client.post(
            f"{self.url}{posting.pk}/move/", {"date": "2026-11-15"}, content_type="application/json"
        )
        assert "still in the period closed" in assert_error(response, 409, "conflict")["message"]
        bad = client.post(f"{self.url}{posting.pk}/move/", {"date": "soon"}, content_type="application/json")
        assert "date" in assert_error(bad, 400, "invalid")["details"]


class TestInboundEvents(ReadResource):
    url = "/api/v1/inbound-events/"
    model = InboundEvent
    expected_fields = ("id", "channel", "channel_slug", "dedupe_key", "event_type", "status", "body")

    def make(self, env: Any, count: int) -> list[Model]:
        return list(f.make_events(env.channel, count))

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        return [({"q": made[0].dedupe_key}, {str(made[0].pk)}), ({"status": "processed"}, _ids(made)),
                ({"status": "quarantined"}, set()), ({"channel": "till"}, _ids(made))]  # fmt: skip


class TestJobs(ReadResource):
    url = "/api/v1/jobs/"
    model = Job
    expected_fields = ("id", "kind", "description", "status", "done", "total", "percent", "message")

    def make(self, env: Any, count: int) -> list[Model]:
        return [*f.make_jobs(count - 1), *f.make_jobs(1, status="running")]

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        return [({"status": "running"}, {str(made[-1].pk)}), ({"kind": "sync"}, _ids(made)),
                ({"q": made[0].description}, {str(made[0].pk)})]  # fmt: skip


class TestAuditEvents(ReadResource):
    url = "/api/v1/audit-events/"
    model = AuditEvent
    expected_fields = ("id", "occurred_at", "actor_label", "action", "object_type", "object_id", "before",
                       "after", "prev_hash", "row_hash")  # fmt: skip

    def make(self, env: Any, count: int) -> list[Model]:
        return list(f.make_audit_events(count))

    def filter_cases(self, made: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
        today = made[0].occurred_at.date()
        return [
            ({"action": "test."}, _ids(made)),
            ({"object_id": made[1].object_id, "object_type": "tests.Thing"}, {str(made[1].pk)}),
            ({"actor": "tests"}, _ids(made)),
            ({"occurred_at_after": (today + timedelta(days=1)).isoformat()}, set()),
        ]

    def test_the_chain_is_visible(self, client: Any, api_env: Any, users: Any) -> None:
        made = self.make(api_env, 2)
        client.force_login(users["auditor"])
        rows = client.get(self.url, {"action": "test."}).json()["results"]
        newest, older = rows[0], rows[1]
        assert newest["id"] == made[1].pk and newest["prev_hash"] == older["row_hash"]
