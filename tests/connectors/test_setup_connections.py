"""What the setup wizard asks each connector for, and "Test connection" against the sandboxes.

Every connector that exists today declares ``setup_fields`` (what a person enters; credentials are
write-only) and a ``test_connection()`` that calls the vendor (shop, account, locations, company,
organisation) and answers in words. Each is tested over HTTP against its sandbox: a good
configuration, refused credentials, and a configuration that answers but is wrong (currency).
The answers the sandboxes give are checked against the vendors' published contracts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from connectors.base import (
    LEDGER_PLATFORMS,
    SOURCE_PLATFORMS,
    LedgerConfig,
    SetupField,
    SourceConfig,
    UnknownPlatform,
    ledger_target_class,
    sales_source_class,
)
from connectors.sandbox.quickbooks import QuickBooksSandbox
from connectors.sandbox.shopify import ShopifySandbox
from connectors.sandbox.square import SquareSandbox
from connectors.sandbox.stripe import StripeSandbox
from connectors.sandbox.xero import XeroSandbox
from connectors.sources.generic import sign
from tests.connectors.test_quickbooks import process_local_oauth  # noqa: F401 - autouse fixture
from tests.contract import validate_openapi

KINDS = {"text", "secret", "url", "int", "bool", "choice", "date"}


def _classes() -> Iterator[tuple[str, type]]:
    for platform in SOURCE_PLATFORMS:
        try:
            yield platform, sales_source_class(platform)
        except UnknownPlatform:
            continue
    for platform in LEDGER_PLATFORMS:
        try:
            yield platform, ledger_target_class(platform)
        except UnknownPlatform:
            continue


@pytest.mark.parametrize(("platform", "cls"), list(_classes()), ids=lambda v: v if isinstance(v, str) else "")
def test_setup_fields_are_well_formed(platform: str, cls: type) -> None:
    fields: tuple[SetupField, ...] = cls.setup_fields
    names = [f.name for f in fields]
    assert len(names) == len(set(names)), f"{platform}: a field is declared twice"
    for f in fields:
        assert f.kind in KINDS and f.label, (platform, f)
        assert f.store in ("credentials", "settings"), (platform, f)
        if f.kind == "choice":
            assert f.choices and (f.default in (None, "") or f.default in dict(f.choices)), (platform, f)
        if f.kind == "secret" and f.name != "webhook_secret":
            assert f.store == "credentials", f"{platform}: {f.name} is secret but would be stored in clear"
        if f.name == "base_url":
            assert f.kind == "url", (platform, f)


def _source(platform: str, base_url: str, *, currency: str = "GBP", **config: Any) -> Any:
    return sales_source_class(platform)(
        SourceConfig(channel_slug=f"{platform}-test", currency=currency, base_url=base_url, **config)
    )


# -- sources -----------------------------------------------------------------------------------


def test_generic_checks_that_an_event_signed_with_the_secret_verifies() -> None:
    ok = _source("generic", "", webhook_secrets=("s-current", "s-previous")).test_connection()
    assert ok.ok and "verifies" in ok.message and "previous secret" in ok.message
    assert ok.details == {"secrets": 2}
    missing = _source("generic", "").test_connection()
    assert not missing.ok and "No signing secret" in missing.message
    # Prysm is its own platform on the generic signed format.
    assert issubclass(sales_source_class("prysm"), sales_source_class("generic"))
    assert sign("s", 1, b"{}").startswith("v1=")


def test_shopify_reads_the_shop() -> None:
    with ShopifySandbox() as shop:
        good = _source("shopify", shop.url, credentials={"access_token": shop.access_token})
        check = good.test_connection()
        assert check.ok, check.message
        assert (
            check.message == "Connected to Sankofa Imports (sankofa-imports.myshopify.com), selling in GBP."
        )
        assert check.details["timezone"] == "Europe/London"
        assert len(shop.requests_to("GET", r"/admin/api/2024-10/shop\.json$")) == 1

        refused = _source("shopify", shop.url, credentials={"access_token": "shpat_wrong"}).test_connection()
        assert not refused.ok and refused.message.startswith("Shopify refused the credentials")
        assert "Invalid API key or access token" in refused.message

        elsewhere = _source(
            "shopify", shop.url, currency="EUR", credentials={"access_token": shop.access_token}
        )
        wrong = elsewhere.test_connection()
        assert not wrong.ok and "sells in GBP" in wrong.message and "set to EUR" in wrong.message


def test_shopify_unreachable_shop_is_said_in_words() -> None:
    with ShopifySandbox() as shop:
        url = shop.url
    check = _source("shopify", url, credentials={"access_token": "shpat_sandbox"}).test_connection()
    assert not check.ok and check.message.startswith("Shopify could not be reached")


def test_stripe_reads_the_account_and_the_answer_is_stripes_account_object() -> None:
    with StripeSandbox() as stripe:
        check = _source("stripe", stripe.url, credentials={"secret_key": stripe.secret_key}).test_connection()
        assert check.ok, check.message
        assert check.message == "Connected to the Stripe account Sankofa Imports (acct_1SandboxImports)."
        assert check.details["currency"] == "GBP"
        raw = requests.get(
            stripe.url + "/v1/account", headers={"Authorization": f"Bearer {stripe.secret_key}"}, timeout=10
        ).json()
        validate_openapi("stripe/spec3.yaml", "account", raw)

        refused = _source("stripe", stripe.url, credentials={"secret_key": "sk_test_wrong"}).test_connection()
        assert not refused.ok and refused.message.startswith("Stripe refused the credentials")

        no_key = _source("stripe", stripe.url).test_connection()
        assert not no_key.ok and "Enter a secret API key" in no_key.message

        usd = _source("stripe", stripe.url, currency="USD", credentials={"secret_key": stripe.secret_key})
        assert "Its default currency is GBP; this channel books in USD." in usd.test_connection().message


def test_square_lists_the_locations_and_the_answer_is_squares_shape() -> None:
    with SquareSandbox() as square:
        square.locations.append(
            {**square.locations[0], "id": "LSANDBOXPOPUP", "name": "Pop-up", "currency": "XOF",
             "timezone": "Africa/Dakar"}
        )  # fmt: skip
        square.locations.append({**square.locations[0], "id": "LCLOSED", "status": "INACTIVE"})
        source = _source("square", square.url, credentials={"access_token": square.access_token})
        check = source.test_connection()
        assert check.ok, check.message
        assert check.message == (
            "Connected: 2 active locations: Sankofa High Street (LSANDBOXMAIN1), Pop-up (LSANDBOXPOPUP). "
            "Some sell in XOF; this channel books in GBP. Enter the location ids to back-fill."
        )
        assert [loc["id"] for loc in check.details["locations"]] == ["LSANDBOXMAIN1", "LSANDBOXPOPUP"]
        raw = requests.get(
            square.url + "/v2/locations",
            headers={"Authorization": f"Bearer {square.access_token}"},
            timeout=10,
        ).json()
        validate_openapi("square/api.json", "ListLocationsResponse", raw)

        refused = _source("square", square.url, credentials={"access_token": "wrong"}).test_connection()
        assert not refused.ok and refused.message.startswith("Square refused the credentials")


def test_square_location_ids_typed_in_the_form_are_comma_separated() -> None:
    source = _source("square", "http://127.0.0.1:9", settings={"location_ids": " L1, L2 ,,"})
    assert source._locations() == ["L1", "L2"]


# -- ledgers -----------------------------------------------------------------------------------


def _ledger(platform: str, sandbox: Any, *, currency: str = "GBP", credentials: Any = None) -> Any:
    return ledger_target_class(platform)(
        LedgerConfig(
            connection_id=f"{platform}-setup-test",
            platform=platform,
            functional_currency=currency,
            base_url=sandbox.url,
            credentials=sandbox.credentials() if credentials is None else credentials,
            settings=sandbox.ledger_settings(),
        )
    )


def test_quickbooks_reads_the_company_and_its_closing_date() -> None:
    from tests.connectors.test_quickbooks_contract import assert_response_conforms

    with QuickBooksSandbox(home_currency="GBP", book_close_date=date(2026, 9, 30)) as qbo:
        check = _ledger("quickbooks", qbo).test_connection()
        assert check.ok, check.message
        assert check.message == (
            f"Connected to Sandbox Company_GB_1 (company {qbo.realm_id}), home currency GBP, "
            "books closed to 30 Sep 2026."
        )
        assert check.details["lock_date"] == "2026-09-30"
        token = qbo.credentials()["access_token"]
        raw = requests.get(
            f"{qbo.url}/v3/company/{qbo.realm_id}/companyinfo/{qbo.realm_id}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=10,
        ).json()
        assert_response_conforms(raw)

        usd = _ledger("quickbooks", qbo, currency="USD").test_connection()
        assert not usd.ok and "home currency is GBP" in usd.message

        not_yet = _ledger("quickbooks", qbo, credentials={"client_id": "a", "client_secret": "b"})
        assert not not_yet.test_connection().ok
        assert "Not connected yet" in not_yet.test_connection().message

        revoked = qbo.credentials()
        qbo.tokens.expire_access_tokens()
        qbo.tokens.revoke_refresh_tokens()
        refused = _ledger("quickbooks", qbo, credentials=revoked).test_connection()
        assert not refused.ok and refused.message.startswith("QuickBooks Online refused the credentials")


def test_xero_reads_the_organisation_with_its_lock_date_and_budget() -> None:
    from tests.contract import load_spec

    with XeroSandbox(base_currency="GBP") as xero:
        xero.organisation.period_lock_date = date(2026, 10, 31)
        check = _ledger("xero", xero).test_connection()
        assert check.ok, check.message
        assert check.message.startswith(
            "Connected to Sandbox Imports Ltd, base currency GBP, locked to 31 Oct 2026;"
        )
        assert check.details["calls_left_today"] > 0
        credentials = xero.credentials()
        raw = requests.get(
            f"{xero.url}/api.xro/2.0/Organisation",
            headers={"Authorization": f"Bearer {credentials['access_token']}",
                     "xero-tenant-id": xero.tenant_id, "Accept": "application/json"},
            timeout=10,
        ).json()  # fmt: skip
        load_spec("xero/xero_accounting.yaml")
        validate_openapi("xero/xero_accounting.yaml", "Organisations", raw)

        usd = _ledger("xero", xero, currency="USD").test_connection()
        assert not usd.ok and "base currency is GBP" in usd.message
        no_tenant = _ledger("xero", xero, credentials={**credentials, "tenant_id": ""}).test_connection()
        assert not no_tenant.ok and "no organisation is chosen" in no_tenant.message


@pytest.mark.django_db
def test_builtin_ledger_says_what_its_books_hold(ledger: Any) -> None:
    from integrator.models import LedgerConnection
    from integrator.services.posting import ledger_target_for

    check = ledger_target_for(ledger).test_connection()
    assert check.ok and check.message == "The built-in ledger is ready: 15 accounts, 2 tax codes."
    empty = LedgerConnection.objects.create(platform="builtin", name="Empty", functional_currency="GBP")
    check = ledger_target_for(empty).test_connection()
    assert not check.ok and "no accounts yet" in check.message
