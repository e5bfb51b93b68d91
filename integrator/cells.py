"""Spreadsheet cells that cannot run: the one helper every CSV and XLSX export goes through.

A spreadsheet program runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(``=HYPERLINK(...)`` in a product name sent by a signed webhook was exported raw: issue 14), and a
leading tab or carriage return can hide one. Such text gets a leading apostrophe, which spreadsheets
show as plain text and do not display. Numbers are not text: exporters keep Decimals as numbers (a
negative amount is not escaped), so only text is passed through :func:`inert_text`.

Files we export and read back (charts, mapping rules) go through :func:`restore_text` on import, so
a match value such as ``-`` or ``+44`` survives the round trip.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORMULA_START", "inert_dataset", "inert_text", "restore_text"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert_text(text: str) -> str:
    """``text`` with a leading apostrophe when a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def restore_text(text: str) -> str:
    """Undo :func:`inert_text` on a cell read back from one of our exports."""
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def inert_dataset(dataset: Any) -> Any:
    """A copy of a tablib ``Dataset`` whose text cells went through :func:`inert_text` (headers too)."""
    import tablib

    safe = tablib.Dataset(headers=[inert_text(str(h)) for h in (dataset.headers or [])] or None)
    safe.title = dataset.title
    for row in dataset:
        safe.append([inert_text(v) if isinstance(v, str) else v for v in row])
    return safe
