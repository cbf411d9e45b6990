"""Every integer the public API accepts has bounds in the OpenAPI document: no path, query or body
integer (nor an item of a list of them) may reach protobuf or SQL out of range. Ids are
``gateway_service.api.common.Id`` / ``BodyId`` (1 to 2^63-1); pages stay within int32.

The live counterpart (tests/integration/gateway/test_integer_bounds.py) sends 2^63, 2^64, -1 and
``true`` in each of these fields to a running platform."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from cpshared.errors import InvalidInput
from gateway_service.api.common import MAX_ID
from gateway_service.app import create_app
from gateway_service.config import BACKENDS, Settings
from hetzner_conventions.pagination import MAX_PAGE, MAX_PER_PAGE, PageRequest, parse_page_request


def document() -> dict[str, Any]:
    settings = Settings.model_validate(
        {
            "service_name": "gateway",
            "metrics_port": 0,
            "database_url": "mysql+pymysql://nobody@127.0.0.1:9/none",
            **{f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS},
        }
    )
    return create_app(settings, sa.create_engine(settings.database_url)).openapi()


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def integers(
    doc: dict[str, Any], schema: dict[str, Any], where: str, seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every integer schema inside ``schema`` (objects, arrays, anyOf/oneOf/allOf), with its place."""
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return
        seen = seen | {ref}
    schema = resolve(doc, schema)
    if schema.get("type") == "integer":
        yield where, schema
    for name, sub in schema.get("properties", {}).items():
        yield from integers(doc, sub, f"{where}.{name}", seen)
    if "items" in schema:
        yield from integers(doc, schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from integers(doc, schema["additionalProperties"], f"{where}{{}}", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from integers(doc, sub, where, seen)


def accepted_integers(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            op = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                yield from integers(doc, parameter["schema"], f"{op} {parameter['in']}:{parameter['name']}")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                yield from integers(doc, media["schema"], f"{op} body")


def test_every_integer_a_request_carries_is_bounded() -> None:
    doc = document()
    found = list(accepted_integers(doc))
    assert len(found) > 50  # the walk reaches path, query and body integers
    unbounded = [
        where
        for where, schema in found
        # (pydantic writes bounds as JSON numbers: 2^63-1 reads back as the float 2^63)
        if not ("minimum" in schema and "maximum" in schema and schema["maximum"] <= float(MAX_ID))
    ]
    assert unbounded == []


@pytest.mark.parametrize("page", [str(MAX_PAGE + 1), "1000000000000", "9223372036854775808", "1" * 5000, "+1", "1e3"])
def test_a_page_past_the_bound_or_no_plain_number_is_invalid_input(page: str) -> None:
    with pytest.raises(InvalidInput):
        parse_page_request(page, None)


@pytest.mark.parametrize("per_page", ["9223372036854775808", "18446744073709551616", "0", "-1", "true"])
def test_a_per_page_past_int64_or_no_positive_number_is_invalid_input(per_page: str) -> None:
    with pytest.raises(InvalidInput):
        parse_page_request(None, per_page)


def test_the_largest_page_times_the_largest_per_page_fits_an_int32() -> None:
    request = parse_page_request(str(MAX_PAGE), str(MAX_PER_PAGE))
    assert request == PageRequest(MAX_PAGE, MAX_PER_PAGE)
    assert request.offset + request.limit <= 2**31 - 1


def test_page_and_per_page_are_integers_in_the_document() -> None:
    doc = document()
    paging = [
        (f"{method} {path}", parameter)
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter["name"] in ("page", "per_page")
    ]
    assert len(paging) > 20
    assert [where for where, parameter in paging if parameter["schema"]["type"] != "integer"] == []
    pages = {parameter["schema"]["maximum"] for _, parameter in paging if parameter["name"] == "page"}
    assert pages == {MAX_PAGE}


def test_423_and_413_are_documented_on_the_authenticated_routes() -> None:
    doc = document()
    servers = doc["paths"]["/v1/servers/{id}"]["delete"]["responses"]
    assert {"413", "423"} <= set(servers)
