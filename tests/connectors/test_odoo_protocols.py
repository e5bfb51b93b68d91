"""Odoo's three protocols behind one call: chosen by the server's version, forceable, exact.

Given sandboxes of Odoo 17, 18 and 19 (and recorded answers in tests/fixtures/odoo), the
connector speaks XML-RPC before 19 and JSON-2 from it unless told otherwise, keeps every amount
exact both ways, reads a "cannot marshal None" fault as the success it is, refuses XML entity
tricks, and classifies every protocol's errors the same way.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from defusedxml import EntitiesForbidden

from connectors.base import AuthExpired, ClosedPeriod, Permanent, Retryable
from connectors.ledgers.odoo import DuplicateSequence, classify_fault
from connectors.ledgers.odoo.errors import is_marshal_none
from connectors.ledgers.odoo.xmlrpc import XmlRpcFault, dump_call, load_response
from tests.connectors.odoo_support import odoo_sandbox, sale_doc, target_for

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "odoo"


@pytest.mark.parametrize(("version", "expected"), [(17, "xmlrpc"), (18, "xmlrpc"), (19, "json2")])
def test_the_protocol_follows_the_servers_version(version: int, expected: str) -> None:
    with odoo_sandbox(version) as odoo:
        target = target_for(odoo)
        target.post(sale_doc("#P1"))
        assert target.rpc.version() == (version, 0) and target.rpc.protocol == expected
        assert {protocol for protocol, _, _ in odoo.calls} == {expected}
        assert odoo.records("account.move", [("ref", "=", "#P1")])[0]["payment_state"] == "paid"


@pytest.mark.parametrize(
    ("version", "protocol"), [(17, "jsonrpc"), (19, "xmlrpc"), (19, "jsonrpc"), (18, "jsonrpc")]
)
def test_a_forced_protocol_is_used(version: int, protocol: str) -> None:
    with odoo_sandbox(version) as odoo:
        target = target_for(odoo, protocol)
        target.post(sale_doc("#P2"))
        assert {p for p, _, _ in odoo.calls} == {protocol}
        field = "ref" if version < 18 else "memo"
        assert odoo.records("account.payment")[0][field] == "#P2/1"


def test_json2_forced_on_a_server_without_it_fails_the_connection_test_in_words() -> None:
    with odoo_sandbox(17) as odoo:
        check = target_for(odoo, "json2").test_connection()
        assert not check.ok and "refused" in check.message


@pytest.mark.parametrize("protocol", ["xmlrpc", "jsonrpc", "json2"])
def test_a_wrong_api_key_is_auth_expired_on_every_protocol(protocol: str) -> None:
    with odoo_sandbox(19) as odoo:
        target = target_for(odoo, protocol)
        target.rpc._key = "not-the-key"
        with pytest.raises(AuthExpired):
            target.fetch_accounts()


@pytest.mark.parametrize("version", [17, 19])
def test_amounts_stay_exact_both_ways(version: int) -> None:
    with odoo_sandbox(version) as odoo:
        target = target_for(odoo)
        doc = sale_doc("#P3", (("1234567.89", 1), ("0.10", 3)))
        result = target.post(doc)
        sent = [r.body for r in odoo.requests if b"1234567.89" in r.body]
        invoice = target.rpc.call(
            "account.move", "read", ids=[int(result.remote_id)], fields=["amount_total"]
        )[0]
    assert sent and (b"<double>1234567.89</double>" in sent[0] or b"1234567.89," in sent[0])
    assert invoice["amount_total"] == Decimal("1481481.83")  # (1,234,567.89 + 0.30) x 1.2, to the penny


def test_a_method_returning_none_answers_a_fault_over_xmlrpc_that_is_read_as_success() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        partner = target.rpc.call("res.partner", "create", {"name": "Ama", "ref": "id:1"})
        journal = target.facts().money_journal(target.facts().account_id("1100"))
        payment = target.rpc.call("account.payment", "create", {"payment_type": "inbound", "partner_type": "customer",
                                                                "partner_id": partner, "amount": Decimal("5.00"),
                                                                "journal_id": journal, "date": "2026-11-20"})  # fmt: skip
        raw = requests.post(odoo.url + "/xmlrpc/2/object", timeout=5, data=dump_call(
            "execute_kw", [odoo.db, 2, odoo.api_key, "account.payment", "read", [[payment], ["state"]], {}]))  # fmt: skip
        assert load_response(raw.content)[0]["state"] == "draft"
        assert target.rpc.call("account.payment", "action_post", ids=[payment]) is None
        assert odoo.records("account.payment")[0]["state"] == "posted"


def test_recorded_xmlrpc_answers_are_read_and_classified() -> None:
    rows = load_response((FIXTURES / "xmlrpc_search_read.xml").read_bytes())
    assert rows[0]["amount_total"] == Decimal("1234567.89") and rows[0]["partner_id"] == [7, "Ama Mensah"]
    assert rows[0]["invoice_date_due"] is False
    expected = {"xmlrpc_fault_lock_date.xml": ClosedPeriod, "xmlrpc_fault_traceback.xml": Retryable}
    for name, kind in expected.items():
        with pytest.raises(XmlRpcFault) as caught:
            load_response((FIXTURES / name).read_bytes())
        assert type(classify_fault("", caught.value.string)) is kind
    with pytest.raises(XmlRpcFault) as none:
        load_response((FIXTURES / "xmlrpc_fault_marshal_none.xml").read_bytes())
    assert is_marshal_none(none.value.string)


def test_recorded_json_errors_are_classified() -> None:
    jsonrpc = json.loads((FIXTURES / "jsonrpc_error_access_denied.json").read_text())["error"]["data"]
    assert type(classify_fault(jsonrpc["name"], jsonrpc["message"])) is AuthExpired
    json2 = json.loads((FIXTURES / "json2_error_validation.json").read_text())
    assert type(classify_fault(json2["name"], json2["message"], status=422)) is DuplicateSequence
    info = json.loads((FIXTURES / "version_info_19.json").read_text())["result"]
    assert info["server_version_info"][:2] == [19, 0]


def test_xml_entity_expansion_is_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<methodResponse><params><param><value><string>&b;</string></value></param></params></methodResponse>")  # fmt: skip
    with pytest.raises(EntitiesForbidden):
        load_response(bomb)


def test_an_unknown_protocol_is_refused() -> None:
    with odoo_sandbox(17) as odoo, pytest.raises(Permanent):
        target_for(odoo, "soap")
