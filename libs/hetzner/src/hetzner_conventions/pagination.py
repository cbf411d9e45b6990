"""``page``/``per_page``, the ``meta.pagination`` object and the RFC 8288 ``Link`` header.

Hetzner: ``page`` starts at 1 (default 1), ``per_page`` defaults to 25 and is at most 50. A
larger ``per_page`` is served as 50 rather than refused, and ``meta.pagination.per_page``
says so; anything that is not a positive integer is ``invalid_input``. The ``Link`` header
carries ``prev``, ``next`` and ``last`` like Hetzner's, keeping the request's other query
parameters (``label_selector``, ``sort``, filters) so a client can follow it as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import URL

from hetzner_conventions.errors import invalid_field

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 50
MAX_PAGE = (2**31 - 1) // MAX_PER_PAGE
"""The largest ``page``: ``page`` and ``page * per_page`` both fit a backend's int32 (protobuf ``page``),
so no page can overflow a request or an SQL offset; a larger one is ``invalid_input``."""


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def limit(self) -> int:
        return self.per_page


def _positive_int(name: str, raw: str, most: int | None = None) -> int:
    text = raw.strip()
    # Digits only (no "+1", "1_000", non-ASCII digits), and few enough that int() never parses a huge number.
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise invalid_field(name, f"{name} must be a whole number of at least 1, got {raw[:40]!r}")
    value = int(text)
    if value < 1:
        raise invalid_field(name, f"{name} must be at least 1, got {value}")
    if most is not None and value > most:
        raise invalid_field(name, f"{name} must be at most {most}, got {value}")
    return value


def parse_page_request(page: str | None, per_page: str | None) -> PageRequest:
    """The page asked for by the raw ``page`` and ``per_page`` query values (None = absent)."""
    number = _positive_int("page", page, MAX_PAGE) if page not in (None, "") else 1
    # A per_page past MAX_PER_PAGE is served as MAX_PER_PAGE (Hetzner's way); past int64 it is no number.
    size = _positive_int("per_page", per_page, 2**63 - 1) if per_page not in (None, "") else DEFAULT_PER_PAGE
    return PageRequest(page=number, per_page=min(size, MAX_PER_PAGE))


@dataclass(frozen=True)
class Pagination:
    page: int
    per_page: int
    previous_page: int | None
    next_page: int | None
    last_page: int
    total_entries: int

    def as_meta(self) -> dict[str, Any]:
        """``{"pagination": {...}}``, the value of a list answer's ``meta``."""
        return {
            "pagination": {
                "page": self.page,
                "per_page": self.per_page,
                "previous_page": self.previous_page,
                "next_page": self.next_page,
                "last_page": self.last_page,
                "total_entries": self.total_entries,
            }
        }


def paginate(request: PageRequest, total_entries: int) -> Pagination:
    """Where ``request`` sits among ``total_entries``; an empty list still has one (empty) page."""
    last_page = max(1, -(-total_entries // request.per_page))
    page = request.page
    # A page past the end is answered empty; its "previous" is the real last page.
    previous_page = min(page - 1, last_page) if page > 1 else None
    next_page = page + 1 if page < last_page else None
    return Pagination(page, request.per_page, previous_page, next_page, last_page, total_entries)


def link_header(url: URL, pagination: Pagination) -> str | None:
    """The ``Link`` header value for ``url`` (the request's URL), or None when there is one page only."""
    links = []
    for rel, page in (("prev", pagination.previous_page), ("next", pagination.next_page)):
        if page is not None:
            links.append((rel, page))
    if pagination.last_page != pagination.page:
        links.append(("last", pagination.last_page))
    if not links:
        return None
    return ", ".join(
        f'<{url.include_query_params(page=page, per_page=pagination.per_page)}>; rel="{rel}"' for rel, page in links
    )
