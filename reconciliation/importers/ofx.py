"""OFX bank statements: OFX 1.x (SGML, leaf elements left unclosed) and OFX 2.x (XML), read by ofxtools.

ofxtools' tree builder turns both syntaxes into one element tree (an SGML leaf like
``<TRNAMT>-12.50`` needs no closing tag). It is a tag tokenizer, not an XML parser: a DOCTYPE,
an entity declaration or an external reference is never processed, so nothing is expanded or
fetched. The values are then read here rather than through ofxtools' typed models, so that one bad
transaction is reported as that row's error (exact Decimal amounts, our currency rules) instead of
failing the whole file. Each ``STMTTRN`` becomes a line: ``DTPOSTED`` (the bank's date),
``TRNAMT`` (signed), ``FITID`` (the bank's id, used to skip duplicates), ``NAME``/``PAYEE``,
``MEMO`` and ``REFNUM``/``CHECKNUM``.

The file is read incrementally, so a statement of a million transactions never sits in memory:

1. a first pass over the bytes decides the encoding (the header's charset, else UTF-8 when every
   byte is UTF-8, else cp1252) and collects the names of every element closed anywhere in the file,
   which the repairs below need;
2. the second pass decodes the text and feeds it to the tree builder in pieces cut just before a
   ``<STMTTRN>`` (never inside a CDATA section); each transaction is read and taken out of the tree
   as soon as its ``</STMTTRN>`` is fed, so only the statement's own elements stay.

A transaction is read at once only where the whole-file reading would find it in the same place:
inside the first ``BANKTRANLIST`` of its statement once the statement's ``CURDEF`` is known. Any
other (a statement that states its currency after its transactions, transactions outside a
``BANKTRANLIST``) stays in the tree and is read at the end exactly as before. Rows are numbered in
file order. The file must still end with every element closed: a file cut short is refused after
the last piece, and the import that streamed its lines rolls back.
"""

from __future__ import annotations

import codecs
import html
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import IO

from ofxtools.Parser import ParseError, TreeBuilder

from integrator import money
from reconciliation.importers.base import (
    CHUNK_BYTES,
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementItem,
    StatementRejected,
    collect,
    decoded_chunks,
    parse_signed_amount,
)

__all__ = ["iter_ofx", "parse_ofx"]

_OPEN = re.compile(r"<([A-Za-z0-9_.]+)>([^<]*)")
_CLOSE = re.compile(r"</([A-Za-z0-9_.]+)>")
_NAME = re.compile(r"(</?)([A-Za-z0-9_.]+)>")
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})")
_CLOSE_BYTES = re.compile(rb"</([A-Za-z0-9_.]+)>")
_PARTIAL_CLOSE_BYTES = re.compile(rb"<(/[A-Za-z0-9_.]*)?")
_OFX_START = re.compile(r"<OFX>", re.IGNORECASE)
_TRANSACTION_START = re.compile(r"<STMTTRN>", re.IGNORECASE)
_POSITION = re.compile(r"position=\[(\d+):(\d+)\]$")
_STATEMENTS = ("STMTRS", "CCSTMTRS")
PIECE_CHARS = 64 * 1024  # about 500 transactions


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


