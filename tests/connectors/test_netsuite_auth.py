"""NetSuite authentication: the OAuth 1.0a (HMAC-SHA256) header and base string, the SOAP token
passport, what the sandbox refuses (wrong signature, a nonce used twice, a stale timestamp), and
OAuth 2.0 with one refresh on a 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest
import requests

from connectors import auth
from connectors.base import LedgerConfig
from connectors.ledgers.netsuite.auth import (
    TbaCredentials,
    netsuite_oauth2_provider,
    oauth1_base_string,
    oauth1_header,
    parse_oauth1_header,
    passport_signature,
    token_passport,
)
from connectors.ledgers.netsuite.rest import NetSuiteTarget
from connectors.sandbox.netsuite import NetSuiteSandbox
from tests.ledgers.demo_week import demo_chart

CREDS = TbaCredentials("1234567_SB1", "ck", "c s", "tk", "t&s")


@pytest.fixture(autouse=True)
def local_oauth() -> Any:
    """Token refreshes stay in the test's process."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


def test_the_base_string_leaves_realm_out_and_sorts_oauth_and_query_parameters() -> None:
    params = {"realm": "1234567_SB1", "oauth_nonce": "n", "oauth_consumer_key": "ck"}
    base = oauth1_base_string(
        "post",
        "https://1234567-SB1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql?limit=10&offset=0",
        params,
    )
    method, url, normalized = base.split("&")
    assert method == "POST"
    assert (
        url == "https%3A%2F%2F1234567-sb1.suitetalk.api.netsuite.com%2Fservices%2Frest%2Fquery%2Fv1%2Fsuiteql"
    )
    assert normalized == "limit%3D10%26oauth_consumer_key%3Dck%26oauth_nonce%3Dn%26offset%3D0"
    assert "realm" not in base


def test_the_header_is_signed_with_hmac_sha256_over_the_base_string_with_both_secrets() -> None:
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/invoice/eid:INV-1"
    header = oauth1_header(CREDS, "PUT", url, nonce="abc", timestamp=1_700_000_000)
    fields = parse_oauth1_header(header)
    assert header.startswith('OAuth realm="1234567_SB1", ')
    assert fields["oauth_signature_method"] == "HMAC-SHA256" and fields["oauth_version"] == "1.0"
    signed = {k: v for k, v in fields.items() if k not in ("realm", "oauth_signature")}
    key = b"c%20s&t%26s"  # each secret percent-encoded, joined by &
    expected = base64.b64encode(
        hmac.new(key, oauth1_base_string("PUT", url, signed).encode(), hashlib.sha256).digest()
    )
    assert fields["oauth_signature"] == expected.decode()


def test_the_token_passport_signs_account_consumer_token_nonce_and_timestamp() -> None:
    passport = token_passport(CREDS, nonce="n1", timestamp=1_700_000_000)
    message = b"1234567_SB1&ck&tk&n1&1700000000"
    expected = base64.b64encode(hmac.new(b"c%20s&t%26s", message, hashlib.sha256).digest()).decode()
    assert passport.signature == expected == passport_signature(CREDS, "n1", 1_700_000_000)
    assert passport.algorithm == "HMAC-SHA256"


def test_the_oauth2_endpoints_are_the_accounts_own() -> None:
    provider = netsuite_oauth2_provider("1234567_SB1")
    assert provider.authorize_url == "https://1234567-sb1.app.netsuite.com/app/login/oauth2/authorize.nl"
    assert (
        provider.token_url
        == "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
    )


def test_the_sandbox_refuses_a_wrong_signature_a_replayed_nonce_and_a_stale_timestamp() -> None:
    with NetSuiteSandbox() as ns:
        creds = TbaCredentials(**{k: v for k, v in zip(
            ("account_id", "consumer_key", "consumer_secret", "token_id", "token_secret"),
            ns.credentials().values(), strict=True)})  # fmt: skip
        url = ns.url + "/services/rest/record/v1/customer/eid:nobody"
        good = oauth1_header(creds, "GET", url)
        assert (
            requests.get(url, headers={"Authorization": good}, timeout=5).status_code == 404
        )  # signed: reaches the record
        assert (
            requests.get(url, headers={"Authorization": good}, timeout=5).status_code == 401
        )  # same nonce again
        wrong = oauth1_header(TbaCredentials(creds.account_id, creds.consumer_key, "other", creds.token_id,
                                             creds.token_secret), "GET", url)  # fmt: skip
        assert requests.get(url, headers={"Authorization": wrong}, timeout=5).status_code == 401
        stale = oauth1_header(creds, "GET", url, timestamp=int(time.time()) - 3600)
        answer = requests.get(url, headers={"Authorization": stale}, timeout=5)
        assert (
            answer.status_code == 401 and answer.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
        )
        assert ns.refused_auth == 3


def test_oauth2_refreshes_once_on_a_401_and_keeps_the_rotated_refresh_token() -> None:
    saved: list[dict[str, Any]] = []
    with NetSuiteSandbox() as ns:
        ns.seed_chart(*demo_chart())
        credentials = ns.oauth2_credentials()
        config = LedgerConfig("c-oauth2", "netsuite", "GBP", base_url=ns.url, credentials=credentials,
                              settings={**ns.ledger_settings(), "token_url": ns.url + "/services/rest/auth/oauth2/v1/token"},
                              save_credentials=lambda c: saved.append(dict(c)))  # fmt: skip
        target = NetSuiteTarget(config)
        ns.revoke_bearers()  # the stored access token no longer works
        accounts = target.fetch_accounts()
        assert ns.token_calls == 1 and ns.refused_auth == 1
    assert {a.code for a in accounts} >= {"1000", "1200", "4000"}
    assert saved and saved[-1]["refresh_token"] != credentials["refresh_token"]
