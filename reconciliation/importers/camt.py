"""ISO 20022 CAMT.053 (bank-to-customer statement) in any version (.001.02 to .001.13).

Parsed with defusedxml, which refuses any document type declaration, entity or external reference
whatever the file's encoding (a byte-level guard was bypassed by a UTF-16 file whose entity was
then expanded: issue 14), and elements are found by local name so every schema version reads the
same. Each booked ``Ntry`` becomes a line:

* ``Amt`` with its ``Ccy`` attribute, signed by ``CdtDbtInd`` (CRDT = money in, DBIT = money out);
* ``BookgDt`` (``Dt`` or ``DtTm``) and ``ValDt``;
* ``AcctSvcrRef`` (the bank's id, used to skip duplicates), else ``NtryRef``;
* ``EndToEndId`` (when provided) as the reference, ``RmtInf/Ustrd`` or ``AddtlNtryInf`` as the
  description, and the debtor (for money in) or creditor (for money out) as the counterparty.

Pending (``PDNG``) and information-only entries are skipped with a note: they are not booked yet.

The document is read incrementally: each entry is read when its ``</Ntry>`` arrives and then taken
out of the tree, so a statement of a million entries never sits in memory. defusedxml's parser
reads the prolog (everything before the root element, the only place a DTD can be) and refuses a
DOCTYPE there, as it did for the whole file: with no DTD there is no entity to expand and no
external reference to fetch. The body is parsed by lxml's pull parser, which reports only the
elements read here (parsing with an event per element in Python was ten times slower), with
entities, DTD loading and network access off all the same. A document it finds malformed is
refused with expat's words for it (the parser these files were always read with).
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import IO, Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET
from defusedxml.ElementTree import DefusedXMLParser
from lxml import etree

from integrator import money
from reconciliation.importers.base import (
    CHUNK_BYTES,
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementItem,
    StatementRejected,
    collect,
    parse_signed_amount,
)

__all__ = ["iter_camt053", "parse_camt053"]

_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053"


_LOCAL_NAMES: dict[str, str] = {}


def _local(tag: str) -> str:
    """The name without its namespace (remembered: a document uses few names, a million times)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL_NAMES) < 1000:
            _LOCAL_NAMES[tag] = name
    return name


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _find(el: ET.Element | None, *path: str) -> ET.Element | None:
    """Follow direct children by local name."""
    for name in path:
        if el is None:
            return None
        found = _children(el, name)
        el = found[0] if found else None
    return el


def _text(el: ET.Element | None, *path: str) -> str:
    node = _find(el, *path)
    return (node.text or "").strip() if node is not None else ""


def _descendants(el: ET.Element, name: str) -> list[ET.Element]:
    return [d for d in el.iter() if _local(d.tag) == name]


def _date_of(el: ET.Element | None) -> date | None:
    """A CAMT date choice: ``Dt`` (YYYY-MM-DD) or ``DtTm`` (ISO date-time, the date part)."""
    raw = _text(el, "Dt") or _text(el, "DtTm")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise ValueError(f"date {raw!r} is not an ISO date") from None


def _party_name(parties: list[ET.Element]) -> str:
    """Name of the debtor or creditor, wherever the version puts it (Dbtr/Nm or Dbtr/Pty/Nm)."""
    for party in parties:
        names = _descendants(party, "Nm")
        if names and names[0].text:
            return names[0].text.strip()
    return ""


