"""The workspace on a phone (390 px wide): the sidebar never covers the page heading."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from integrator.services.roles import ensure_roles
from tests.e2e.conftest import save_screenshot

pytestmark = pytest.mark.browser


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])  # fmt: skip


def test_the_heading_is_clear_of_the_sidebar_at_390_px(pages: Any, transactional_db: Any) -> None:
    user = get_user_model().objects.create_user(username="clerk390", password="clerk-390-pass")
    user.groups.add(ensure_roles()["finance_clerk"])
    page = pages.login("clerk390", "clerk-390-pass")
    page.set_viewport_size({"width": 390, "height": 844})
    for url in ("/", "/transactions/", "/reports/"):
        page.goto(url)
        heading = page.locator("h1").first.bounding_box()
        sidebar = page.locator("aside.sidebar").bounding_box()
        assert heading is not None and sidebar is not None
        save_screenshot(page, "narrow-" + (url.strip("/") or "today"))
        assert not _overlap(heading, sidebar), (url, heading, sidebar)
        # What is painted under the heading's first letter is the page, not the dark sidebar.
        colour = page.evaluate(
            """([x, y]) => { const el = document.elementFromPoint(x, y);
                 let node = el; while (node && getComputedStyle(node).backgroundColor === 'rgba(0, 0, 0, 0)'
                   && getComputedStyle(node).backgroundImage === 'none') { node = node.parentElement; }
                 return node ? [node.tagName, node.className, getComputedStyle(node).backgroundColor,
                                getComputedStyle(node).backgroundImage] : null; }""",
            [heading["x"] + 4, heading["y"] + heading["height"] / 2],
        )
        assert colour is not None and "31, 27, 24" not in str(colour), (url, colour)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (url, width)
