"""Document numbers as the ledger shows them.

The ledger shows the source's own number (``#120107``, ``INV-20261126``) whenever its field allows
(length and characters); otherwise a deterministic short form: the first characters, ``-`` and 8
characters of the base-32 SHA-256 of the whole number, which is stable, so a look-up derives the
same number. The full number always stays in the document's memo, and the number the ledger shows
is stored on the posting (``remote_number``), which the workspace search finds.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from connectors.base import PostingDocument

__all__ = ["NumberRules", "document_number", "short_form"]


@dataclass(frozen=True)
class NumberRules:
    """A ledger's number field: its length and the characters it takes."""

    max_length: int = 50
    allowed: str = r"[A-Za-z0-9#/._:\- ]+"


def short_form(number: str, max_length: int) -> str:
    """A stable abbreviation of ``number`` in at most ``max_length`` characters."""
    digest = base64.b32encode(hashlib.sha256(number.encode("utf-8")).digest()).decode("ascii")[:8]
    head = re.sub(r"[^A-Za-z0-9#._-]", "", number)[: max(0, max_length - 9)]
    return f"{head}-{digest}" if head else digest[:max_length]


def document_number(doc: PostingDocument, rules: NumberRules) -> str:
    """The number the ledger shows for ``doc``: its source number when it fits, else a short form
    (of the source number, or of our reference when the source gave none)."""
    number = doc.number or doc.reference
    if len(number) <= rules.max_length and re.fullmatch(rules.allowed, number):
        return number
    return short_form(number, rules.max_length)
