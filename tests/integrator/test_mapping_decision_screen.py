"""Reject does not look like Approve: it says what it does and wears the danger style.

Before, both were the same brown primary button in identical boxes, one word apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings

from integrator.models import MappingSet
from tests.integrator.test_mapping_api import as_user
from tests.integrator.test_mapping_changes import textiles_change


def _button(html: str, action: str) -> str:
    form = re.search(
        rf'<form method="post" action="[^"]+/{action}/" class="([^"]+)">(.*?)</form>', html, re.S
    )
    assert form is not None, action
    button = re.search(r"<button([^>]*)>(.*?)</button>", form.group(2), re.S)
    assert button is not None, action
    return f"{form.group(1)}|{button.group(1)}|{button.group(2)}"


def test_reject_is_a_distinct_danger_action(channel: Any, users: Any) -> None:
    change = textiles_change(MappingSet.objects.get(channel=channel), users["finance_clerk"])
    html = as_user(users["finance_manager"]).get(f"/mappings/changes/{change.pk}/").content.decode()
    approve, reject = _button(html, "approve"), _button(html, "reject")
    assert approve == 'panel decide approve| type="submit"|Approve'
    assert reject == 'panel decide reject| type="submit" class="danger"|Reject this change'
    css = (Path(settings.BASE_DIR) / "integrator/static/integrator/app.css").read_text()
    assert re.search(r"button\.danger \{[^}]*background: var\(--bad\)", css)
    assert re.search(r"\.panel\.decide\.reject \{[^}]*border-top: 4px solid var\(--bad\)", css)
    assert "Why is it rejected? (required)" in html
