"""A small validator of JSON payloads against an OData EDMX (v3 CSDL or v4), for contract tests.

Loads entity types, complex types, enums and entity sets from a vendor's ``$metadata`` and checks
that a JSON object uses only the type's properties, with the right JSON type, enum member, string
length (``MaxLength``), nested (deep-insert) navigation content and, when ``writing``, no property
the metadata marks ``Writable="false"`` (SAP Business One's read-only marks). Used by the Business
Central (API v2.0) and SAP Business One Service Layer (v1: OData v3, v2: OData v4) contract tests.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from tests.contract import SPECS_DIR

__all__ = ["Edmx", "load"]

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")
INTEGER = {"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"}
NUMBER = {"Edm.Decimal", "Edm.Double", "Edm.Single"}


def _decode(name: str) -> str:
    """An XML-encoded member name (``G_x002F_L_x0020_Account``) as it appears in JSON."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m[1], 16)), name)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class Prop:
    """A property: its type (without ``Collection()``), whether it is a collection, and facets."""

    type: str
    collection: bool
    nullable: bool = True
    max_length: int | None = None
    writable: bool = True


@dataclass
class TypeDef:
    """An entity or complex type's properties and navigation properties."""

    name: str
    props: dict[str, Prop] = field(default_factory=dict)
    navs: dict[str, Prop] = field(default_factory=dict)
    base: str = ""


def _type_of(text: str) -> tuple[str, bool]:
    m = re.fullmatch(r"Collection\((.+)\)", text)
    inner = m[1] if m else text
    return (inner if inner.startswith("Edm.") else inner.rsplit(".", 1)[-1]), bool(m)


class Edmx:
    """The types of one metadata document (names without their namespace)."""

    def __init__(self, path: Path) -> None:
        """Read the types, enums and entity sets of a metadata file."""
        root = ET.parse(path).getroot()
        self.types: dict[str, TypeDef] = {}
        self.enums: dict[str, set[str]] = {}
        self.sets: dict[str, str] = {}
        associations: dict[str, dict[str, tuple[str, bool]]] = {}
        for node in root.iter():
            tag = _local(node.tag)
            if tag in ("EntityType", "ComplexType"):
                self._read_type(node)
            elif tag == "EnumType":
                self.enums[node.get("Name", "")] = {
                    _decode(m.get("Name", "")) for m in node if _local(m.tag) == "Member"
                }
            elif tag == "EntitySet":
                self.sets[node.get("Name", "")] = _type_of(node.get("EntityType", ""))[0]
            elif tag == "Association":
                ends = {e.get("Role", ""): (_type_of(e.get("Type", ""))[0], e.get("Multiplicity") == "*")
                        for e in node if _local(e.tag) == "End"}  # fmt: skip
                associations[node.get("Name", "")] = ends
        for typedef in self.types.values():  # v3: a navigation's type comes from its association
            for nav in typedef.navs.values():
                if nav.type.startswith("assoc:"):
                    _, relation, role = nav.type.split(":", 2)
                    end = associations.get(relation.rsplit(".", 1)[-1], {}).get(role)
                    nav.type, nav.collection = end if end else ("", False)

    def _read_type(self, node: ET.Element) -> None:
        """One entity or complex type with its properties and navigation properties."""
        typedef = TypeDef(
            node.get("Name", ""), base=_type_of(node.get("BaseType", ""))[0] if node.get("BaseType") else ""
        )
        for child in node:
            tag = _local(child.tag)
            if tag == "Property":
                kind, many = _type_of(child.get("Type", ""))
                length = child.get("MaxLength")
                typedef.props[child.get("Name", "")] = Prop(kind, many, child.get("Nullable") != "false",
                                                           int(length) if length and length.isdigit() else None,
                                                           child.get("Writable") != "false")  # fmt: skip
            elif tag == "NavigationProperty":
                if child.get("Type"):
                    kind, many = _type_of(child.get("Type", ""))
                else:
                    kind, many = f"assoc:{child.get('Relationship')}:{child.get('ToRole')}", False
                typedef.navs[child.get("Name", "")] = Prop(kind, many)
        self.types[typedef.name] = typedef

    def _all(self, name: str) -> TypeDef:
        """A type with the properties of its base types."""
        typedef = self.types[name]
        if not typedef.base:
            return typedef
        base = self._all(typedef.base)
        return TypeDef(name, {**base.props, **typedef.props}, {**base.navs, **typedef.navs})

    def type_of_set(self, name: str) -> str:
        """The entity type of an entity set."""
        return self.sets[name]

    def nav_type(self, type_name: str, nav: str) -> str:
        """The type a navigation property leads to."""
        return self._all(type_name).navs[nav].type

    def validate(self, type_name: str, payload: Any, *, writing: bool, where: str = "") -> list[str]:
        """What in ``payload`` the metadata does not allow (empty: it conforms)."""
        where = where or type_name
        if not isinstance(payload, dict):
            return [f"{where}: expected an object, got {type(payload).__name__}"]
        typedef = self._all(type_name)
        problems: list[str] = []
        for key, value in payload.items():
            if key.startswith("@") or "@odata." in key:
                continue
            path = f"{where}.{key}"
            if key in typedef.props:
                prop = typedef.props[key]
                if writing and not prop.writable:
                    problems.append(f"{path}: read-only in the metadata")
                problems += self._value(prop, value, writing, path)
            elif key in typedef.navs:
                nav = typedef.navs[key]
                items = value if isinstance(value, list) else [value]
                for n, item in enumerate(items):
                    if nav.type in self.types:
                        problems += self.validate(nav.type, item, writing=writing, where=f"{path}[{n}]")
            else:
                problems.append(f"{path}: no such property of {type_name}")
        return problems

    def _value(self, prop: Prop, value: Any, writing: bool, path: str) -> list[str]:
        """What is wrong with one property value (empty: nothing)."""
        if value is None:
            return [] if prop.nullable else [f"{path}: may not be null"]
        if prop.collection:
            if not isinstance(value, list):
                return [f"{path}: expected a list"]
            single = Prop(prop.type, False, prop.nullable, prop.max_length, prop.writable)
            return [
                p for n, item in enumerate(value) for p in self._value(single, item, writing, f"{path}[{n}]")
            ]
        kind = prop.type
        if kind == "Edm.String":
            if not isinstance(value, str):
                return [f"{path}: expected a string"]
            if prop.max_length is not None and len(value) > prop.max_length:
                return [f"{path}: longer than {prop.max_length}"]
        elif kind in NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                return [f"{path}: expected a number"]
        elif kind in INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                return [f"{path}: expected an integer"]
        elif kind == "Edm.Boolean":
            if not isinstance(value, bool):
                return [f"{path}: expected true or false"]
        elif kind == "Edm.Guid":
            if not (isinstance(value, str) and GUID.match(value)):
                return [f"{path}: expected a GUID"]
        elif kind in ("Edm.Date", "Edm.DateTime", "Edm.DateTimeOffset"):
            if not (isinstance(value, str) and DAY.match(value)):
                return [f"{path}: expected a date"]
        elif kind in self.enums:
            if value not in self.enums[kind]:
                return [f"{path}: {value!r} is not a member of {kind}"]
        elif kind in self.types:
            return self.validate(kind, value, writing=writing, where=path)
        return []


@cache
def load(relative: str) -> Edmx:
    """The metadata at ``shared/specs/<relative>`` (``$SHARED_SPECS_DIR``; parsed once per process)."""
    return Edmx(SPECS_DIR / relative)
