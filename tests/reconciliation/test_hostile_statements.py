"""Hostile statement files (issue 14, item 7): the CAMT importer's DOCTYPE guard was a byte search,
bypassed by a UTF-16 file whose entity was then expanded. Parsing is now defusedxml's, which refuses
DTDs and entities whatever the encoding."""

from __future__ import annotations

import pytest

from reconciliation.importers import StatementRejected, parse_camt053
from tests.reconciliation.conftest import bank_file

ENTITY_DOC = (
    '<?xml version="1.0" encoding="{enc}"?>'
    '<!DOCTYPE Document [<!ENTITY big "AAAAAAAAAAAAAAAAAAAA"><!ENTITY x "&big;&big;&big;&big;">]>'
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>'
    "<Ntry><AddtlNtryInf>&x;</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>"
)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8"])
def test_an_entity_is_refused_in_every_encoding(encoding: str) -> None:
    declared = "UTF-16" if encoding.startswith("utf-16") else encoding.upper()
    content = ENTITY_DOC.format(enc=declared).encode(encoding)
    if encoding == "utf-16-le":
        content = b"\xff\xfe" + content
    elif encoding == "utf-16-be":
        content = b"\xfe\xff" + content
    with pytest.raises(StatementRejected, match="DOCTYPE or ENTITY"):
        parse_camt053(content)


def test_utf_32_is_refused_unread() -> None:
    with pytest.raises(StatementRejected):  # expat does not read UTF-32: refused, never expanded
        parse_camt053(ENTITY_DOC.format(enc="UTF-32").encode("utf-32"))


def test_an_external_entity_is_refused() -> None:
    doc = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<Document>&e;</Document>"
    ).encode("utf-16")
    with pytest.raises(StatementRejected, match="DOCTYPE or ENTITY"):
        parse_camt053(doc)


def test_a_real_statement_in_utf_16_still_reads() -> None:
    text = bank_file("camt053-deposit.xml").decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    parsed = parse_camt053(text.encode("utf-16"))
    same = parse_camt053(bank_file("camt053-deposit.xml"))
    assert parsed.lines and parsed.lines == same.lines and parsed.errors == same.errors
