"""Django's ``{# ... #}`` comments end at the end of their line: one spread over two lines is not a
comment and shows on the page (it did, on the job page). Every template keeps them on one line and
uses ``{% comment %}`` for longer notes."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_no_template_comment_spans_lines() -> None:
    broken = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            opened = line.rfind("{#")
            if opened != -1 and "#}" not in line[opened:]:
                broken.append(f"{path.relative_to(TEMPLATES)}:{number}")
    assert broken == [], broken
