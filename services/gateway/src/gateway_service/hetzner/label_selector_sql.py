"""A label selector as a SQL condition over a MariaDB JSON column of labels (``{"k": "v"}``).

Same meaning as :meth:`LabelSelector.matches`, so a list can be filtered in the database and
paginated there. Keys go into JSON paths as bound parameters, quoted (``$."example.com/k"``),
which the key grammar (no quotes, no backslashes) keeps unambiguous.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from gateway_service.hetzner.label_selector import LabelSelector, Requirement


def _path(key: str) -> str:
    return f'$."{key}"'


def _requirement_clause(requirement: Requirement, labels: ColumnElement[Any]) -> ColumnElement[bool]:
    path = _path(requirement.key)
    # NULL labels (no labels at all) count as "key absent", hence the COALESCE.
    present = sa.func.coalesce(sa.func.json_contains_path(labels, "one", path), 0) == 1
    absent = sa.func.coalesce(sa.func.json_contains_path(labels, "one", path), 0) == 0
    value = sa.func.json_unquote(sa.func.json_extract(labels, path))
    match requirement.operator:
        case "exists":
            return present
        case "!exists":
            return absent
        case "=" | "in":
            return sa.and_(present, value.in_(requirement.values))
        case "!=" | "notin":
            return sa.or_(absent, value.not_in(requirement.values))
    raise AssertionError(requirement.operator)  # pragma: no cover


def label_selector_clause(selector: LabelSelector, labels: ColumnElement[Any]) -> ColumnElement[bool]:
    """A WHERE condition selecting the rows whose ``labels`` satisfy ``selector``."""
    if not selector.requirements:
        return sa.true()
    return sa.and_(*(_requirement_clause(requirement, labels) for requirement in selector.requirements))
