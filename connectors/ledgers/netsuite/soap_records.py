"""SuiteTalk SOAP messages from the WSDL in ``shared/specs/netsuite``: the zeep client, the XSD
schema, and records converted between the transport-neutral normal form (what REST sends and
:mod:`.target` reads: references ``{"id": ..}``, sublists as lists of rows) and SOAP's typed
records (``RecordRef`` with ``internalId``, ``itemList/item``, ``applyList/apply`` ...).

Both the SOAP target and the sandbox's SOAP front end use these functions, and the contract test
validates what they produce against the XSDs.
"""

from __future__ import annotations

import glob
import os
import re
import threading
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "NS",
    "RECORD_TYPES",
    "SPEC_DIR",
    "from_soap",
    "list_row",
    "soap_list_record",
    "to_soap",
    "wsdl_client",
    "xsd_schema",
]

#: The WSDL and XSDs: ``$NETSUITE_SPEC_DIR``, else ``$SHARED_SPECS_DIR/netsuite``, else
#: ``shared/specs/netsuite`` beside the repository.
SPEC_DIR = Path(
    os.environ.get("NETSUITE_SPEC_DIR")
    or Path(os.environ.get("SHARED_SPECS_DIR") or Path(__file__).resolve().parents[3].parent / "shared/specs")
    / "netsuite"
)
VERSION = "2023_2"
NS = {
    "core": f"urn:core_{VERSION}.platform.webservices.netsuite.com",
    "common": f"urn:common_{VERSION}.platform.webservices.netsuite.com",
    "messages": f"urn:messages_{VERSION}.platform.webservices.netsuite.com",
    "sales": f"urn:sales_{VERSION}.transactions.webservices.netsuite.com",
    "customers": f"urn:customers_{VERSION}.transactions.webservices.netsuite.com",
    "bank": f"urn:bank_{VERSION}.transactions.webservices.netsuite.com",
    "general": f"urn:general_{VERSION}.transactions.webservices.netsuite.com",
    "relationships": f"urn:relationships_{VERSION}.lists.webservices.netsuite.com",
    "accounting": f"urn:accounting_{VERSION}.lists.webservices.netsuite.com",
}
BINDING = f"{{urn:platform_{VERSION}.webservices.netsuite.com}}NetSuiteBinding"

#: record type -> (namespace, type, {sublist: (list element, row element)})
RECORD_TYPES: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "cashSale": ("sales", "CashSale", {"item": ("itemList", "item"), "taxDetails": ("taxDetailsList", "taxDetails")}),
    "invoice": ("sales", "Invoice", {"item": ("itemList", "item"), "taxDetails": ("taxDetailsList", "taxDetails")}),
    "salesOrder": ("sales", "SalesOrder", {"item": ("itemList", "item"), "taxDetails": ("taxDetailsList", "taxDetails")}),
    "creditMemo": ("customers", "CreditMemo", {"item": ("itemList", "item"), "taxDetails": ("taxDetailsList", "taxDetails"),
                                              "apply": ("applyList", "apply")}),
    "customerPayment": ("customers", "CustomerPayment", {"apply": ("applyList", "apply")}),
    "customerRefund": ("customers", "CustomerRefund", {"apply": ("applyList", "apply")}),
    "deposit": ("bank", "Deposit", {"other": ("otherList", "depositOther"), "cashBack": ("cashBackList", "depositCashBack")}),
    "journalEntry": ("general", "JournalEntry", {"line": ("lineList", "line")}),
    "customer": ("relationships", "Customer", {}),
    "nonInventorySaleItem": ("accounting", "NonInventorySaleItem", {}),
}  # fmt: skip
_TYPE_OF = {(NS[ns], name): rtype for rtype, (ns, name, _) in RECORD_TYPES.items()}
#: Fields that leave SOAP as dateTime and come back as dates.
_DATES = {"tranDate", "dueDate", "startDate", "endDate"}
#: SOAP account types <-> the names SuiteQL shows.
ACCOUNT_TYPES = {
    "_bank": "Bank", "_accountsReceivable": "AcctRec", "_otherCurrentAsset": "OthCurrAsset", "_fixedAsset": "FixedAsset",
    "_otherAsset": "OthAsset", "_unbilledReceivable": "UnbilledRec", "_deferredExpense": "DeferExpense",
    "_accountsPayable": "AcctPay", "_creditCard": "CredCard", "_otherCurrentLiability": "OthCurrLiab",
    "_longTermLiability": "LongTermLiab", "_deferredRevenue": "DeferRevenue", "_equity": "Equity", "_income": "Income",
    "_otherIncome": "OthIncome", "_costOfGoodsSold": "COGS", "_expense": "Expense", "_otherExpense": "OthExpense",
    "_nonPosting": "NonPosting", "_statistical": "Stat",
}  # fmt: skip

