"""Zoho's data centres: where a connection's OAuth tokens and API calls may go.

A Zoho organisation lives in one data centre (US, EU, India, Australia, Japan, Canada, Saudi
Arabia, UK, China). The consent screen sends the user back with ``location`` and
``accounts-server`` naming that data centre's accounts server; the authorisation code is traded
there (and only if it is one of Zoho's own servers), and the token answer names the API domain
(``api_domain``) every later call goes to. Both are stored with the credentials and checked
again before use, so a forged callback or a tampered credential set cannot send the client secret
or the organisation's data to another host.

A self-hosted test server (the sandbox) is accepted only where the connection's own settings name
it (``token_url`` / ``base_url``), which only an integration admin can set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connectors.base import AuthExpired

__all__ = ["ACCOUNTS_SERVERS", "API_DOMAINS", "api_base_url", "origin", "token_url_for"]

ACCOUNTS_SERVERS = frozenset(
    {
        "https://accounts.zoho.com",
        "https://accounts.zoho.eu",
        "https://accounts.zoho.in",
        "https://accounts.zoho.com.au",
        "https://accounts.zoho.jp",
        "https://accounts.zohocloud.ca",
        "https://accounts.zoho.sa",
        "https://accounts.zoho.uk",
        "https://accounts.zoho.com.cn",
    }
)
API_DOMAINS = frozenset(
    {
        "https://www.zohoapis.com",
        "https://www.zohoapis.eu",
        "https://www.zohoapis.in",
        "https://www.zohoapis.com.au",
        "https://www.zohoapis.jp",
        "https://www.zohoapis.ca",
        "https://www.zohoapis.sa",
        "https://www.zohoapis.uk",
        "https://www.zohoapis.com.cn",
    }
)
TOKEN_PATH = "/oauth/v2/token"
API_PATH = "/books/v3"


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased (empty for anything else)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def token_url_for(accounts_server: str, settings: Mapping[str, Any]) -> str:
    """The token endpoint of the accounts server Zoho named, if it is Zoho's (or the test server
    the connection's settings name). Raises AuthExpired for anything else."""
    server = origin(accounts_server)
    configured = origin(str(settings.get("token_url") or ""))
    if server and (server in ACCOUNTS_SERVERS or server == configured):
        return server + TOKEN_PATH
    raise AuthExpired(
        f"zoho_books: {accounts_server!r} is not a Zoho accounts server; the authorisation was not used",
        vendor_code="accounts_server",
    )


def api_base_url(credentials: Mapping[str, Any], base_url: str) -> str:
    """Where API calls go: the connection's ``base_url`` when set (a test server), else the stored
    ``api_domain`` of the token answer, which must be one of Zoho's API domains."""
    if base_url:
        return base_url.rstrip("/") + ("" if base_url.rstrip("/").endswith(API_PATH) else API_PATH)
    domain = origin(str(credentials.get("api_domain") or "https://www.zohoapis.com"))
    if domain not in API_DOMAINS:
        raise AuthExpired(
            f"zoho_books: the stored API domain {domain!r} is not Zoho's; connect again",
            vendor_code="api_domain",
        )
    return domain + API_PATH