class _StreamingTreeBuilder(_StrictTreeBuilder):
    """The strict builder fed piece by piece: it remembers where each element sits, the first
    ``BANKTRANLIST`` of each statement, and the transactions closed since they were last taken."""

    def __init__(self) -> None:
        super().__init__()
        self.path: list[ET.Element] = []
        self.first_tranlist: dict[ET.Element, ET.Element] = {}
        self.closed_transactions: list[tuple[ET.Element, list[ET.Element], bool]] = []
        self.open_transactions = 0
        self.nested = False  # a transaction inside another: the file is read at the end
        self.fed = 0  # characters fed so far (error positions count from <OFX>, as before)

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        """Open an element, noting a statement's first transaction list."""
        element = super().start(tag, attrs)
        if tag == "BANKTRANLIST":
            statement = _nearest_statement(self.path)
            if statement is not None:
                self.first_tranlist.setdefault(statement, element)
        elif tag == "STMTTRN":
            self.nested = self.nested or self.open_transactions > 0
            self.open_transactions += 1
        self.path.append(element)
        return element

    def end(self, tag: str) -> ET.Element:
        """Close an element; a closed transaction is kept with its ancestors until taken."""
        element = super().end(tag)
        self.path.pop()
        if tag == "STMTTRN":
            self.open_transactions -= 1
            self.closed_transactions.append((element, list(self.path), self.open_transactions > 0))
        return element

    def feed_piece(self, data: str) -> None:
        """ofxtools' ``TreeBuilder.feed`` for one piece of the text, error positions counted from
        ``<OFX>`` (not from the piece) and without a log line per piece."""
        for match in self.regex.finditer(data):
            try:
                groups = match.groupdict()
                tail = self._groomstring(groups["tail"])
                if tail:
                    raise ParseError(f"Tail text '{tail}' in {match.group(0)}")
                text = groups["cdata"] or self._groomstring(groups["text"])
                self._feedmatch(groups["tag"], text, groups["closetag"])
            except ParseError as err:
                start, end = self.fed + match.start(), self.fed + match.end()
                raise ParseError(f"{err.args[0]} - position=[{start}:{end}]") from err
        self.fed += len(data)


def _nearest_statement(path: list[ET.Element]) -> ET.Element | None:
    """The innermost bank or credit-card statement among ``path`` (outermost first)."""
    return next((e for e in reversed(path) if e.tag in _STATEMENTS), None)


def _survey(stream: IO[bytes]) -> tuple[str, frozenset[str]]:
    """First pass: the text encoding, and the (upper-case) names of every element closed anywhere.

    OFX 1.x declares its charset in the header (often cp1252); 2.x is UTF-8. A file that declares
    nothing is UTF-8 when all of it decodes as UTF-8, else cp1252 (as a whole-file decode did).
    """
    first = stream.read(CHUNK_BYTES)
    head = first[:600].upper()
    declared_cp1252 = b"CHARSET:1252" in head or b"ENCODING:USASCII" in head
    utf8 = None if declared_cp1252 else codecs.getincrementaldecoder("utf-8")("strict")
    closed: set[str] = set()
    carry = b""
    chunk = first[3:] if first.startswith(codecs.BOM_UTF8) else first
    while True:
        if utf8 is not None:
            try:
                utf8.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                utf8 = None
        data = carry + chunk
        closed.update(name.decode("ascii").upper() for name in _CLOSE_BYTES.findall(data))
        carry = data[data.rfind(b"<") :] if b"<" in data else b""
        if b">" in carry or not _PARTIAL_CLOSE_BYTES.fullmatch(carry):
            carry = b""
        if not chunk:
            break
        chunk = stream.read(CHUNK_BYTES)
    return ("cp1252" if utf8 is None else "utf-8-sig"), frozenset(closed)


def _normalise(body: str, closed: frozenset[str]) -> str:
    """The minimal repairs that ofxtools' tree builder needs on real bank files.

    * Tag names are upper-cased (ofxtools only knows upper-case tags; some banks write ``<stmttrn>``).
    * An empty SGML leaf (``<MEMO>`` with no value) that is never closed anywhere in the file
      (``closed``, from the whole file) is dropped: ofxtools would take it for an aggregate, and the
      next closing tag would close it instead of its own aggregate (a file this parser refuses as
      mis-nested). ``<OFX>`` itself is kept, so a file cut short before ``</OFX>`` is refused as such.

    A piece of the text is repaired as the whole text would be, as long as it starts at a ``<``.
    """
    body = _NAME.sub(lambda m: m[1] + m[2].upper() + ">", body)

    def drop_empty_unclosed(m: re.Match[str]) -> str:
        if m[2].strip() or m[1] in closed or m[1] == "OFX":  # <OFX> is never a leaf
            return m[0]
        return m[2]

    return _OPEN.sub(drop_empty_unclosed, body)