#: A sales order's status: REST's letter (``{"id": "B"}``) <-> SOAP's enumeration.
ORDER_STATUS = {"A": "_pendingApproval", "B": "_pendingFulfillment", "C": "_cancelled", "D": "_partiallyFulfilled",
                "E": "_pendingBillingPartFulfilled", "F": "_pendingBilling", "G": "_fullyBilled", "H": "_closed"}  # fmt: skip
_ORDER_LETTER = {v: k for k, v in ORDER_STATUS.items()}

_lock = threading.Lock()
_client: Any = None
_schema: Any = None


def wsdl_client() -> Any:
    """The zeep client of NetSuite's WSDL (loaded once per process: it takes a couple of seconds)."""
    global _client
    with _lock:
        if _client is None:
            from zeep import Client, Settings

            _client = Client(
                str(SPEC_DIR / "netsuite.wsdl"), settings=Settings(strict=False, xml_huge_tree=True)
            )
        return _client


def xsd_schema() -> Any:
    """An lxml schema of every NetSuite XSD (for validating messages; loaded once per process)."""
    global _schema
    with _lock:
        if _schema is None:
            from lxml import etree

            imports = []
            for path in sorted(glob.glob(str(SPEC_DIR / "xsd" / "*.xsd"))):
                with open(path, encoding="utf-8") as handle:
                    found = re.search(r'targetNamespace="([^"]+)"', handle.read(4000))
                if found:
                    imports.append(
                        f'<xsd:import namespace="{found[1]}" schemaLocation="{Path(path).as_uri()}"/>'
                    )
            wrapper = ('<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:integrator-wrapper">'
                       + "".join(imports) + "</xsd:schema>")  # fmt: skip
            _schema = etree.XMLSchema(etree.fromstring(wrapper.encode()))
        return _schema


def service(address: str) -> Any:
    """The NetSuite port's service proxy at ``address`` (messages are built and read with it)."""
    return wsdl_client().create_service(BINDING, address)


def soap_type(namespace: str, name: str) -> Any:
    """A WSDL type by namespace key and name."""
    return wsdl_client().get_type(f"{{{NS[namespace]}}}{name}")


def _soap_value(name: str, value: Any) -> Any:
    if name == "orderStatus":
        letter = value.get("id") if isinstance(value, Mapping) else getattr(value, "id", value)
        return ORDER_STATUS.get(str(letter), str(letter))
    if isinstance(value, Mapping) and set(value) == {"id"}:
        return {"internalId": str(value["id"])}
    if hasattr(value, "id") and type(value).__name__ == "Ref":
        return {"internalId": str(value.id)}
    if name in _DATES and isinstance(value, date | str):
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        return datetime(day.year, day.month, day.day)
    if name == "rate" and isinstance(value, Decimal):
        return format(value, "f")  # SOAP's item rate is a string
    return value


def to_soap(record_type: str, external_id: str, fields: Mapping[str, Any],
            sublists: Mapping[str, Any], *, internal_id: str = "") -> Any:  # fmt: skip
    """The typed SOAP record of a record in normal form (sublists replace the stored ones)."""
    namespace, name, lists = RECORD_TYPES[record_type]
    kwargs: dict[str, Any] = {k: _soap_value(k, v) for k, v in fields.items() if k != "id"}
    if record_type == "nonInventorySaleItem" and "subsidiary" in kwargs:
        # REST's multi-select ``subsidiary`` is SOAP's ``subsidiaryList`` of references.
        kwargs["subsidiaryList"] = {"recordRef": [kwargs.pop("subsidiary")]}
    for sublist, rows in sublists.items():
        list_name, row_name = lists[sublist]
        out_rows = []
        for row in rows:
            converted = {k: _soap_value(k, v) for k, v in row.items()}
            if sublist == "apply":
                converted["doc"] = int(converted["doc"]["internalId"])
            out_rows.append(converted)
        kwargs[list_name] = {row_name: out_rows, "replaceAll": True}
    if external_id:
        kwargs["externalId"] = external_id
    if internal_id:
        kwargs["internalId"] = internal_id
    return soap_type(namespace, name)(**kwargs)


