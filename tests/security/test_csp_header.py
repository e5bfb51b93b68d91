"""The Content-Security-Policy header (issue 14, item 6): on every page, strict for scripts, and no
template carries an inline script or an inline event handler."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _directives(header: str) -> dict[str, list[str]]:
    found = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            found[words[0]] = words[1:]
    return found


def test_pages_send_a_strict_policy(admin_client: Any) -> None:
    for url in ("/", "/transactions/", "/api/docs/", "/login/", "/admin/"):
        response = admin_client.get(url, follow=True)
        policy = _directives(response.headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], url
        assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"], url


def test_the_api_docs_load_their_script_from_a_url_not_inline(admin_client: Any) -> None:
    html = admin_client.get("/api/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", html), "inline script in the API docs"


def test_no_template_has_an_inline_script_or_handler() -> None:
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", text, re.S):
            if (
                "src=" not in match["attrs"]
                and "application/json" not in match["attrs"]
                and match["body"].strip()
            ):
                offenders.append(f"{path.relative_to(TEMPLATES)}: inline script")
        if re.search(r"\son[a-z]+\s*=\s*\"", text) or "javascript:" in text:
            offenders.append(f"{path.relative_to(TEMPLATES)}: inline handler")
    assert offenders == []