def _split_point(text: str, end: int) -> int:
    """Where ``text`` may be cut before ``end`` (0: nowhere): before the last ``<STMTTRN>`` that no
    CDATA section on the same line precedes (ofxtools reads a CDATA value up to the line's last
    ``]]>``)."""
    starts = [m.start() for m in _TRANSACTION_START.finditer(text, 0, end)]
    for start in reversed(starts):
        if start and "<![CDATA[" not in text[text.rfind("\n", 0, start) + 1 : start]:
            return start
    return 0


def _pieces(chunks: Iterator[str]) -> Iterator[str]:
    """The text from the first ``<OFX>`` on, in pieces that each start with ``<``."""
    buffer = ""
    for text in chunks:
        buffer += text
        found = _OFX_START.search(buffer)
        if found:
            buffer = buffer[found.start() :]
            break
        buffer = buffer[-4:]
    else:
        raise StatementRejected("not an OFX file: no <OFX> element")
    for text in chunks:
        buffer += text
        while len(buffer) > PIECE_CHARS:  # small pieces: their transactions are in the tree at once
            cut = _split_point(buffer, PIECE_CHARS) or _split_point(buffer, len(buffer))
            if not cut:
                break
            yield buffer[:cut]
            buffer = buffer[cut:]
    yield buffer


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


def _statement_currency(st: _Node, currency: str) -> str:
    """The statement's ``CURDEF``, else the account's currency."""
    try:
        return money.normalize_currency(st.value("CURDEF") or currency)
    except money.UnknownCurrency as exc:
        raise StatementRejected(f"statement currency: {exc}") from exc


def _transaction(trn: ET.Element, row: int, cur: str) -> StatementItem:
    """One ``STMTTRN`` as a line, or the row's error. Each value is the first element of that name
    at any depth (as ``_Node.value`` finds it), looked up in one walk of the transaction."""
    first: dict[str, ET.Element] = {}
    for element in trn.iter():
        if element is not trn:
            first.setdefault(element.tag, element)

    def value(name: str, inner: str = "") -> str:
        element = first.get(name)
        if element is None:
            return ""
        if inner:
            return _Node(element).value(inner)
        return html.unescape((element.text or "").strip())

    try:
        line_cur = money.normalize_currency(
            value("CURRENCY", "CURSYM") or value("ORIGCURRENCY", "CURSYM") or cur
        )
        raw_amount = value("TRNAMT")
        if not raw_amount:
            raise ValueError("TRNAMT is missing")
        amount = _amount(raw_amount, line_cur)
        posted = _date(value("DTPOSTED") or value("DTUSER"))
    except (ValueError, money.InvalidAmount, money.UnknownCurrency) as exc:
        fitid = value("FITID")
        return RowError(row, f"transaction {fitid or row}: {exc}")
    name = value("NAME") or value("PAYEE", "NAME")
    memo = value("MEMO")
    return ParsedLine(
        row=row,
        date=posted,
        amount=amount,
        currency=line_cur,
        description=" / ".join(p for p in (name, memo) if p)[:500],
        reference=(value("REFNUM") or value("CHECKNUM"))[:140],
        counterparty=name[:200],
        bank_reference=value("FITID")[:140],
        value_date=_optional_date(value("DTAVAIL")),
    )


