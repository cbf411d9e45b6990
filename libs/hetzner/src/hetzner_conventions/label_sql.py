"""Label requirements as a SQL condition over a MariaDB JSON column of labels (``{"k": "v"}``).

The gateway parses Hetzner's ``label_selector`` grammar (:mod:`hetzner_conventions.label_selector`)
and a service that owns labelled rows (compute) receives the parsed requirements (key,
operator, values) and builds the WHERE condition here, so a list is filtered and paginated in the
database with the same meaning as the in-memory matcher. Keys go into JSON paths as bound
parameters, quoted (``$."example.com/k"``), which the key grammar (no quotes, no
backslashes) keeps unambiguous.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

OPERATORS = frozenset({"=", "!=", "in", "notin", "exists", "!exists"})


class LabelRequirement(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def operator(self) -> str: ...

    @property
    def values(self) -> Iterable[str]: ...


def _path(key: str) -> str:
    return f'$."{key}"'


def requirement_clause(requirement: LabelRequirement, labels: ColumnElement[Any]) -> ColumnElement[bool]:
    path = _path(requirement.key)
    # NULL labels (no labels at all) count as "key absent", hence the COALESCE.
    present = sa.func.coalesce(sa.func.json_contains_path(labels, "one", path), 0) == 1
    absent = sa.func.coalesce(sa.func.json_contains_path(labels, "one", path), 0) == 0
    value = sa.func.json_unquote(sa.func.json_extract(labels, path))
    values = list(requirement.values)
    match requirement.operator:
        case "exists":
            return present
        case "!exists":
            return absent
        case "=" | "in":
            return sa.and_(present, value.in_(values))
        case "!=" | "notin":
            return sa.or_(absent, value.not_in(values))
    raise ValueError(f"unknown label selector operator {requirement.operator!r}")


def requirements_clause(requirements: Iterable[LabelRequirement], labels: ColumnElement[Any]) -> ColumnElement[bool]:
    """A WHERE condition selecting the rows whose ``labels`` satisfy every requirement."""
    clauses = [requirement_clause(requirement, labels) for requirement in requirements]
    return sa.and_(*clauses) if clauses else sa.true()
