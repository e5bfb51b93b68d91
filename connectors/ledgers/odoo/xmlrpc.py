"""XML-RPC bodies with exact amounts: Decimals out as ``<double>`` text, ``<double>`` back as Decimals.

The standard library's marshaller refuses a Decimal and reads ``<double>`` as a float (which loses
the penny), and its parser is not hardened against entity expansion; so the two small halves of the
XML-RPC wire format Odoo uses are written here, and answers are parsed with ``defusedxml``.
Used by the connector (:mod:`connectors.ledgers.odoo.rpc`) and by the Odoo sandbox.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element  # nosec B405 - only the type; parsing uses defusedxml
from xml.sax.saxutils import escape

from defusedxml.ElementTree import fromstring

__all__ = ["XmlRpcFault", "dump_call", "dump_fault", "dump_response", "load_call", "load_response"]


class XmlRpcFault(Exception):
    """A ``<fault>`` answer: Odoo puts the exception's text (often its traceback) in ``faultString``."""

    def __init__(self, code: Any, string: str) -> None:
        super().__init__(string)
        self.code = code
        self.string = string


def _value(value: Any) -> str:
    """The ``<value>`` element of a Python value (Decimals exact, None as ``<nil/>``)."""
    if value is None:
        return "<value><nil/></value>"
    if value is True or value is False:
        return f"<value><boolean>{int(value)}</boolean></value>"
    if isinstance(value, int):
        return f"<value><int>{value}</int></value>"
    if isinstance(value, Decimal):
        return f"<value><double>{format(value, 'f')}</double></value>"
    if isinstance(value, float):
        return f"<value><double>{value!r}</double></value>"
    if isinstance(value, str):
        return f"<value><string>{escape(value)}</string></value>"
    if isinstance(value, datetime | date):
        return f"<value><string>{value.isoformat()}</string></value>"
    if isinstance(value, bytes):
        return f"<value><base64>{base64.b64encode(value).decode()}</base64></value>"
    if isinstance(value, Mapping):
        members = "".join(
            f"<member><name>{escape(str(k))}</name>{_value(v)}</member>" for k, v in value.items()
        )
        return f"<value><struct>{members}</struct></value>"
    if isinstance(value, list | tuple):
        return f"<value><array><data>{''.join(_value(v) for v in value)}</data></array></value>"
    raise TypeError(f"cannot marshal {type(value).__name__} objects")


def dump_call(method: str, params: tuple[Any, ...] | list[Any]) -> bytes:
    """A ``<methodCall>`` body."""
    inner = "".join(f"<param>{_value(p)}</param>" for p in params)
    return (
        f"<?xml version='1.0'?>\n<methodCall><methodName>{escape(method)}</methodName>"
        f"<params>{inner}</params></methodCall>"
    ).encode()


def dump_response(value: Any) -> bytes:
    """A successful ``<methodResponse>`` body."""
    return f"<?xml version='1.0'?>\n<methodResponse><params><param>{_value(value)}</param></params></methodResponse>".encode()


def dump_fault(code: Any, string: str) -> bytes:
    """A ``<fault>`` answer."""
    return (
        f"<?xml version='1.0'?>\n<methodResponse><fault>{_value({'faultCode': code, 'faultString': string})}"
        "</fault></methodResponse>"
    ).encode()


def _parse(node: Element) -> Any:
    """The Python value of a ``<value>`` element."""
    children = list(node)
    if not children:
        return node.text or ""
    typed = children[0]
    tag, text = typed.tag, typed.text or ""
    if tag == "nil":
        return None
    if tag == "boolean":
        return text.strip() == "1"
    if tag in ("int", "i4", "i8"):
        return int(text)
    if tag == "double":
        return Decimal(text.strip())
    if tag == "string":
        return text
    if tag == "dateTime.iso8601":
        return text
    if tag == "base64":
        return base64.b64decode(text)
    if tag == "struct":
        out: dict[str, Any] = {}
        for member in typed.findall("member"):
            name = member.findtext("name") or ""
            value = member.find("value")
            out[name] = _parse(value) if value is not None else None
        return out
    if tag == "array":
        data = typed.find("data")
        return [_parse(v) for v in (data.findall("value") if data is not None else [])]
    raise ValueError(f"unknown XML-RPC type <{tag}>")


def load_response(body: bytes) -> Any:
    """The value of a ``<methodResponse>``; raises :class:`XmlRpcFault` for a ``<fault>``."""
    root = fromstring(body)
    fault = root.find("fault")
    if fault is not None:
        value = fault.find("value")
        detail = _parse(value) if value is not None else {}
        detail = detail if isinstance(detail, Mapping) else {}
        raise XmlRpcFault(detail.get("faultCode"), str(detail.get("faultString") or ""))
    value = root.find("params/param/value")
    if value is None:
        raise ValueError("XML-RPC answer without a value")
    return _parse(value)


def load_call(body: bytes) -> tuple[str, list[Any]]:
    """The method name and parameters of a ``<methodCall>`` (the sandbox's side)."""
    root = fromstring(body)
    params = [_parse(v) for v in root.findall("params/param/value")]
    return root.findtext("methodName") or "", params
