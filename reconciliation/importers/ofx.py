"""OFX bank statements: OFX 1.x (SGML, leaf elements left unclosed) and OFX 2.x (XML).

Both are read by one tolerant tokenizer rather than an XML parser, because SGML OFX is not XML: a
leaf like ``<TRNAMT>-12.50`` has no closing tag. An element followed by text is a leaf; any other
opening tag starts an aggregate that lasts until its closing tag. Each ``STMTTRN`` becomes a line:
``DTPOSTED`` (the bank's date), ``TRNAMT`` (signed), ``FITID`` (the bank's id, used to skip
duplicates), ``NAME``/``PAYEE``, ``MEMO`` and ``REFNUM``/``CHECKNUM``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from integrator import money
from reconciliation.importers.base import (
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementRejected,
    parse_signed_amount,
)

__all__ = ["parse_ofx"]

_TAG = re.compile(r"<(/?)([A-Za-z0-9_.]+)[^>]*>([^<]*)")
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})")


@dataclass
class _Node:
    """An OFX element: a leaf with text, or an aggregate with children."""

    name: str
    text: str = ""
    children: list[_Node] = field(default_factory=list)

    def find(self, *path: str) -> _Node | None:
        """The first descendant along ``path`` (each step searched at any depth)."""
        node: _Node | None = self
        for name in path:
            node = node._first(name) if node else None
        return node

    def _first(self, name: str) -> _Node | None:
        """Depth-first search for the first element with this name."""
        for child in self.children:
            if child.name == name:
                return child
            found = child._first(name)
            if found is not None:
                return found
        return None

    def find_all(self, name: str) -> list[_Node]:
        """Every descendant with this name, in document order."""
        out: list[_Node] = []
        for child in self.children:
            if child.name == name:
                out.append(child)
            else:
                out.extend(child.find_all(name))
        return out

    def value(self, *path: str) -> str:
        """The text of a descendant leaf, or ''."""
        node = self.find(*path)
        return node.text if node else ""


def _decode(content: bytes) -> str:
    """OFX 1.x declares its charset in the header (often cp1252); 2.x is UTF-8."""
    head = content[:600].upper()
    if b"CHARSET:1252" in head or b"ENCODING:USASCII" in head:
        return content.decode("cp1252", errors="replace")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def _tree(text: str) -> _Node:
    """Build the element tree from the first <OFX> on (the SGML header before it is skipped)."""
    start = text.upper().find("<OFX>")
    if start < 0:
        raise StatementRejected("not an OFX file: no <OFX> element")
    root = _Node("#root")
    stack = [root]
    for closing, raw_name, raw_text in _TAG.findall(text[start:]):
        name = raw_name.upper()
        if closing:
            # Close the aggregate (and any unclosed SGML leaves inside it); a closing tag for a
            # leaf that was never pushed (OFX 2.x </TRNAMT>) is simply ignored.
            if any(n.name == name for n in stack[1:]):
                while stack[-1].name != name:
                    stack.pop()
                stack.pop()
            continue
        value = html.unescape(raw_text.strip())
        node = _Node(name, value)
        stack[-1].children.append(node)
        if not value:
            stack.append(node)
    return root


def _date(value: str) -> date:
    m = _DATE.match(value.strip())
    if not m:
        raise ValueError(f"date {value!r} is not an OFX date (YYYYMMDD...)")
    return date(int(m[1]), int(m[2]), int(m[3]))


def _optional_date(value: str) -> date | None:
    try:
        return _date(value) if value else None
    except ValueError:
        return None


def _amount(raw: str, currency: str) -> Decimal:
    # Some banks write OFX amounts with a decimal comma.
    separator = "," if "," in raw and "." not in raw else "."
    return parse_signed_amount(raw, currency, decimal_separator=separator)


def parse_ofx(content: bytes, *, currency: str) -> ParsedStatement:
    """Read every bank or credit-card statement in the file (normally one)."""
    root = _tree(_decode(content))
    statements = root.find_all("STMTRS") + root.find_all("CCSTMTRS")
    if not statements:
        raise StatementRejected("the OFX file holds no bank statement (STMTRS)")
    parsed = ParsedStatement(format="ofx")
    row = 0
    for st in statements:
        try:
            cur = money.normalize_currency(st.value("CURDEF") or currency)
        except money.UnknownCurrency as exc:
            raise StatementRejected(f"statement currency: {exc}") from exc
        parsed.currency = parsed.currency or cur
        parsed.account_id = parsed.account_id or st.value("ACCTID")
        tranlist = st.find("BANKTRANLIST")
        if tranlist is not None:
            start, end = _optional_date(tranlist.value("DTSTART")), _optional_date(tranlist.value("DTEND"))
            parsed.period_start = min(filter(None, [parsed.period_start, start]), default=None)
            parsed.period_end = max(filter(None, [parsed.period_end, end]), default=None)
        balance = st.find("LEDGERBAL")
        if balance is not None and balance.value("BALAMT"):
            try:
                parsed.closing_balance = _amount(balance.value("BALAMT"), cur)
            except money.InvalidAmount:
                parsed.errors.append(
                    RowError(0, f"ledger balance {balance.value('BALAMT')!r} is not an amount")
                )
        for trn in (tranlist or st).find_all("STMTTRN"):
            row += 1
            try:
                line_cur = money.normalize_currency(
                    trn.value("CURRENCY", "CURSYM") or trn.value("ORIGCURRENCY", "CURSYM") or cur
                )
                raw_amount = trn.value("TRNAMT")
                if not raw_amount:
                    raise ValueError("TRNAMT is missing")
                amount = _amount(raw_amount, line_cur)
                posted = _date(trn.value("DTPOSTED") or trn.value("DTUSER"))
            except (ValueError, money.InvalidAmount, money.UnknownCurrency) as exc:
                fitid = trn.value("FITID")
                parsed.errors.append(RowError(row, f"transaction {fitid or row}: {exc}"))
                continue
            name = trn.value("NAME") or trn.value("PAYEE", "NAME")
            memo = trn.value("MEMO")
            parsed.lines.append(
                ParsedLine(
                    row=row,
                    date=posted,
                    amount=amount,
                    currency=line_cur,
                    description=" / ".join(p for p in (name, memo) if p)[:500],
                    reference=(trn.value("REFNUM") or trn.value("CHECKNUM"))[:140],
                    counterparty=name[:200],
                    bank_reference=trn.value("FITID")[:140],
                    value_date=_optional_date(trn.value("DTAVAIL")),
                )
            )
    return parsed
