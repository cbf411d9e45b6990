"""A label selector as a SQL condition over a MariaDB JSON column of labels (``{"k": "v"}``).

Same meaning as :meth:`LabelSelector.matches`; the SQL itself lives in cpshared.label_sql,
which the services that own labelled rows use with the requirements the gateway parsed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from cpshared.label_sql import requirements_clause
from gateway_service.hetzner.label_selector import LabelSelector


def label_selector_clause(selector: LabelSelector, labels: ColumnElement[Any]) -> ColumnElement[bool]:
    """A WHERE condition selecting the rows whose ``labels`` satisfy ``selector``."""
    return requirements_clause(selector.requirements, labels)
