"""Prysm POS: its own platform on the generic signed JSON schema (extended additively for tills),
and Z report files read through the django-import-export resource, row by row."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import tablib
from jsonschema import Draft202012Validator

from connectors import base
from connectors.base import MalformedPayload, SourceConfig, sales_source_class
from connectors.sandbox.prysm import PrysmTill
from connectors.sources.generic import SCHEMA_PATH, GenericSource
from connectors.sources.prysm import Z_REPORT_EVENT, PrysmSource
from connectors.sources.prysm.z_report import ZReportMapping, parse_z_report, report_documents, report_key
from integrator.canonical import CashCount, Refund, Sale
from integrator.services.chart import load_dataset
from integrator.services.transactions import expected_total, validate_document

D = Decimal
AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _source(**settings: Any) -> PrysmSource:
    return PrysmSource(SourceConfig(channel_slug="dakar-till", currency="XOF", timezone="Africa/Dakar",
                                    webhook_secrets=("s",), settings=settings))  # fmt: skip


def _sale(**extra: Any) -> dict[str, Any]:
    data = {
        "id": "T-1", "number": "T0001", "occurred_at": "2026-11-20T09:00:00+00:00", "currency": "XOF",
        "prices_include_tax": True, "total": "21500",
        "lines": [{"sku": "WAX-6", "name": "Pagne", "category": "textiles", "quantity": 1, "unit_price": "15500",
                   "taxes": [{"title": "TVA 18%", "rate": "0.18", "amount": "2364"}]},
                  {"sku": "BOL", "name": "Bol", "category": "homeware", "quantity": 2, "unit_price": "3000",
                   "taxes": [{"title": "TVA 18%", "rate": "0.18", "amount": "915"}]}],
        "tenders": [{"method": "orange_money", "amount": "10000"}, {"method": "cash", "amount": "11500"}],
    }  # fmt: skip
    data.update(extra)
    return data


# -- the platform --------------------------------------------------------------------------------


def test_prysm_is_its_own_platform_built_on_the_generic_source() -> None:
    assert sales_source_class("prysm") is PrysmSource
    assert issubclass(PrysmSource, GenericSource)
    assert sales_source_class("generic") is GenericSource
    assert base._MODULE_ALIASES == {}
    assert "file_import" in PrysmSource.capabilities


def test_the_schema_is_valid_json_schema_and_accepts_an_old_event_unchanged() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    old = {"id": "evt-1", "type": "sale.completed", "created_at": "2026-11-20T09:00:00Z", "data": _sale()}
    [sale] = GenericSource(SourceConfig(channel_slug="g", currency="XOF")).parse_event(old["type"], old)
    assert isinstance(sale, Sale)
    # Nothing an older sender writes changes meaning: no till names, no change, completed.
    assert (sale.location, sale.register, sale.status) == ("", "", "completed")
    assert [(t.method, t.amount, t.change) for t in sale.tenders] == [
        ("orange_money", D(10000), D(0)),
        ("cash", D(11500), D(0)),
    ]


def test_till_fields_change_and_voids() -> None:
    data = _sale(location="Dakar Plateau", register="Caisse 2",
                 tenders=[{"method": "orange_money", "amount": "10000"}, {"method": "cash", "amount": "11500", "change": "3500"}])  # fmt: skip
    [sale] = _source().parse_event(
        "sale.completed", {"id": "e", "type": "sale.completed", "created_at": "x" * 10, "data": data}
    )
    assert (sale.location, sale.register) == ("Dakar Plateau", "Caisse 2")
    assert sale.tenders[1].change == D(3500) and sale.tenders[1].amount == D(11500)
    assert validate_document(sale) == [] and expected_total(sale) == sale.total
    [voided] = _source().parse_event(
        "sale.voided", {"data": {**data, "updated_at": "2026-11-20T09:05:00+00:00"}}
    )
    assert (voided.external_id, voided.status) == ("T-1", "voided")
    [by_status] = _source().parse_event("sale.updated", {"data": {**data, "status": "voided"}})
    assert by_status.status == "voided"


def test_cash_count_event() -> None:
    event = {"data": {"id": "C-1", "number": "Z20261120", "occurred_at": "2026-11-20T19:00:00+00:00", "currency": "XOF",
                      "expected": "31500", "counted": "31000", "float_change": "-10000", "register": "Caisse 1"}}  # fmt: skip
    [count] = _source(location="Dakar Plateau").parse_event("cash_count.completed", event)
    assert isinstance(count, CashCount)
    # 500 short; 10,000 taken from the drawer to the safe; the shop named by the channel.
    assert (count.over_short, count.float_change, count.method) == (D(-500), D(-10000), "cash")
    # Tills number per till: the document is filed under its till.
    assert (count.location, count.register, count.number) == (
        "Dakar Plateau",
        "Caisse 1",
        "Caisse 1/Z20261120",
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"expected": "31500"},  # no counted
        {"expected": "31500", "counted": "31000.5"},  # francs have no decimals
        {"expected": "-1", "counted": "0"},
        {"expected": "1", "counted": "1", "drawer": "A"},  # unknown field
    ],
)
def test_malformed_cash_counts_are_refused(bad: dict[str, str]) -> None:
    event = {"data": {"id": "C-1", "occurred_at": "2026-11-20T19:00:00+00:00", "currency": "XOF", **bad}}
    with pytest.raises(MalformedPayload):
        _source().parse_event("cash_count.completed", event)


def test_the_channels_till_fills_in_only_what_is_missing() -> None:
    source = _source(location="Dakar Plateau", register="Caisse 1")
    [named] = source.parse_event("sale.completed", {"data": _sale(register="Caisse 2")})
    [unnamed] = source.parse_event("sale.completed", {"data": _sale()})
    assert (named.location, named.register) == ("Dakar Plateau", "Caisse 2")
    assert (unnamed.location, unnamed.register) == ("Dakar Plateau", "Caisse 1")


def test_test_connection_explains_there_is_no_api() -> None:
    ok = _source().test_connection()
    assert ok.ok and "/hooks/dakar-till/" in ok.message and ok.details["webhook_url"] == "/hooks/dakar-till/"
    no_secret = PrysmSource(SourceConfig(channel_slug="x", currency="XOF")).test_connection()
    assert not no_secret.ok and "webhook secret" in no_secret.message


# -- Z reports -------------------------------------------------------------------------------------


def _till_day() -> PrysmTill:
    till = PrysmTill(secret="s")
    till.open(D(20000))
    a = till.sell(AT, [("textiles", "WAX-6", "Pagne", 1, D(15500)), ("homeware", "BOL", "Bol", 2, D(3000))],
                  [("orange_money", D(10000)), ("cash", D(15000))])  # fmt: skip
    b = till.sell(AT.replace(hour=10), [("textiles", "WAX-6", "Pagne", 1, D(15500))], [("card", D(15500))])
    till.void(b, AT.replace(hour=11))
    till.refund(a, AT.replace(hour=12), 1, 1)
    till.count(AT.replace(hour=19), D(28000))
    return till


MAPPING = ZReportMapping.from_settings(PrysmTill.column_mapping())


def _parse(content: bytes, fmt: str = "csv", mapping: ZReportMapping = MAPPING) -> Any:
    return parse_z_report(load_dataset(content, fmt), mapping, currency="XOF", location="Dakar Plateau")


def test_the_tills_z_report_reads_the_same_from_csv_and_xlsx() -> None:
    till = _till_day()
    from_csv = _parse(till.z_report_csv(date(2026, 11, 20), "42"))
    from_xlsx = _parse(till.z_report_xlsx(date(2026, 11, 20), "42"), "xlsx")
    assert from_csv.errors == [] and from_xlsx.errors == []
    [report] = from_csv.reports
    assert report.as_json() == from_xlsx.reports[0].as_json()
    # By hand: the voided card sale is left out. Sales: wax 15,500 + bowls 2 x 3,000 = 21,500;
    # one bowl back: 3,000 refunded in cash. Tenders: Orange Money 10,000, cash 15,000 - 3,500
    # change = 11,500. Drawer: float 20,000 + 11,500 - 3,000 = 28,500 expected, 28,000 counted.
    assert (report.number, report.day, report.register, report.location) == (
        "42",
        date(2026, 11, 20),
        "Caisse 1",
        "Dakar Plateau",
    )
    assert [(s["category"], s["amount"], s["tax"], s["tax_name"]) for s in report.sales] == [
        ("homeware", "6000", "915", "TVA 18%"), ("textiles", "15500", "2364", "TVA 18%"),
    ]  # fmt: skip
    assert report.tenders == {"cash": D(11500), "orange_money": D(10000)}
    assert report.refund_tenders == {"cash": D(3000)} and report.refunds_total == D(3000)
    assert report.cash == {"opening_float": D(20000), "expected": D(28500), "counted": D(28000)}
    assert report_key(report) == "zreport:Caisse 1:2026-11-20:42"


def test_a_reports_documents() -> None:
    [report] = _parse(_till_day().z_report_csv(date(2026, 11, 20), "42")).reports
    sale, refund, count = report_documents(report.as_json(filename="z.csv"), timezone="Africa/Dakar")
    assert isinstance(sale, Sale) and isinstance(refund, Refund) and isinstance(count, CashCount)
    assert (sale.total, sale.prices_include_tax, sale.register, sale.location) == (
        D(21500),
        True,
        "Caisse 1",
        "Dakar Plateau",
    )
    assert [(ln.category, ln.unit_price, ln.tax_lines[0].amount) for ln in sale.lines] == [
        ("homeware", D(6000), D(915)), ("textiles", D(15500), D(2364)),
    ]  # fmt: skip
    assert [(t.method, t.amount) for t in sale.tenders] == [("cash", D(11500)), ("orange_money", D(10000))]
    assert validate_document(sale) == [] and expected_total(sale) == D(21500)
    assert refund.sale_external_id == sale.external_id and refund.total == D(3000)
    assert (count.expected, count.counted, count.over_short) == (D(28500), D(28000), D(-500))
    assert sale.occurred_at.date() == date(2026, 11, 20)  # the business day, on the till's clock


def test_a_day_with_no_sales_is_only_a_drawer_count() -> None:
    csv = "N° Z,Date,Caisse,Rubrique,Libellé,Taux TVA,TVA,Montant\n43,21/11/2026,Caisse 1,Caisse,Théorique,,,20 000\n43,21/11/2026,Caisse 1,Caisse,Compté,,,20 000\n"
    [report] = _parse(csv.encode()).reports
    docs = report_documents(report.as_json())
    assert [type(d) for d in docs] == [CashCount] and docs[0].over_short == D(0)


BAD_ROWS = """N° Z,Date,Caisse,Rubrique,Libellé,Taux TVA,TVA,Montant
42,20/11/2026,Caisse 1,Ventes,textiles,18,2 364,15 500
,20/11/2026,Caisse 1,Ventes,homeware,18,915,6 000
42,31/11/2026,Caisse 1,Ventes,homeware,18,915,6 000
42,20/11/2026,Caisse 1,Ventes,homeware,18,915,"6 000,5"
42,20/11/2026,Caisse 1,Divers,homeware,18,915,6 000
42,20/11/2026,Caisse 1,Ventes,homeware,18,9 915,6 000
42,20/11/2026,Caisse 1,Paiement,,,,6 000
42,20/11/2026,Caisse 1,Caisse,Tiroir,,,6 000
42,20/11/2026,Caisse 1,Ventes,homeware,118,915,abc
"""


def test_every_bad_row_is_reported_by_number_and_nothing_is_read() -> None:
    parsed = _parse(BAD_ROWS.encode())
    assert parsed.reports == [] and not parsed.ok
    by_row = {e.row: " ".join(e.messages) for e in parsed.errors}
    assert sorted(by_row) == [2, 3, 4, 5, 6, 7, 8, 9]  # row 1 (the first under the header) is fine
    assert "report number is missing" in by_row[2]
    assert "Date: '31/11/2026' is not a date like 20/11/2026" in by_row[3]
    assert "Montant: 6000.5 has more decimals than XOF allows" in by_row[4]
    assert "'Divers' is not a section" in by_row[5]
    assert "the tax 9915 is more than the amount 6000" in by_row[6]
    assert "needs the payment method" in by_row[7]
    assert "'Tiroir'" in by_row[8]
    assert (
        "'abc' is not a number" in by_row[9] and "118 is not a tax rate" in by_row[9]
    )  # two problems, one row
    assert all(e.line == e.row + 1 for e in parsed.errors)  # the header is line 1


def test_reports_that_do_not_add_up_are_refused_with_their_rows() -> None:
    csv = "\n".join([
        "N° Z,Date,Caisse,Rubrique,Libellé,Taux TVA,TVA,Montant",
        "42,20/11/2026,Caisse 1,Ventes,textiles,18,2 364,15 500",
        "42,20/11/2026,Caisse 1,Paiement,Espèces,,,15 000",
        "42,20/11/2026,Caisse 1,Caisse,Compté,,,20 000",
        "43,20/11/2026,Caisse 2,Retours,textiles,18,2 364,15 500",
    ])  # fmt: skip
    parsed = _parse(csv.encode())
    messages = [(e.row, " ".join(e.messages)) for e in parsed.errors]
    assert (
        3,
        "report 42 of 2026-11-20: the tenders add up to 15000 XOF but the sales and tips to 15500 XOF",
    ) in messages
    assert (3, "report 42 of 2026-11-20: the counted cash needs the expected cash beside it") in messages
    assert any(row == 4 and "refunds without sales" in m for row, m in messages)
    assert any(row == 4 and "refund tenders add up to 0" in m for row, m in messages)


def test_a_missing_column_and_a_broken_mapping_are_file_level_problems() -> None:
    csv = "N° Z,Date,Rubrique,Libellé\n42,20/11/2026,Ventes,textiles\n"
    [problem] = _parse(csv.encode()).errors
    assert problem.row == 0 and "the file has no column 'Montant' (the amount)" in problem.messages[0]
    broken = ZReportMapping(columns={"report_number": "A", "date": "A", "section": "C"})
    [mapping_problem] = _parse(csv.encode(), mapping=broken).errors
    assert "no column is given for amount" in mapping_problem.messages[0]
    assert "one column is mapped to two fields" in mapping_problem.messages[0]
    assert _parse(b"N\xc2\xb0 Z,Date,Caisse,Rubrique,Libell\xc3\xa9,Taux TVA,TVA,Montant\n").errors[
        0
    ].messages == ("the file has no rows",)


def test_a_stored_report_of_the_wrong_shape_or_an_event_not_an_object_is_malformed() -> None:
    """Issue 14 (poison property): a Z report whose tenders are not an object, or a ticket event
    that is not a JSON object, is a MalformedPayload with a reason, not a raw AttributeError."""
    [report] = _parse(_till_day().z_report_csv(date(2026, 11, 20), "42")).reports
    broken = copy.deepcopy(report.as_json())
    broken["tenders"] = ["cash"]
    with pytest.raises(MalformedPayload, match="cannot be read"):
        _source().parse_event(Z_REPORT_EVENT, broken)
    with pytest.raises(MalformedPayload, match="not a JSON object"):
        _source().parse_event("sale.completed", "a string")  # type: ignore[arg-type]


def test_default_mapping_reads_our_own_field_names_with_a_decimal_point() -> None:
    data = tablib.Dataset(headers=["report_number", "date", "section", "name", "tax_rate", "tax", "amount"])
    data.append(["7", "2026-11-20", "sale", "textiles", "20%", "2.00", "12.00"])
    data.append(["7", "2026-11-20", "tender", "Credit Card", "", "", 12.0])  # a spreadsheet number
    parsed = parse_z_report(data, ZReportMapping(), currency="GBP", register="Till 1")
    assert parsed.errors == []
    [report] = parsed.reports
    assert report.sales[0]["tax_rate"] == "0.2" and report.sales[0]["tax_name"] == "Tax 20%"
    assert report.tenders == {"card": D("12.00")} and report.register == "Till 1"


def test_a_stored_report_that_is_not_one_is_quarantined() -> None:
    with pytest.raises(MalformedPayload):
        _source().parse_event(Z_REPORT_EVENT, {"kind": "something"})
    [report] = _parse(_till_day().z_report_csv(date(2026, 11, 20), "42")).reports
    broken = copy.deepcopy(report.as_json())
    broken["tenders"]["cash"] = "11500.5"
    with pytest.raises(MalformedPayload):
        _source().parse_event(Z_REPORT_EVENT, broken)
