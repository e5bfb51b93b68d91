"""The consent address behind a ledger connection's Connect button, as a test client sees it."""

from __future__ import annotations

import html
import re
from typing import Any

_LINK = re.compile(r'id="oauth-consent" href="([^"]+)"')


def consent_url(response: Any) -> str:
    """The vendor's consent URL from the page that answers ``POST /connections/oauth/<pk>/start/``.

    The page (200, not a redirect) moves on by a meta refresh and keeps a link; both carry the
    same address, which this returns unescaped.
    """
    assert response.status_code == 200, response.status_code
    page = response.content.decode()
    link = _LINK.search(page)
    assert link is not None, "no consent link on the page"
    url = html.unescape(link.group(1))
    assert f'content="0;url={link.group(1)}"' in page, "the page does not move on by itself"
    return url