def _plain(value: Any, name: str = "") -> Any:
    """A serialised zeep value in normal form."""
    if isinstance(value, Mapping):
        if "internalId" in value and ("type" in value or "name" in value or len(value) <= 4):
            return {"id": str(value["internalId"])}
        return {k: _plain(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, float):
        return Decimal(repr(value))
    if name == "rate" and isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return Decimal(value)
    return value


def from_soap(record: Any) -> tuple[str, dict[str, Any]]:
    """``(record type, normal form)`` of a typed SOAP record (``id`` and ``externalId`` kept)."""
    from zeep.helpers import serialize_object

    qname = record._xsd_type.qname
    record_type = _TYPE_OF.get(
        (qname.namespace, qname.localname), qname.localname[:1].lower() + qname.localname[1:]
    )
    raw = serialize_object(record, dict)
    lists = RECORD_TYPES.get(record_type, ("", "", {}))[2]
    by_list = {list_name: (sublist, row_name) for sublist, (list_name, row_name) in lists.items()}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if key in by_list:
            sublist, row_name = by_list[key]
            rows = []
            for row in value.get(row_name) or []:
                plain = _plain(row)
                if sublist == "apply" and "doc" in plain:
                    plain["doc"] = {"id": str(plain["doc"])}
                rows.append(plain)
            out[sublist] = rows
        elif key == "internalId":
            out["id"] = str(value)
        elif key == "orderStatus":
            out[key] = {"id": _ORDER_LETTER.get(str(value), str(value))}
        elif key == "subsidiaryList":
            refs = value.get("recordRef") or []
            if refs:
                out["subsidiary"] = {"id": str(refs[0].get("internalId"))}
        else:
            out[key] = _plain(value, key)
    return record_type, out


def list_row(table: str, record: Any) -> dict[str, Any]:
    """A list record from ``search`` / ``getAll`` as the SuiteQL row :mod:`.target` reads."""
    _, rec = from_soap(record)
    rid = str(rec.get("id") or "")

    def ref(name: str) -> str:
        value = rec.get(name)
        return str(value.get("id") or "") if isinstance(value, Mapping) else ""

    if table == "account":
        return {"id": rid, "acctnumber": rec.get("acctNumber", ""), "fullname": rec.get("acctName", ""),
                "accttype": ACCOUNT_TYPES.get(str(rec.get("acctType")), str(rec.get("acctType"))),
                "isinactive": bool(rec.get("isInactive"))}  # fmt: skip
    if table == "currency":
        return {"id": rid, "symbol": rec.get("symbol", ""), "name": rec.get("name", "")}
    if table == "subsidiary":
        return {"id": rid, "name": rec.get("name", ""), "currency": ref("currency")}
    if table == "salestaxitem":
        return {"id": rid, "itemid": rec.get("itemId", ""), "description": rec.get("description", ""),
                "rate": rec.get("rate", ""), "isinactive": bool(rec.get("isInactive"))}  # fmt: skip
    if table == "accountingperiod":
        return {"id": rid, "periodname": rec.get("periodName", ""), "startdate": rec.get("startDate", ""),
                "enddate": rec.get("endDate", ""), "closed": bool(rec.get("closed")),
                "arlocked": bool(rec.get("arLocked")), "alllocked": bool(rec.get("allLocked"))}  # fmt: skip
    if table == "item":
        return {"id": rid, "itemid": rec.get("itemId", ""), "externalid": rec.get("externalId", ""),
                "incomeaccount": ref("incomeAccount")}  # fmt: skip
    record_type, _ = from_soap(record)
    return {
        "id": rid,
        "tranid": rec.get("tranId", ""),
        "externalid": rec.get("externalId", ""),
        "type": record_type,
    }


def soap_list_record(table: str, row: Mapping[str, Any]) -> Any:
    """The typed SOAP record of a SuiteQL-style row (the sandbox answers ``search`` with these)."""
    back = {v: k for k, v in ACCOUNT_TYPES.items()}
    rid = str(row["id"])
    if table == "account":
        return soap_type("accounting", "Account")(internalId=rid, acctNumber=row["acctnumber"], acctName=row["fullname"],
                                                  acctType=back[row["accttype"]], isInactive=bool(row.get("isinactive")))  # fmt: skip
    if table == "currency":
        return soap_type("accounting", "Currency")(internalId=rid, symbol=row["symbol"], name=row["name"],
                                                   isBaseCurrency=bool(row.get("isbasecurrency")))  # fmt: skip
    if table == "subsidiary":
        return soap_type("accounting", "Subsidiary")(
            internalId=rid, name=row["name"], currency={"internalId": row["currency"]}
        )
    if table == "salestaxitem":
        return soap_type("accounting", "SalesTaxItem")(internalId=rid, itemId=row["itemid"], description=row["description"],
                                                       rate=str(row["rate"]), isInactive=bool(row.get("isinactive")))  # fmt: skip
    if table == "accountingperiod":
        return soap_type("accounting", "AccountingPeriod")(
            internalId=rid, periodName=row["periodname"], startDate=_soap_value("startDate", row["startdate"]),
            endDate=_soap_value("endDate", row["enddate"]), closed=bool(row["closed"]), arLocked=bool(row["arlocked"]),
            allLocked=bool(row["alllocked"]))  # fmt: skip
    raise ValueError(f"no SOAP list record for {table}")
