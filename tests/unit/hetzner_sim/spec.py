"""Validate the simulator's answers against the Hetzner Cloud OpenAPI description.

``tests/reference/hcloud-openapi.json`` is OpenAPI 3.0 (``nullable``, lowercase ``4xx``/``5xx``
keys); each operation's response schema is turned into JSON Schema (``$ref`` inlined,
``nullable`` as a ``null`` type, the OpenAPI-only number formats dropped) and checked with
``jsonschema_rs``.

Stricter than JSON Schema, as Hetzner's Go client is: a JSON float (``40.0``) is never an
``integer`` (JSON Schema counts a number with a zero fraction as one; Go's ``encoding/json``
refuses to decode it into an ``int``). And where the spec says ``number`` but Hetzner answers
integers and its Go client (hcloud-go) decodes an ``int`` (:data:`INTEGER_IN_CLIENTS`), the
field is held to ``integer``. This module is the one validator every compatibility test uses.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

SPEC_FILE = Path(__file__).resolve().parents[2] / "reference" / "hcloud-openapi.json"
_OPENAPI_ONLY_FORMATS = {"int32", "int64", "double", "float", "decimal"}
STRICT_INTEGER = "x-strict-integer"
INTEGER_IN_CLIENTS = {("server_type", "disk"), ("volume", "size")}
"""(component schema, property) the spec types ``number`` and hcloud-go decodes into an ``int``."""
_DROP = {"example", "deprecated", "externalDocs", "xml", "discriminator", "readOnly", "writeOnly"}


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                responses = operation["responses"]
                for key in list(responses):
                    if key in ("4xx", "5xx"):
                        responses[key.upper()] = responses.pop(key)
    return document


class StrictInteger:
    """The ``x-strict-integer`` keyword: set beside every ``integer`` type, it refuses a JSON float."""

    def __init__(self, parent_schema: dict[str, Any], value: bool, schema_path: list[str | int]) -> None:
        self.on = value

    def validate(self, instance: Any) -> None:
        if self.on and isinstance(instance, float):
            raise ValueError(f"{instance!r} is a JSON float, not an integer")


def _integer_only(types: Any) -> bool:
    listed = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    return "integer" in listed and "number" not in listed


def to_json_schema(node: Any, seen: tuple[str, ...] = ()) -> Any:
    if isinstance(node, list):
        return [to_json_schema(item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        assert name not in seen, f"recursive schema {name}"
        return to_json_schema(spec()["components"]["schemas"][name], (*seen, name))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or (key == "format" and value in _OPENAPI_ONLY_FORMATS):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(sub, seen) for name, sub in value.items()}
            for component, field in INTEGER_IN_CLIENTS:
                if seen and seen[-1] == component and out[key].get(field, {}).get("type") == "number":
                    out[key][field] = {**out[key][field], "type": "integer"}
                    out[key][field][STRICT_INTEGER] = True
        elif key == "nullable":
            continue
        else:
            out[key] = to_json_schema(value, seen)
    if _integer_only(out.get("type")):
        out[STRICT_INTEGER] = True
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$")


@cache
def _templates() -> list[tuple[str, re.Pattern[str]]]:
    # Literal segments win over parameters: /servers/actions before /servers/{id}.
    paths = sorted(spec()["paths"], key=lambda p: (p.count("{"), -len(p)))
    return [(path, _template_regex(path)) for path in paths]


def operation_path(path: str) -> str | None:
    path = path.removeprefix("/v1")
    return next((template for template, regex in _templates() if regex.match(path)), None)


@cache
def _validator(template: str, method: str, status_key: str) -> Any:
    response = spec()["paths"][template][method]["responses"][status_key]
    schema = response["content"]["application/json"]["schema"]
    return strict_validator(to_json_schema(schema))


def strict_validator(schema: dict[str, Any]) -> Any:
    """A ``jsonschema_rs`` validator of ``schema`` (as :func:`to_json_schema` makes it) that
    refuses a JSON float wherever an integer is required."""
    return jsonschema_rs.validator_for(schema, keywords={STRICT_INTEGER: StrictInteger})


def response_schema_key(template: str, method: str, status: int) -> str | None:
    responses = spec()["paths"][template][method.lower()]["responses"]
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses and "content" in responses[key]:
            return key
    return None


def validate(method: str, path: str, status: int, body: Any) -> None:
    """Raise AssertionError when ``body`` is not what the spec says ``method path`` answers."""
    template = operation_path(path)
    assert template is not None, f"{method} {path}: no such path in the spec"
    operation = spec()["paths"][template].get(method.lower())
    assert operation is not None, f"{method} {path}: no such operation in the spec"
    key = response_schema_key(template, method, status)
    if key is None:
        assert body is None, f"{method} {path} {status}: the spec documents no body"
        return
    errors = [
        f"{'/'.join(str(p) for p in error.instance_path)}: {error.message}"
        for error in _validator(template, method.lower(), key).iter_errors(body)
    ]
    assert not errors, f"{method} {path} {status} does not match the spec:\n" + "\n".join(errors[:10])