def _signed(amount_el: ET.Element | None, indicator: str, what: str) -> tuple[Decimal, str]:
    """A balance or entry amount signed by its credit/debit indicator, with its currency."""
    if amount_el is None or not (amount_el.text or "").strip():
        raise ValueError(f"{what}: Amt is missing")
    try:
        cur = money.normalize_currency(amount_el.get("Ccy", ""))
    except money.UnknownCurrency:
        raise ValueError(f"{what}: Amt has no valid Ccy attribute") from None
    value = parse_signed_amount(amount_el.text or "", cur)
    if value < 0:
        raise ValueError(f"{what}: Amt must be positive, the sign is CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise ValueError(f"{what}: CdtDbtInd {indicator!r} is neither CRDT nor DBIT")
    return (value if indicator == "CRDT" else -value), cur


class _RootReached(Exception):
    """The prolog has been read: the root element starts."""


class _PrologGuard:
    """Target of defusedxml's parser for the prolog: stops at the root element's start tag."""

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        """The root element: the prolog is over."""
        raise _RootReached

    def end(self, tag: str) -> None:
        """Never reached (the root's start stops the guard)."""

    def data(self, data: str) -> None:
        """Text of the prolog is of no interest."""

    def close(self) -> None:
        """Nothing is built."""


def _balance(bal: ET.Element, parsed: ParsedStatement) -> RowError | None:
    """An opening (OPBD/PRCD) or closing (CLBD, else CLAV) balance of a statement."""
    code = _text(bal, "Tp", "CdOrPrtry", "Cd")
    try:
        value, _ = _signed(_find(bal, "Amt"), _text(bal, "CdtDbtInd"), f"balance {code}")
    except (ValueError, money.InvalidAmount) as exc:
        return RowError(0, str(exc))
    if code in ("OPBD", "PRCD") and parsed.opening_balance is None:
        parsed.opening_balance = value
    elif code in ("CLBD", "CLAV") and (code == "CLBD" or parsed.closing_balance is None):
        parsed.closing_balance = value
    return None


def _period(period: ET.Element, parsed: ParsedStatement) -> Iterator[RowError]:
    """A statement's ``FrToDt``: the period widens to cover every statement of the document."""
    for tag, attr in (("FrDtTm", "period_start"), ("ToDtTm", "period_end")):
        raw = _text(period, tag)
        if raw:
            try:
                day = date.fromisoformat(raw[:10])
            except ValueError:
                yield RowError(0, f"{tag} {raw!r} is not an ISO date-time")
                continue
            current = getattr(parsed, attr)
            pick = min if attr == "period_start" else max
            setattr(parsed, attr, pick(current, day) if current else day)


_WATCHED = ("{*}Ntry", "{*}Bal", "{*}Acct", "{*}FrToDt")


class _NoTarget:
    """A parser target that builds nothing: the C parser then only checks well-formedness."""


def _expat_refusal(stream: IO[bytes], start: int) -> str:
    """What expat (the parser that always read these files) says is wrong with the document, or
    '' when it finds nothing: the refusal then quotes libxml2."""
    stream.seek(start)
    parser = ET.XMLParser(target=_NoTarget())  # noqa: S314 - only once defusedxml read the prolog
    try:
        while chunk := stream.read(CHUNK_BYTES):
            parser.feed(chunk)
        parser.close()
    except ET.ParseError as exc:
        return str(exc)
    return ""


class _Reader:
    """Reads the children of each ``Stmt`` of the first ``BkToCstmrStmt`` as they end (entries,
    balances, the account, the period) and takes each out of the tree once read."""

    def __init__(self, parsed: ParsedStatement) -> None:
        self.parsed = parsed
        self.root: Any = None
        self.message: Any = None
        self.refusal = ""  # the root is not CAMT.053: said once the whole document proved well-formed
        self.seen: dict[Any, set[str]] = {}  # per statement: Acct and FrToDt read (the first counts)
        self.row = 0
        self.yielded = 0

    def read(self, events: Iterable[Any]) -> Iterator[StatementItem]:
        """Handle a batch of end events of the watched elements."""
        for _event, element in events:
            if self.root is None:
                self._found_root(element.getroottree().getroot())
            if self.refusal:
                continue
            statement = element.getparent()
            if (
                statement is None
                or _local(statement.tag) != "Stmt"
                or statement.getparent() is not self._message()
            ):
                continue  # not part of the document's statements: never read
            for item in self._statement_child(statement, element):
                self.yielded += 1
                yield item
            statement.remove(element)

    def _found_root(self, root: Any) -> None:
        """Check the root element once."""
        self.root = root
        tag = root.tag
        namespace = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
        if _local(tag) != "Document" or not namespace.startswith(_NAMESPACE):
            self.refusal = (
                f"not a CAMT.053 document (root {_local(tag)!r} in {namespace or 'no namespace'!r})"
            )

    def _message(self) -> Any:
        """The root's first ``BkToCstmrStmt`` (the only one read)."""
        if self.message is None:
            self.message = _find(self.root, "BkToCstmrStmt")
        return self.message

    def _statement_child(self, statement: Any, child: Any) -> Iterator[StatementItem]:
        """Account, period, balance or entry of a statement."""
        name = _local(child.tag)
        parsed = self.parsed
        if name == "Ntry":
            self.row += 1
            yield _entry(child, self.row)
            return
        if name == "Bal":
            error = _balance(child, parsed)
            if error is not None:
                yield error
            return
        seen = self.seen.setdefault(statement, set())
        if name in seen:
            return
        seen.add(name)
        if name == "FrToDt":
            yield from _period(child, parsed)
        else:
            parsed.account_id = (
                parsed.account_id or _text(child, "Id", "IBAN") or _text(child, "Id", "Othr", "Id")
            )
            parsed.currency = parsed.currency or _text(child, "Ccy")

    def finish(self, root: Any) -> None:
        """Refuse a document that is not CAMT.053 or holds no statement."""
        if self.root is None:
            self._found_root(root)
        if self.refusal:
            raise StatementRejected(self.refusal)
        message = self._message()
        if message is None:
            raise StatementRejected("the CAMT.053 document has no BkToCstmrStmt")
        if not _children(message, "Stmt"):
            raise StatementRejected("the CAMT.053 document holds no statement (Stmt)")


class _ExpatReader:
    """The slow way, for the rare document lxml refuses and expat accepts (an odd namespace name):
    defusedxml's own parser with an event per element, each ``Stmt`` child read when it ends."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.path: list[ET.Element] = []

    def read(self, stream: IO[bytes]) -> Iterator[StatementItem]:
        """Parse the whole stream; yields what the fast reader would have."""
        events = DefusedET.iterparse(stream, events=("start", "end"), forbid_dtd=True)
        for event, element in events:
            if event == "start":
                if not self.path:
                    self.reader._found_root(element)
                self.path.append(element)
                continue
            self.path.pop()
            parent = self.path[-1] if self.path else None
            if parent is None or self.reader.refusal:
                continue
            if (
                _local(parent.tag) == "Stmt"
                and len(self.path) == 3
                and self.path[1] is self.reader._message()
            ):
                yield from self.reader._statement_child(parent, element)
                parent.remove(element)
        self.reader.finish(self.reader.root)


def iter_camt053(stream: IO[bytes], *, header: ParsedStatement | None = None) -> Iterator[StatementItem]:
    """Read every statement (``Stmt``) of a CAMT.053 document from a seekable binary file object.

    Yields each entry as a line, a row error, or a skipped row (pending); ``header`` receives the
    account, currency, period and balances as they are read. Raises :class:`StatementRejected`
    for a DTD, a document that is not well-formed (a file cut short) or not CAMT.053, possibly after
    lines were yielded: a caller storing lines must undo them.
    """
    parsed = header if header is not None else ParsedStatement(format="camt053")
    start = stream.tell()
    first = stream.read(CHUNK_BYTES)
    if not first:
        raise StatementRejected("the file is empty")
    guard: DefusedXMLParser | None = DefusedXMLParser(target=_PrologGuard(), forbid_dtd=True)
    body = etree.XMLPullParser(
        events=("end",),
        tag=_WATCHED,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
    )
    reader = _Reader(parsed)
    chunk = first
    try:
        while chunk:
            if guard is not None:
                try:
                    guard.feed(chunk)
                except _RootReached:
                    guard = None
            body.feed(chunk)
            yield from reader.read(body.read_events())
            chunk = stream.read(CHUNK_BYTES)
        if guard is not None:
            guard.close()  # no root element at all: the prolog parser says why
        root = body.close()
        yield from reader.read(body.read_events())
    except DefusedXmlException as exc:
        raise StatementRejected(f"refusing an XML file with a DOCTYPE or ENTITY declaration ({exc})") from exc
    except ET.ParseError as exc:
        raise StatementRejected(f"not well-formed XML: {exc}") from exc
    except etree.XMLSyntaxError as exc:
        given = reader.yielded
        if given:  # then defusedxml has read the prolog (no DTD): expat may check the rest
            expat_says = _expat_refusal(stream, start)
            if expat_says:
                raise StatementRejected(f"not well-formed XML: {expat_says}") from exc
        # only libxml2 refuses it (a namespace name it finds invalid): read it as expat always did,
        # the slow way, going on after what was given already
        slow = _ExpatReader(_Reader(_reset(parsed)))
        stream.seek(start)
        try:
            for n, item in enumerate(slow.read(stream)):
                if n >= given:
                    yield item
        except DefusedXmlException as refused:
            raise StatementRejected(
                f"refusing an XML file with a DOCTYPE or ENTITY declaration ({refused})"
            ) from exc
        except ET.ParseError as refused:
            raise StatementRejected(f"not well-formed XML: {refused}") from exc
        return
    reader.finish(root)


def _reset(parsed: ParsedStatement) -> ParsedStatement:
    """Forget what a reading that failed had found (the slow reading starts again)."""
    for name in ("account_id", "currency"):
        setattr(parsed, name, "")
    for name in ("period_start", "period_end", "opening_balance", "closing_balance"):
        setattr(parsed, name, None)
    return parsed


def parse_camt053(content: bytes) -> ParsedStatement:
    """Read every statement (``Stmt``) of a whole CAMT.053 document."""
    parsed = ParsedStatement(format="camt053")
    return collect(parsed, iter_camt053(io.BytesIO(content), header=parsed))


def _entry(entry: ET.Element, row: int) -> StatementItem:
    """One ``Ntry`` as a line, or a row error (a pending entry is a skipped row).

    Its direct children (the first of each name) and all its descendants by name are indexed in
    one walk: the same elements ``_find`` and ``_descendants`` would find, without a walk each."""
    child: dict[str, ET.Element] = {}
    for element in entry:
        child.setdefault(_local(element.tag), element)
    below: dict[str, list[ET.Element]] = {}
    for element in entry.iter():
        below.setdefault(_local(element.tag), []).append(element)
    ref = _text(child.get("NtryRef"))
    bank_ref = _text(child.get("AcctSvcrRef"))
    what = f"entry {bank_ref or ref or row}"
    status = _text(child.get("Sts")) or _text(child.get("Sts"), "Cd")
    if status and status != "BOOK":
        return RowError(row, f"{what}: status {status}, not booked yet", skipped=True)
    try:
        amount, cur = _signed(child.get("Amt"), _text(child.get("CdtDbtInd")), what)
        booked = _date_of(child.get("BookgDt"))
        if booked is None:
            raise ValueError(f"{what}: BookgDt is missing")
        value_date = _date_of(child.get("ValDt"))
    except (ValueError, money.InvalidAmount) as exc:
        return RowError(row, str(exc))
    end_to_end = next(
        (e.text.strip() for e in below.get("EndToEndId", []) if e.text and e.text.strip() != "NOTPROVIDED"),
        "",
    )
    remittance = [u.text.strip() for u in below.get("Ustrd", []) if u.text and u.text.strip()]
    description = (
        " ".join(remittance)
        or _text(child.get("AddtlNtryInf"))
        or " ".join(a.text.strip() for a in below.get("AddtlTxInf", []) if a.text)
    )
    if not bank_ref:
        tx_refs = [a.text.strip() for a in below.get("AcctSvcrRef", []) if a.text]
        bank_ref = tx_refs[0] if tx_refs else ""
    counterparty = _party_name(below.get("Dbtr" if amount > 0 else "Cdtr", []))
    return ParsedLine(
        row=row,
        date=booked,
        amount=amount,
        currency=cur,
        description=description[:500],
        reference=(end_to_end or ref)[:140],
        counterparty=counterparty[:200],
        bank_reference=bank_ref[:140],
        value_date=value_date,
    )