class _Reader:
    """Turns the transactions the builder closed into lines, and the finished tree into the
    statement's facts (and any transaction left in it)."""

    def __init__(self, builder: _StreamingTreeBuilder, currency: str, header: ParsedStatement) -> None:
        self.builder = builder
        self.currency = currency
        self.header = header
        self.row = 0
        self.currencies: dict[ET.Element, str] = {}
        self.deferred: set[ET.Element] = set()

    def take_closed(self) -> Iterator[StatementItem]:
        """Read (and take out of the tree) each transaction closed since the last call, where the
        whole-file reading would read it; leave the others for :meth:`finish`."""
        closed, self.builder.closed_transactions = self.builder.closed_transactions, []
        for trn, ancestors, inside_another in closed:
            if inside_another:
                continue  # nested in another transaction: read with it, in document order
            st = _nearest_statement(ancestors)
            if st is None:  # outside any bank statement: never read
                ancestors[-1].remove(trn)
                continue
            first = self.builder.first_tranlist.get(st)
            if first is None or st in self.deferred or self.builder.nested:
                self.deferred.add(st)  # read at the end, where the whole statement is known
                continue
            if not any(a is first for a in ancestors):  # only the first transaction list is read
                ancestors[-1].remove(trn)
                continue
            cur = self.currencies.get(st)
            if cur is None:
                node = _Node(st)
                try:
                    cur = _statement_currency(node, self.currency) if node.value("CURDEF") else None
                except StatementRejected:
                    cur = None  # refused at the end, unless the file is refused for its nesting first
                if cur is None:
                    self.deferred.add(st)
                    continue
                self.currencies[st] = cur
                self.header.currency = self.header.currency or cur
                self.header.account_id = self.header.account_id or node.value("ACCTID")
            self.row += 1
            yield _transaction(trn, self.row, cur)
            ancestors[-1].remove(trn)

    def finish(self, root: ET.Element) -> Iterator[StatementItem]:
        """The statements' facts from the finished tree, and the transactions still in it."""
        if not isinstance(root, ET.Element) or root.tag != "OFX":
            raise StatementRejected("the OFX file cannot be read: its elements do not nest under <OFX>")
        node = _Node(root)
        statements = node.find_all("STMTRS") + node.find_all("CCSTMTRS")
        if not statements:
            raise StatementRejected("the OFX file holds no bank statement (STMTRS)")
        parsed = self.header
        for st in statements:
            cur = _statement_currency(st, self.currency)
            parsed.currency = parsed.currency or cur
            parsed.account_id = parsed.account_id or st.value("ACCTID")
            tranlist = st.find("BANKTRANLIST")
            if tranlist is not None:
                start, end = (
                    _optional_date(tranlist.value("DTSTART")),
                    _optional_date(tranlist.value("DTEND")),
                )
                parsed.period_start = min(filter(None, [parsed.period_start, start]), default=None)
                parsed.period_end = max(filter(None, [parsed.period_end, end]), default=None)
            balance = st.find("LEDGERBAL")
            if balance is not None and balance.value("BALAMT"):
                try:
                    parsed.closing_balance = _amount(balance.value("BALAMT"), cur)
                except money.InvalidAmount:
                    yield RowError(0, f"ledger balance {balance.value('BALAMT')!r} is not an amount")
            for trn in (tranlist or st).find_all("STMTTRN"):
                self.row += 1
                yield _transaction(trn.element, self.row, cur)


def iter_ofx(
    stream: IO[bytes], *, currency: str, header: ParsedStatement | None = None
) -> Iterator[StatementItem]:
    """Read every bank or credit-card statement of a seekable binary file (normally one).

    Yields each transaction as a line or a row error as it is read; ``header`` receives the
    account, currency, period and closing balance (the balance once the file has been read).
    Raises :class:`StatementRejected` for a file that is not OFX, is mis-nested or is cut short,
    possibly after lines were yielded: a caller storing lines must undo them.
    """
    header = header if header is not None else ParsedStatement(format="ofx")
    start = stream.tell()
    encoding, closed = _survey(stream)
    stream.seek(start)
    chunks = decoded_chunks(stream, encoding, errors="replace" if encoding == "cp1252" else "strict")
    builder = _StreamingTreeBuilder()
    reader = _Reader(builder, currency, header)
    try:
        for piece in _pieces(chunks):
            builder.feed_piece(_normalise(piece, closed))
            yield from reader.take_closed()
        root = builder.close()
    except (ParseError, ET.ParseError) as exc:
        raise StatementRejected(f"the OFX file cannot be read: {exc}") from exc
    yield from reader.finish(root)


def parse_ofx(content: bytes, *, currency: str) -> ParsedStatement:
    """Read a whole OFX file (every statement in it, normally one); header errors come first."""
    parsed = ParsedStatement(format="ofx")
    collect(parsed, iter_ofx(io.BytesIO(content), currency=currency, header=parsed))
    parsed.errors.sort(key=lambda e: e.row == 0, reverse=True)
    return parsed
