"""Every integer a route of the public API accepts, out of range, on a live platform: each
operation of /v1/openapi.json gets 2^63, 2^64, -1 and ``true`` in each of its integer path, query
and body fields (and as the item of a list of integers) with an admin's API key, and must answer
a 4xx with Hetzner's error object: never a 5xx, never a dropped connection.

The document is walked, not listed, so a route added later is covered without editing this test
(tests/unit/gateway/test_integer_bounds.py checks statically that each of these integers has
bounds in the document)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from tests.integration.gateway.test_openapi_conformance import _document, admin_token, platform  # noqa: F401
from tests.integration.live import LivePlatform

BAD_VALUES: tuple[object, ...] = (2**63, 2**64, -1, True)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _options(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(doc, schema)
    if "anyOf" in schema or "oneOf" in schema:
        return [_resolve(doc, s) for s in schema.get("anyOf", schema.get("oneOf", []))]
    return [schema]


def _is_integer(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    return any(option.get("type") == "integer" for option in _options(doc, schema))


def _sample(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A plain value of ``schema`` (only its required properties for an object)."""
    option = next((o for o in _options(doc, schema) if o.get("type") != "null"), {})
    if "enum" in option:
        return option["enum"][0]
    kind = option.get("type")
    if kind == "object" and depth < 4:
        return {
            name: _sample(doc, sub, depth + 1)
            for name, sub in option.get("properties", {}).items()
            if name in option.get("required", [])
        }
    return {"integer": 1, "number": 1, "boolean": False, "array": [], "string": "x"}.get(kind or "", "x")


def _body_targets(
    doc: dict[str, Any], schema: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], bool]]:
    """(path to an integer field, whether it sits in a list) in a JSON body."""
    for option in _options(doc, schema):
        for name, sub in option.get("properties", {}).items():
            where = (*prefix, name)
            if _is_integer(doc, sub):
                yield where, False
            for inner in _options(doc, sub):
                if inner.get("type") == "array" and _is_integer(doc, inner.get("items", {})):
                    yield where, True
                if inner.get("type") == "object" and len(prefix) < 3:
                    yield from _body_targets(doc, inner, where)


def _with(body: dict[str, Any], where: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = dict(body)
    if len(where) == 1:
        copy[where[0]] = value
    else:
        copy[where[0]] = _with(dict(copy.get(where[0]) or {}), where[1:], value)
    return copy


def _requests(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any], Any]]:
    """(what, method, url path, query, body) for every bad value in every integer field."""
    for template, operations in doc["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            plain = {p["name"]: _sample(doc, p["schema"]) for p in parameters if p["in"] == "path"}
            media = operation.get("requestBody", {}).get("content", {}).get("application/json")
            body = _sample(doc, media["schema"]) if media else None

            def url(values: dict[str, Any], template: str = template) -> str:
                for name, value in values.items():
                    text = str(value).lower() if isinstance(value, bool) else str(value)
                    template = template.replace("{" + name + "}", text)
                return template

            for bad in BAD_VALUES:
                for parameter in parameters:
                    # page and per_page are integers whatever type the document gives them
                    if not (_is_integer(doc, parameter["schema"]) or parameter["name"] in ("page", "per_page")):
                        continue
                    what = f"{method.upper()} {template} {parameter['in']}:{parameter['name']}={bad!r}"
                    if parameter["in"] == "path":
                        yield what, method, url({**plain, parameter["name"]: bad}), {}, body
                    elif parameter["in"] == "query":
                        yield what, method, url(plain), {parameter["name"]: str(bad).lower()}, body
                if media:
                    for where, in_list in _body_targets(doc, media["schema"]):
                        what = f"{method.upper()} {template} body.{'.'.join(where)}{'[]' if in_list else ''}={bad!r}"
                        yield what, method, url(plain), {}, _with(body or {}, where, [bad] if in_list else bad)


def test_no_integer_out_of_range_reaches_a_backend(platform: LivePlatform, admin_token: str) -> None:  # noqa: F811
    doc = _document()
    wrong: list[str] = []
    sent = 0
    with httpx.Client(
        base_url=platform.gateway, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
    ) as client:
        for what, method, path, query, body in _requests(doc):
            sent += 1
            try:
                answer = client.request(method.upper(), path, params=query, json=body)
            except httpx.HTTPError as exc:  # a dropped connection, a reset
                wrong.append(f"{what}: {exc!r}")
                continue
            error = (
                answer.json().get("error")
                if answer.headers.get("content-type", "").startswith("application/json")
                else None
            )
            if not 400 <= answer.status_code < 500 or not isinstance(error, dict) or "code" not in error:
                wrong.append(f"{what}: {answer.status_code} {answer.text[:200]}")
    assert sent > 300  # every path, query and body integer of the API, four values each
    assert wrong == []
