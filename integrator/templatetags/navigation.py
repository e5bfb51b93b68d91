"""The task navigation: one list of sections, each pointing at its screen or at an honest empty state.

Sections built by other apps (mappings, approvals, reconciliation, audit, settings) are found by
URL name when those apps are installed; until then the section links to a page that says what the
section will do and what to use meanwhile (``integrator.views.sections``). Nothing is faked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from integrator.choices import PostingState

register = template.Library()

__all__ = ["NAV", "NavItem", "nav_menu", "resolve_section_url"]


@dataclass(frozen=True)
class NavItem:
    """A navigation entry: label, candidate URL names (first that resolves wins), path prefixes
    that make it the current section, the fallback section slug, and an icon name."""

    label: str
    url_names: tuple[str, ...]
    prefixes: tuple[str, ...]
    section: str
    icon: str


NAV: tuple[NavItem, ...] = (
    NavItem("Today", ("dashboard",), (), "today", "sun"),
    NavItem(
        "Transactions",
        ("transactions",),
        ("/transactions/", "/journal/", "/inbox/", "/search/"),
        "transactions",
        "list",
    ),
    NavItem("Postings", ("postings",), ("/postings/",), "postings", "send"),
    NavItem("Mappings", ("mappings",), ("/mappings/",), "mappings", "map"),
    NavItem("Approvals", ("mappings-approvals",), ("/mappings/approvals/",), "approvals", "check"),
    NavItem("Reconciliation", ("reconciliation:runs",), ("/reconciliation/",), "reconciliation", "scale"),
    NavItem("Period close", ("period-close",), ("/close/",), "close", "lock"),
    NavItem("Inventory", ("inventory:index",), ("/inventory/",), "inventory", "box"),
    NavItem("Reports", ("reports",), ("/reports/", "/books/", "/rates/"), "reports", "chart"),
    # Setup: ledgers, channels and people, with the connections' health and the jobs they run.
    NavItem("Setup", ("setup",), ("/setup/", "/connections/", "/jobs/"), "setup", "plug"),
    NavItem("Audit", ("security:audit",), ("/security/audit/",), "audit", "shield"),
    NavItem(
        "Settings",
        ("security:mfa", "security:tokens"),
        ("/security/tokens/", "/security/mfa/", "/settings/"),
        "settings",
        "gear",
    ),
)


def resolve_section_url(item: NavItem) -> tuple[str, bool]:
    """The URL of a section's screen and whether it exists (else the empty-state page)."""
    for name in item.url_names:
        try:
            return reverse(name), True
        except NoReverseMatch:
            continue
    return reverse("section", args=[item.section]), False


def _attention_count() -> int:
    from integrator.models import Posting

    return Posting.objects.filter(state__in=[PostingState.DEAD, PostingState.HELD]).count()


@register.inclusion_tag("integrator/_nav.html", takes_context=True)
def nav_menu(context: dict[str, Any]) -> dict[str, Any]:
    """The sidebar: every section with its URL, current marker and, for Postings, how many need a
    person (one COUNT query per page)."""
    request = context.get("request")
    path = getattr(request, "path", "/")
    url_name = getattr(getattr(request, "resolver_match", None), "url_name", "")
    section_arg = ""
    if url_name == "section":
        section_arg = request.resolver_match.kwargs.get("slug", "")  # type: ignore[union-attr]
    items = []
    for item in NAV:
        url, exists = resolve_section_url(item)
        if item.section == "today":
            current = path == url
        elif section_arg:
            current = section_arg == item.section
        else:
            current = any(path.startswith(p) for p in item.prefixes) or (
                exists and path.startswith(url) and url != "/"
            )
        items.append({"label": item.label, "url": url, "exists": exists, "current": current, "icon": item.icon,
                      "badge": 0})  # fmt: skip
    if request is not None and getattr(request, "user", None) and request.user.is_authenticated:
        for entry in items:
            if entry["label"] == "Postings":
                entry["badge"] = _attention_count()
    # Several sections could share a prefix (/mappings/ and /mappings/approvals/): keep the longest.
    current = [i for i in items if i["current"]]
    if len(current) > 1:
        best = max(current, key=lambda i: len(i["url"]) if path.startswith(i["url"]) else 0)
        for i in current:
            i["current"] = i is best
    return {"items": items}
