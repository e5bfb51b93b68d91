"""OFX bank statements: OFX 1.x (SGML, leaf elements left unclosed) and OFX 2.x (XML), read by ofxtools.

ofxtools' tree builder turns both syntaxes into one element tree (an SGML leaf like
``<TRNAMT>-12.50`` needs no closing tag). It is a tag tokenizer, not an XML parser: a DOCTYPE,
an entity declaration or an external reference is never processed, so nothing is expanded or
fetched. The values are then read here rather than through ofxtools' typed models, so that one bad
transaction is reported as that row's error (exact Decimal amounts, our currency rules) instead of
failing the whole file. Each ``STMTTRN`` becomes a line: ``DTPOSTED`` (the bank's date),
``TRNAMT`` (signed), ``FITID`` (the bank's id, used to skip duplicates), ``NAME``/``PAYEE``,
``MEMO`` and ``REFNUM``/``CHECKNUM``.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

from ofxtools.Parser import ParseError, TreeBuilder

from integrator import money
from reconciliation.importers.base import (
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementRejected,
    parse_signed_amount,
)

__all__ = ["parse_ofx"]

_OPEN = re.compile(r"<([A-Za-z0-9_.]+)>([^<]*)")
_CLOSE = re.compile(r"</([A-Za-z0-9_.]+)>")
_NAME = re.compile(r"(</?)([A-Za-z0-9_.]+)>")
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})")


class _Node:
    """Look-ups on an ofxtools element (tag names are upper case after normalising)."""

    def __init__(self, element: ET.Element) -> None:
        self.element = element

    def find(self, *path: str) -> _Node | None:
        """The first descendant along ``path`` (each step searched at any depth)."""
        element: ET.Element | None = self.element
        for name in path:
            element = element.find(f".//{name}") if element is not None else None
        return _Node(element) if element is not None else None

    def find_all(self, name: str) -> list[_Node]:
        """Every descendant with this name, in document order."""
        return [_Node(e) for e in self.element.iter(name) if e is not self.element]

    def value(self, *path: str) -> str:
        """The text of a descendant leaf, entity references of HTML/XML decoded, or ''."""
        node = self.find(*path)
        return html.unescape((node.element.text or "").strip()) if node else ""


class _StrictTreeBuilder(TreeBuilder):
    """ofxtools' tree builder, refusing a closing tag that does not close the open element (the C
    ``TreeBuilder`` underneath would silently close whatever is open and mis-nest the rest) and a
    file that ends with aggregates still open (a truncated download)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        """Open an element (ofxtools closes a leaf again at once)."""
        self.open.append(tag)
        element: ET.Element = super().start(tag, attrs)
        return element

    def end(self, tag: str) -> ET.Element:
        """Close the innermost open element, which must be ``tag``."""
        if not self.open:
            raise ParseError(f"</{tag}> closes nothing: every element is closed already")
        if self.open[-1] != tag:
            raise ParseError(f"</{tag}> closes <{self.open[-1]}>, which is still open")
        self.open.pop()
        element: ET.Element = super().end(tag)
        return element

    def close(self) -> ET.Element:
        """The root, once every element is closed."""
        if self.open:
            raise ParseError(f"the file ends inside <{self.open[-1]}> (is it cut short?)")
        root: ET.Element = super().close()
        return root


def _decode(content: bytes) -> str:
    """OFX 1.x declares its charset in the header (often cp1252); 2.x is UTF-8."""
    head = content[:600].upper()
    if b"CHARSET:1252" in head or b"ENCODING:USASCII" in head:
        return content.decode("cp1252", errors="replace")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def _normalise(body: str) -> str:
    """The minimal repairs that ofxtools' tree builder needs on real bank files.

    * Tag names are upper-cased (ofxtools only knows upper-case tags; some banks write ``<stmttrn>``).
    * An empty SGML leaf (``<MEMO>`` with no value) that is never closed anywhere in the file is
      dropped: ofxtools would take it for an aggregate, and the next closing tag would close it
      instead of its own aggregate (a file this parser refuses as mis-nested). ``<OFX>`` itself is
      kept, so a file cut short before ``</OFX>`` is refused as such.
    """
    body = _NAME.sub(lambda m: m[1] + m[2].upper() + ">", body)
    closed = set(_CLOSE.findall(body))

    def drop_empty_unclosed(m: re.Match[str]) -> str:
        if m[2].strip() or m[1] in closed or m[1] == "OFX":  # <OFX> is never a leaf
            return m[0]
        return m[2]

    return _OPEN.sub(drop_empty_unclosed, body)


def _tree(content: bytes) -> _Node:
    """Build the element tree from the first <OFX> on (the SGML header or XML prolog is skipped)."""
    text = _decode(content)
    start = text.upper().find("<OFX>")
    if start < 0:
        raise StatementRejected("not an OFX file: no <OFX> element")
    builder = _StrictTreeBuilder()
    try:
        builder.feed(_normalise(text[start:]))
        root = builder.close()
    except (ParseError, ET.ParseError) as exc:
        raise StatementRejected(f"the OFX file cannot be read: {exc}") from exc
    if not isinstance(root, ET.Element) or root.tag != "OFX":
        raise StatementRejected("the OFX file cannot be read: its elements do not nest under <OFX>")
    return _Node(root)


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
    """An exact Decimal; some banks write OFX amounts with a decimal comma (``-12,50``), so a lone
    comma is read as the decimal separator (here, not by repairing the text)."""
    separator = "," if "," in raw and "." not in raw else "."
    return parse_signed_amount(raw, currency, decimal_separator=separator)


def parse_ofx(content: bytes, *, currency: str) -> ParsedStatement:
    """Read every bank or credit-card statement in the file (normally one)."""
    root = _tree(content)
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
