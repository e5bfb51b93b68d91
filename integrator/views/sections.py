"""Honest empty states for navigation sections whose screens are not built (yet) in this install.

When the app behind a section is installed, its page is used instead and this view redirects to it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from integrator.templatetags.navigation import NAV, resolve_section_url

__all__ = ["SECTIONS", "section"]

# slug -> what the section is for, and what a person can do today instead.
SECTIONS: dict[str, dict[str, Any]] = {
    "mappings": {
        "title": "Mappings",
        "purpose": "Which ledger account, tax code and item each product, tax, tender and fee goes to, "
        "per channel and ledger, in numbered versions.",
        "meanwhile": [
            ("Transactions that need a mapping", "/transactions/?status=needs_mapping"),
            ("Mapping sets in the API", "/api/docs/"),
        ],
    },
    "approvals": {
        "title": "Approvals",
        "purpose": "Mapping changes waiting for a manager: a change takes effect only after someone other "
        "than its author approves it.",
        "meanwhile": [
            ("Transactions held until a mapping is approved", "/transactions/?status=needs_mapping")
        ],
    },
    "reconciliation": {
        "title": "Reconciliation",
        "purpose": "Daily proof that the sales system, the ledger and the bank agree; every difference "
        "becomes an exception a person resolves.",
        "meanwhile": [
            ("Postings that failed or are held", "/postings/?state=dead&state=held"),
            ("Trial balance of the built-in ledger", "/reports/"),
        ],
    },
    "inventory": {
        "title": "Inventory",
        "purpose": "Stock levels against reorder points: a breach produces a reorder suggestion, a "
        "purchase-order draft or a stock adjustment posting.",
        "meanwhile": [("Products sold, by transaction", "/transactions/?kind=sale")],
    },
    "audit": {
        "title": "Audit trail",
        "purpose": "Who changed or sent what, when, with before and after; hash-chained and append-only "
        "(`manage.py verify_audit` checks the chain).",
        "meanwhile": [("Audit events in the API", "/api/v1/audit-events/")],
    },
    "settings": {
        "title": "Settings",
        "purpose": "API tokens, two-factor authentication and your account.",
        "meanwhile": [("The API and its documentation", "/api/docs/")],
    },
}


@login_required
def section(request: HttpRequest, slug: str) -> HttpResponse:
    """The empty state of a section, or a redirect to its real screen when it exists."""
    info = SECTIONS.get(slug)
    item = next((i for i in NAV if i.section == slug), None)
    if info is None or item is None:
        raise Http404("no such section")
    url, exists = resolve_section_url(item)
    if exists:
        return redirect(url)
    return render(request, "integrator/section_empty.html", {"section": info, "slug": slug})
