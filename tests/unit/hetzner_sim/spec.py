"""Validate the simulator's answers against the Hetzner Cloud OpenAPI description.

``tests/reference/hcloud-openapi.json`` is OpenAPI 3.0 (``nullable``, lowercase ``4xx``/``5xx``
keys); each operation's response schema is turned into JSON Schema (``$ref`` inlined,
``nullable`` as a ``null`` type, the OpenAPI-only number formats dropped) and checked with
``jsonschema_rs``.
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
        elif key == "nullable":
            continue
        else:
            out[key] = to_json_schema(value, seen)
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
    return jsonschema_rs.validator_for(to_json_schema(schema))


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
