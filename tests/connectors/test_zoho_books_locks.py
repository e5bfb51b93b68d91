"""Zoho Books transaction locking read from the organisation (``GET /transactionlocks``): a
posting dated inside a module's lock never reaches Zoho, with nothing set on the connection.
Over HTTP to the Zoho Books sandbox."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from connectors import auth
from connectors.base import ClosedPeriod, LedgerConfig, MemoryRefStore, ledger_target_class
from connectors.ledgers.zoho_books import ZohoBooksTarget
from connectors.ledgers.zoho_books.locks import lock_of, locks_in_force, module_of_scope
from connectors.ledgers.zoho_books.target import LOCKS_TTL_SECONDS
from connectors.sandbox.base import Fault
from connectors.sandbox.zoho_books import ZohoBooksSandbox
from tests.connectors.test_zoho_books import DAY, invoice_doc, journal_doc, payment_doc, payout_doc, sale_doc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zoho_books"
LOCKS = "/transactionlocks$"
WRITES = ("POST", "PUT", "DELETE")


@pytest.fixture(autouse=True)
def process_local_oauth():
    """Connector tests run without the database: the core's credential reader and lock are set
    aside for the test and put back afterwards."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


@pytest.fixture
def sandbox():
    with ZohoBooksSandbox(pause=1.0) as server:
        yield server


def target_for(sandbox: ZohoBooksSandbox) -> ZohoBooksTarget:
    """A target with no lock date of its own: only what Zoho says."""
    config = LedgerConfig(
        connection_id=f"zoho-locks-{sandbox.organization_id}-{sandbox.port}",
        platform="zoho_books",
        functional_currency="USD",
        base_url=sandbox.url,
        credentials=sandbox.credentials(),
        settings=sandbox.ledger_settings(),
        refs=MemoryRefStore(),
    )
    target = ledger_target_class("zoho_books")(config)
    assert isinstance(target, ZohoBooksTarget)
    assert "lock_date" not in config.settings and "lock_dates" not in config.settings
    return target


def writes(sandbox: ZohoBooksSandbox) -> list:
    """Every request that could change the organisation."""
    return [r for r in sandbox.requests if r.method in WRITES and "/books/" in r.path]


def test_a_sale_inside_zohos_sales_lock_is_held_with_no_write(sandbox):
    sandbox.set_lock("sales", date(2026, 1, 31))
    target = target_for(sandbox)
    with pytest.raises(ClosedPeriod) as caught:
        target.post(sale_doc("S-ZL-1"))
    message = caught.value.message
    assert "2026-01-05" in message and "2026-01-31" in message and "sales" in message
    assert caught.value.vendor_code == "transaction_lock"  # ours, not Zoho's refusal
    assert writes(sandbox) == []
    assert len(sandbox.requests_to("GET", LOCKS)) == 1
    assert sandbox.documents("invoices") == [] and sandbox.organisation.contacts == {}


def test_an_invoice_for_a_new_customer_creates_no_contact_inside_the_lock(sandbox):
    sandbox.set_lock("sales", DAY)  # on the lock date itself: locked
    with pytest.raises(ClosedPeriod, match="sales module's lock date 2026-01-05"):
        target_for(sandbox).post(invoice_doc("INV-ZL-1"))
    assert writes(sandbox) == []


def test_a_payout_inside_zohos_banking_lock_is_held_with_no_write(sandbox):
    sandbox.set_lock("banking", date(2026, 1, 31))
    target = target_for(sandbox)
    with pytest.raises(ClosedPeriod) as caught:
        target.post(payout_doc("PO-ZL-1", fee="3.00"))
    assert "banking" in caught.value.message and "2026-01-31" in caught.value.message
    assert writes(sandbox) == []
    # the banking lock does not hold sales documents (customer payments are Zoho's sales module)
    invoice = target.post(invoice_doc("INV-ZL-2"))
    target.post(payment_doc("PAY-ZL-2", invoice, "120.00"))
    assert len(sandbox.documents("customerpayments")) == 1
    assert sandbox.documents("banktransactions") == []


def test_a_lock_of_all_modules_holds_a_journal(sandbox):
    sandbox.set_lock("all", date(2026, 1, 31))
    with pytest.raises(ClosedPeriod, match="all modules"):
        target_for(sandbox).post(journal_doc("J-ZL-ALL"))
    assert writes(sandbox) == []


def test_the_locks_are_read_once_per_cache_period(sandbox):
    target = target_for(sandbox)
    target.post(journal_doc("J-ZL-C1"))
    target.post(journal_doc("J-ZL-C2"))
    target.post(sale_doc("S-ZL-C3"))
    assert len(sandbox.requests_to("GET", LOCKS)) == 1
    assert 0 < LOCKS_TTL_SECONDS <= 600


