"""Exact JSON for vendor APIs: Decimals go out as JSON numbers and come back as Decimals.

``requests``' own ``json=`` would refuse a Decimal, and a float would lose the cent, so bodies are
encoded here and sent as bytes.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads"]


def dumps(value: Any) -> bytes:
    """JSON bytes in which every Decimal is written as the exact number it holds."""
    numbers: list[str] = []
    nonce = uuid.uuid4().hex

    def mark(node: Any) -> Any:
        """Replace each Decimal by a placeholder string, remembering its exact text."""
        if isinstance(node, Decimal):
            numbers.append(format(node, "f"))
            return f"{nonce}:{len(numbers) - 1}"
        if isinstance(node, dict):
            return {key: mark(item) for key, item in node.items()}
        if isinstance(node, list | tuple):
            return [mark(item) for item in node]
        return node

    text = json.dumps(mark(value), separators=(",", ":"), ensure_ascii=False)
    text = re.sub(f'"{nonce}:(\\d+)"', lambda m: numbers[int(m.group(1))], text)
    return text.encode("utf-8")


def loads(raw: bytes | str) -> Any:
    """Parse JSON with every non-integer number as a Decimal."""
    return json.loads(raw, parse_float=Decimal)
