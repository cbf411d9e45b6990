"""What every router shares: ids, labels, the tenant of a request, ``meta.pagination`` and the
one way a list route answers a page (the ``Link`` header and ``meta``), built on the Hetzner
conventions of the ``hetzner_conventions`` library (pagination, sorting).

Routers import this module and never each other (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Le
from fastapi import Request, Response
from pydantic import AfterValidator, BaseModel, Field, Strict

from gateway_service.auth.principal import Principal
from hetzner_conventions.pagination import (
    DEFAULT_PER_PAGE,
    MAX_PAGE,
    MAX_PER_PAGE,
    PageRequest,
    Pagination,
    link_header,
    paginate,
)
from hetzner_conventions.sorting import SortKey

T = TypeVar("T")

MAX_ID = 2**63 - 1
"""The largest id a path, query or body accepts (a signed 64-bit integer, protobuf's int64, SQL's BIGINT)."""

# The one definition of an id at the edge: every route's ids (path, query, body, lists of ids)
# are these, so no value reaches protobuf or SQL out of range (tests/unit/gateway/
# test_integer_bounds.py walks the OpenAPI document for integers without bounds).
Id = Annotated[int, Ge(1), Le(MAX_ID)]
"""An id in a path or query: 1 to 2^63-1, else 400 ``invalid_input``."""
BodyId = Annotated[int, Strict(), Ge(1), Le(MAX_ID)]
"""An id in a JSON body: a JSON integer (never ``true``, ``1.0`` or ``"1"``), 1 to 2^63-1."""
OptionalBodyId = Annotated[int, Strict(), Ge(0), Le(MAX_ID)]
"""An id in a JSON body where 0 means none."""
Int32 = Annotated[int, Strict(), Ge(1), Le(2**31 - 1)]
"""A positive count or limit in a JSON body that a backend holds as an int32."""
# Hetzner's label value rule (a key's rule is checked by the backend, which says what is wrong).
CONTROL_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
"""What no human-facing string may hold: C0 controls but tab and line breaks, DEL, C1 controls
(ESC, so ANSI escape sequences too), and the bidirectional marks and overrides that make text
read otherwise than it is stored."""
LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029\x85]")


def plain_text(value: str) -> str:
    """One line of human-facing text (a name, a description, a profile field): no control
    characters, no line breaks (they end up in mail headers and log lines), no bidi overrides."""
    if CONTROL_CHARACTERS.search(value) or LINE_BREAKS.search(value):
        raise ValueError(
            "must be one line of text without control characters (NUL, escape sequences, line breaks, tabs) "
            "or bidirectional overrides"
        )
    return value


def multiline_text(value: str) -> str:
    """Text of several lines (a message, a long description): tabs and line breaks allowed, no
    other control characters or bidirectional overrides."""
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters (NUL, escape sequences) or bidirectional overrides")
    return value


Text = Annotated[str, AfterValidator(plain_text)]
"""A request's one-line human-facing string: every name, description and profile field."""
MultilineText = Annotated[str, AfterValidator(multiline_text)]
"""A request's human-facing text of several lines (ticket messages, maintenance descriptions)."""

LABEL_VALUE = r"^(()|[a-z0-9A-Z]|([a-z0-9A-Z][a-z0-9A-Z\._-]{0,61}[a-z0-9A-Z]))$"
Labels = dict[str, Annotated[str, Field(pattern=LABEL_VALUE)]]


def tenant(principal: Principal) -> tuple[int, int]:
    """(user, organization or 0): whose resources the request works with."""
    return principal.user_id, principal.organization_id or 0


class PaginationOut(BaseModel):
    page: int
    per_page: int
    previous_page: int | None
    next_page: int | None
    last_page: int
    total_entries: int


class Meta(BaseModel):
    pagination: PaginationOut

    @classmethod
    def of(cls, pagination: Pagination) -> Meta:
        return cls.model_validate(pagination.as_meta())


def page_meta(request: Request, response: Response, page: PageRequest, total_entries: int) -> Meta:
    """The ``meta`` of an answer holding ``page`` of ``total_entries``; sets the ``Link`` header."""
    pagination = paginate(page, total_entries)
    link = link_header(request.url, pagination)
    if link:
        response.headers["Link"] = link
    return Meta.of(pagination)


def one_page(request: Request, response: Response, items: Sequence[T], page: PageRequest) -> tuple[list[T], Meta]:
    """``page`` of ``items`` (filtered and sorted by the caller) and its ``meta``; sets ``Link``."""
    meta = page_meta(request, response, page, len(items))
    return list(items[page.offset : page.offset + page.limit]), meta


def sort_items(items: list[T], keys: Sequence[SortKey], value: Callable[[T, str], Any]) -> list[T]:
    """``items`` sorted in place by ``keys`` (the first key orders first); ``value`` reads a field."""
    for key in reversed(keys):  # stable sorts, last key first
        items.sort(key=lambda item: value(item, key.field), reverse=key.descending)
    return items


def sort_param(keys: Sequence[SortKey]) -> list[str]:
    """``keys`` as a backend's ``sort`` field: ``field:asc`` / ``field:desc``."""
    return [f"{k.field}:{'desc' if k.descending else 'asc'}" for k in keys]


# page and per_page as parse_page_request validates them (the routes read them as text).
PAGING_SCHEMAS: dict[str, dict[str, Any]] = {
    "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1, "title": "Page"},
    "per_page": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_ID,
        "default": DEFAULT_PER_PAGE,
        "title": "Per Page",
        "description": f"Entries per page, 1 to {MAX_PER_PAGE}; more is served as {MAX_PER_PAGE}.",
    },
}


def typed_paging(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (an OpenAPI document, changed in place) with each ``page`` and ``per_page``
    query parameter a route reads as text typed as the integer it is validated as."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                name = parameter.get("name")
                if parameter.get("in") != "query" or name not in PAGING_SCHEMAS:
                    continue
                if parameter.get("schema", {}).get("type") != "integer":  # those typed by their route stay
                    parameter["schema"] = dict(PAGING_SCHEMAS[name])
    return document
