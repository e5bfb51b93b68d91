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
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET

from integrator import money
from reconciliation.importers.base import (
    ParsedLine,
    ParsedStatement,
    RowError,
    StatementRejected,
    parse_signed_amount,
)

__all__ = ["parse_camt053"]

_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


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


def _party_name(entry: ET.Element, role: str) -> str:
    """Name of the debtor or creditor, wherever the version puts it (Dbtr/Nm or Dbtr/Pty/Nm)."""
    for party in _descendants(entry, role):
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


def _parse_xml(content: bytes) -> ET.Element:
    """Parse the document with defusedxml: no DTD, no entity, no external reference, any encoding."""
    if len(content) == 0:
        raise StatementRejected("the file is empty")
    try:
        root: ET.Element = DefusedET.fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise StatementRejected(f"refusing an XML file with a DOCTYPE or ENTITY declaration ({exc})") from exc
    except ET.ParseError as exc:
        raise StatementRejected(f"not well-formed XML: {exc}") from exc
    return root


def _balances(stmt: ET.Element, parsed: ParsedStatement) -> None:
    """Opening (OPBD/PRCD) and closing (CLBD, else CLAV) balances of a statement."""
    for bal in _children(stmt, "Bal"):
        code = _text(bal, "Tp", "CdOrPrtry", "Cd")
        try:
            value, _ = _signed(_find(bal, "Amt"), _text(bal, "CdtDbtInd"), f"balance {code}")
        except (ValueError, money.InvalidAmount) as exc:
            parsed.errors.append(RowError(0, str(exc)))
            continue
        if code in ("OPBD", "PRCD") and parsed.opening_balance is None:
            parsed.opening_balance = value
        elif code in ("CLBD", "CLAV") and (code == "CLBD" or parsed.closing_balance is None):
            parsed.closing_balance = value


def parse_camt053(content: bytes) -> ParsedStatement:
    """Read every statement (``Stmt``) of a CAMT.053 document."""
    root = _parse_xml(content)
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if _local(root.tag) != "Document" or not namespace.startswith(_NAMESPACE):
        raise StatementRejected(
            f"not a CAMT.053 document (root {_local(root.tag)!r} in {namespace or 'no namespace'!r})"
        )
    message = _find(root, "BkToCstmrStmt")
    if message is None:
        raise StatementRejected("the CAMT.053 document has no BkToCstmrStmt")
    parsed = ParsedStatement(format="camt053")
    row = 0
    for stmt in _children(message, "Stmt"):
        account = _find(stmt, "Acct")
        parsed.account_id = (
            parsed.account_id or _text(account, "Id", "IBAN") or _text(account, "Id", "Othr", "Id")
        )
        parsed.currency = parsed.currency or _text(account, "Ccy")
        period = _find(stmt, "FrToDt")
        for tag, attr in (("FrDtTm", "period_start"), ("ToDtTm", "period_end")):
            raw = _text(period, tag)
            if raw:
                try:
                    day = date.fromisoformat(raw[:10])
                except ValueError:
                    parsed.errors.append(RowError(0, f"{tag} {raw!r} is not an ISO date-time"))
                    continue
                current = getattr(parsed, attr)
                pick = min if attr == "period_start" else max
                setattr(parsed, attr, pick(current, day) if current else day)
        _balances(stmt, parsed)
        for entry in _children(stmt, "Ntry"):
            row += 1
            line = _entry(entry, row, parsed)
            if line is not None:
                parsed.lines.append(line)
    if row == 0 and not _children(message, "Stmt"):
        raise StatementRejected("the CAMT.053 document holds no statement (Stmt)")
    return parsed


def _entry(entry: ET.Element, row: int, parsed: ParsedStatement) -> ParsedLine | None:
    """One ``Ntry`` as a line, or None (pending, or an error recorded on ``parsed``)."""
    ref = _text(entry, "NtryRef")
    bank_ref = _text(entry, "AcctSvcrRef")
    what = f"entry {bank_ref or ref or row}"
    status = _text(entry, "Sts") or _text(entry, "Sts", "Cd")
    if status and status != "BOOK":
        parsed.errors.append(RowError(row, f"{what}: status {status}, not booked yet", skipped=True))
        return None
    try:
        amount, cur = _signed(_find(entry, "Amt"), _text(entry, "CdtDbtInd"), what)
        booked = _date_of(_find(entry, "BookgDt"))
        if booked is None:
            raise ValueError(f"{what}: BookgDt is missing")
        value_date = _date_of(_find(entry, "ValDt"))
    except (ValueError, money.InvalidAmount) as exc:
        parsed.errors.append(RowError(row, str(exc)))
        return None
    end_to_end = next(
        (
            e.text.strip()
            for e in _descendants(entry, "EndToEndId")
            if e.text and e.text.strip() != "NOTPROVIDED"
        ),
        "",
    )
    remittance = [u.text.strip() for u in _descendants(entry, "Ustrd") if u.text and u.text.strip()]
    description = (
        " ".join(remittance)
        or _text(entry, "AddtlNtryInf")
        or " ".join(a.text.strip() for a in _descendants(entry, "AddtlTxInf") if a.text)
    )
    if not bank_ref:
        tx_refs = [a.text.strip() for a in _descendants(entry, "AcctSvcrRef") if a.text]
        bank_ref = tx_refs[0] if tx_refs else ""
    counterparty = _party_name(entry, "Dbtr" if amount > 0 else "Cdtr")
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
