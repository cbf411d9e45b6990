"""Queries over audit_logs with SQLAlchemy Core.

Every filter is a condition on an indexed column (user_id, organization_id, created_at,
action, resource_type/resource_id, request_id), and a restricted reader's tenant is one
more condition in the same WHERE: ``user_id = me OR organization_id IN (mine)``. Rows a
reader may not see are never read into Python.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from audit_service.adapters.tables import audit_logs
from audit_service.domain.audit_log import (
    LOGIN_ACTIONS,
    AuditLogEntry,
    AuditLogQuery,
    Page,
    Reader,
    SortKey,
)

SORT_COLUMNS: dict[str, sa.Column[Any]] = {"id": audit_logs.c.id, "created": audit_logs.c.created_at}
# Everything a reader gets; the chain internals (event id, stream, chain position, hashes) stay here.
ENTRY_COLUMNS = [
    audit_logs.c[name]
    for name in (
        "id",
        "user_id",
        "organization_id",
        "action",
        "resource_type",
        "resource_id",
        "old_values",
        "new_values",
        "ip_address",
        "user_agent",
        "api_key_id",
        "request_id",
        "response_code",
        "duration_ms",
        "created_at",
        "event_type",
    )
]


def tenant_condition(reader: Reader) -> ColumnElement[bool] | None:
    """What a reader may see, as SQL; None when it sees everything."""
    if reader.everything:
        return None
    own: ColumnElement[bool] = audit_logs.c.user_id == reader.user_id
    if reader.organization_ids:
        return sa.or_(own, audit_logs.c.organization_id.in_(reader.organization_ids))
    return own


def filter_conditions(query: AuditLogQuery) -> list[ColumnElement[bool]]:
    c = audit_logs.c
    conditions: list[ColumnElement[bool]] = []
    if query.user_id is not None:
        conditions.append(c.user_id == query.user_id)
    if query.organization_id is not None:
        conditions.append(c.organization_id == query.organization_id)
    if query.action is not None:
        conditions.append(c.action == query.action)
    if query.action_prefix is not None:
        # A range scan of idx_audit_action; % and _ in the prefix are taken literally.
        conditions.append(c.action.startswith(query.action_prefix, autoescape=True))
    if query.resource_type is not None:
        conditions.append(c.resource_type == query.resource_type)
    if query.resource_id is not None:
        conditions.append(c.resource_id == query.resource_id)
    if query.request_id is not None:
        conditions.append(c.request_id == query.request_id)
    if query.since is not None:
        conditions.append(c.created_at >= query.since)
    if query.until is not None:
        conditions.append(c.created_at < query.until)
    return conditions


def order_by(keys: tuple[SortKey, ...]) -> list[sa.UnaryExpression[Any]]:
    """The ORDER BY of ``keys``, ending with the id so that pages never overlap or skip."""
    clauses = [SORT_COLUMNS[k.field].desc() if k.descending else SORT_COLUMNS[k.field].asc() for k in keys]
    if not any(k.field == "id" for k in keys):
        last = keys[-1].descending if keys else True
        clauses.append(audit_logs.c.id.desc() if last else audit_logs.c.id.asc())
    return clauses


def entry(row: RowMapping) -> AuditLogEntry:
    return AuditLogEntry(**{column.name: row[column.name] for column in ENTRY_COLUMNS})


class AuditLogRepository:
    """Reads of the audit log; each call runs on its own connection (reads need no transaction)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _page(
        self, where: list[ColumnElement[bool]], sort: tuple[SortKey, ...], page: Page
    ) -> tuple[list[AuditLogEntry], int]:
        select = sa.select(*ENTRY_COLUMNS).where(*where).order_by(*order_by(sort)).limit(page.size).offset(page.offset)
        count = sa.select(sa.func.count()).select_from(audit_logs).where(*where)
        with self._engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(select).mappings().all() if total > page.offset else []
        return [entry(row) for row in rows], total

    def search(self, query: AuditLogQuery, reader: Reader, page: Page) -> tuple[list[AuditLogEntry], int]:
        """One page of the entries matching ``query`` that ``reader`` may see, and how many match."""
        where = filter_conditions(query)
        tenant = tenant_condition(reader)
        if tenant is not None:
            where.append(tenant)
        return self._page(where, query.sort, page)

    def login_activity(self, user_id: int, page: Page) -> tuple[list[AuditLogEntry], int]:
        """One page of a user's sign-in entries, newest first (idx_audit_user: user, created_at)."""
        where = [audit_logs.c.user_id == user_id, audit_logs.c.action.in_(LOGIN_ACTIONS)]
        newest_first = (SortKey("created", descending=True),)
        return self._page(where, newest_first, page)