def test_a_lock_set_in_zoho_after_the_read_is_learnt_from_zohos_refusal(sandbox):
    target = target_for(sandbox)
    target.post(journal_doc("J-ZL-1"))  # locks read: none
    reads = len(sandbox.requests_to("GET", LOCKS))
    sandbox.set_lock("accountant", date(2026, 1, 31))  # set in Zoho while our read is fresh
    with pytest.raises(ClosedPeriod) as refused:
        target.post(journal_doc("J-ZL-2"))
    assert refused.value.vendor_code == "120001"  # Zoho's own refusal
    assert len(sandbox.requests_to("GET", LOCKS)) == reads + 1  # read again at once
    posts = len(sandbox.requests_to("POST", "/journals$"))
    with pytest.raises(ClosedPeriod) as held:
        target.post(journal_doc("J-ZL-3"))
    assert held.value.vendor_code == "transaction_lock"
    assert "accountant" in held.value.message and "2026-01-31" in held.value.message
    assert len(sandbox.requests_to("POST", "/journals$")) == posts  # never sent
    assert [j["reference_number"] for j in sandbox.documents("journals")] == ["J-ZL-1"]


def test_an_unlocked_module_posts_again_after_the_read(sandbox):
    sandbox.set_lock("accountant", date(2026, 1, 31))
    target = target_for(sandbox)
    with pytest.raises(ClosedPeriod):
        target.post(journal_doc("J-ZL-U"))
    sandbox.set_lock("accountant", None)
    assert target.fetch_lock_date() is None  # fetch_lock_date reads afresh
    target.post(journal_doc("J-ZL-U"))
    assert len(sandbox.documents("journals")) == 1


def test_fetch_lock_date_is_the_day_every_module_is_locked_to(sandbox):
    target = target_for(sandbox)
    sandbox.set_lock("sales", date(2026, 1, 31))
    sandbox.set_lock("banking", date(2026, 2, 28))
    assert target.fetch_lock_date() is None  # purchases and accountant are open
    sandbox.set_lock("all", date(2026, 1, 15))
    assert target.fetch_lock_date() == date(2026, 1, 15)
    sandbox.set_lock("all", None)
    for module, day in (("purchases", date(2026, 3, 31)), ("accountant", date(2026, 1, 20))):
        sandbox.set_lock(module, day)
    assert target.fetch_lock_date() == date(2026, 1, 20)


def test_an_organisation_without_transaction_locking_has_no_locks(sandbox):
    sandbox.faults.next(Fault("status", status=400), path=LOCKS, method="GET")
    target = target_for(sandbox)
    target.post(journal_doc("J-ZL-NOPLAN"))
    assert target.zoho_locks() == {}
    assert len(sandbox.documents("journals")) == 1


def test_the_sandbox_answer_has_zohos_shape_and_pages(sandbox):
    documented = json.loads((FIXTURES / "transaction_locks.json").read_text())
    fields = set(documented["transaction_locks"][0])
    for n, module in enumerate(("sales", "purchases", "banking", "accountant")):
        sandbox.set_lock(module, date(2026, 1, 10 + n))
    target = target_for(sandbox)
    first = target._request("GET", "/transactionlocks", params={"per_page": "3"})
    assert first["page_context"]["has_more_page"] is True and len(first["transaction_locks"]) == 3
    for row in first["transaction_locks"]:
        assert set(row) <= fields
    assert target.zoho_locks() == {"sales": date(2026, 1, 10), "purchases": date(2026, 1, 11),
                                   "banking": date(2026, 1, 12), "accountant": date(2026, 1, 13)}  # fmt: skip


def test_the_documented_example_locks_everything_and_a_disabled_lock_nothing():
    documented = json.loads((FIXTURES / "transaction_locks.json").read_text())
    enabled, disabled = documented["transaction_locks"]
    assert lock_of(enabled) == ("all", date(2024, 3, 31))
    assert lock_of(disabled) is None
    assert locks_in_force(documented["transaction_locks"]) == {"all": date(2024, 3, 31)}


@pytest.mark.parametrize(
    ("text", "module"),
    [("All", "all"), ("Sales", "sales"), ("purchase", "purchases"), ("Banking", "banking"),
     ("Accountant", "accountant"), ("inventory_adjustments", "inventory_adjustments"), ("", "all"),
     ("Something new", "all")],
)  # fmt: skip
def test_a_scope_we_cannot_tell_holds_every_module(text, module):
    assert module_of_scope(text) == module
