"""Contract-test helpers: validate JSON against the vendors' published specs in ../shared/specs.

``openapi_validator("stripe/spec3.yaml", "charge")`` returns a JSON-Schema validator for one
component schema of an OpenAPI 3.0 document (with ``nullable`` translated, ``x-*`` and examples
ignored). Specs are read from ``../shared/specs`` beside the repository (or ``$SHARED_SPECS_DIR``)
and cached per process; they are never copied into the repository.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = Path(os.environ.get("SHARED_SPECS_DIR", ROOT.parent / "shared" / "specs"))

__all__ = ["SPECS_DIR", "load_spec", "openapi_validator", "spec_path", "validate_openapi"]


def spec_path(relative: str) -> Path:
    """Path of a spec file; skips the test when shared/specs is not beside the repository."""
    path = SPECS_DIR / relative
    if not path.exists():
        pytest.skip(f"vendor spec {relative} not available at {SPECS_DIR}")
    return path


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _NoTimestampLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that keeps ISO timestamps as strings (the specs' examples contain them)."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@lru_cache(maxsize=8)
def load_spec(relative: str) -> dict[str, Any]:
    """Load a YAML or JSON spec once per process."""
    path = spec_path(relative)
    with path.open("rb") as fh:
        if path.suffix in (".yaml", ".yml"):
            return yaml.load(fh, Loader=_NoTimestampLoader)
        return json.load(fh)


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: nullable -> type union, drop vendor extensions/examples."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key.startswith("x-") or key in ("example", "examples", "discriminator", "xml"):
                continue
            out[key] = _to_json_schema(value)
        if out.pop("nullable", False):
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
            if "type" in out:
                out["type"] = (
                    [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
                )
            elif "anyOf" in out:
                out["anyOf"] = [*out["anyOf"], {"type": "null"}]
            elif "$ref" in out:
                out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
            elif "allOf" in out:
                out = {"anyOf": [{"allOf": out.pop("allOf")}, {"type": "null"}], **out}
        return out
    if isinstance(node, list):
        return [_to_json_schema(v) for v in node]
    return node


@lru_cache(maxsize=8)
def _converted(relative: str) -> dict[str, Any]:
    return _to_json_schema(load_spec(relative))  # type: ignore[no-any-return]


def openapi_validator(relative: str, schema_name: str) -> Any:
    """A Draft 2020-12 validator for ``#/components/schemas/<schema_name>`` of a spec."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    document = _converted(relative)
    if schema_name not in document.get("components", {}).get("schemas", {}):
        raise KeyError(f"{relative} has no schema {schema_name!r}")
    uri = f"urn:spec:{relative}"
    registry = Registry().with_resource(uri, Resource(contents=document, specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{uri}#/components/schemas/{schema_name}"}, registry=registry)


def validate_openapi(relative: str, schema_name: str, instance: Any) -> None:
    """Assert that ``instance`` conforms to the named schema; the failure lists every violation."""
    validator = openapi_validator(relative, schema_name)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"- {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors[:20]
        ]
        raise AssertionError(f"{schema_name} violates {relative}:\n" + "\n".join(lines))
