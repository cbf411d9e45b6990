"""The ``sort`` query parameter: ``field``, ``field:asc`` or ``field:desc``, repeatable, checked
against the fields an endpoint allows (Hetzner lists them per endpoint, e.g. id, name, created).

The first ``sort`` value orders first; a field without a direction sorts ascending.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from cpshared.errors import InvalidInput
from hetzner_conventions.errors import invalid_field

PARAMETER = "sort"


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


def _invalid(message: str) -> InvalidInput:
    return invalid_field(PARAMETER, message)


def parse_sort(values: Iterable[str], allowed: Collection[str]) -> tuple[SortKey, ...]:
    """The sort keys of the raw ``sort`` values, in order. Raises ``InvalidInput`` naming the bad value."""
    keys: list[SortKey] = []
    seen: set[str] = set()
    choices = ", ".join(sorted(allowed))
    for raw in values:
        field, colon, direction = raw.strip().partition(":")
        if field not in allowed:
            raise _invalid(f"cannot sort by {field!r}; sort by one of: {choices}")
        if colon and direction not in ("asc", "desc"):
            raise _invalid(f"sort {raw!r}: the direction must be 'asc' or 'desc', got {direction!r}")
        if field in seen:
            raise _invalid(f"sort {raw!r}: {field!r} is given more than once")
        seen.add(field)
        keys.append(SortKey(field, descending=direction == "desc"))
    return tuple(keys)


def order_by(keys: Iterable[SortKey], columns: Mapping[str, ColumnElement[Any]]) -> list[UnaryExpression[Any]]:
    """ORDER BY clauses for ``keys``; ``columns`` maps each allowed field to its column."""
    return [columns[key.field].desc() if key.descending else columns[key.field].asc() for key in keys]
