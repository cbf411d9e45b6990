"""Suspending and lifting the suspension of an account's servers (domain/suspension.py).

The functions work in the caller's transaction (a Session): the projection that follows
identity's events applies them in the transaction of the event's inbox row, so a redelivered
event changes nothing twice. The events they cause are returned for the caller's outbox.
The worker's sweep (:func:`enforce_suspensions`) starts the stop or delete of servers that
were busy with another action when their account was suspended.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloudplatform.compute.v1 import events_pb2
from compute_service import SERVICE_NAME
from compute_service.adapters import tables as t
from compute_service.adapters.server_repository import ActionRepository, ServerRepository
from compute_service.domain import server_status as st
from compute_service.domain.servers import ACTION_RUNNING, Action, Server
from compute_service.domain.suspension import ERASED, enforcing_command
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.events import catalog as events
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.logging import get_logger

log = get_logger(__name__)


def _own_live_servers(session: Session, user_id: int) -> list[int]:
    c = t.servers.c
    query = (
        sa.select(c.id)
        .where(c.user_id == user_id, c.organization_id.is_(None), c.deleted_at.is_(None))
        .order_by(c.id)
        .with_for_update()
    )
    return list(session.execute(query).scalars())


def _write_suspension(session: Session, server: Server, *, lift_protection: bool = False) -> None:
    values: dict[str, object] = {
        "suspended_at": server.suspended_at,
        "suspension_reason": server.suspension_reason or None,
    }
    if lift_protection:
        values["protection_delete"] = False
        values["protection_rebuild"] = False
    session.execute(sa.update(t.servers).where(t.servers.c.id == server.id).values(**values))


def _enforce(session: Session, server: Server, now: datetime) -> Action | None:
    """Start the action the suspension asks for (stop, or delete when erased), if any."""
    command = enforcing_command(server)
    if command is None:
        return None
    if server.suspension_reason == ERASED:
        server.protection_delete = server.protection_rebuild = False
        _write_suspension(session, server, lift_protection=True)
    server.locked = True
    server.version += 1
    ServerRepository(session).save(server, now)
    action = ActionRepository(session).add(
        Action(
            id=0,
            command=command,
            status=ACTION_RUNNING,
            server_id=server.id,
            user_id=server.user_id,
            organization_id=server.organization_id,
        ),
        now,
    )
    log.info("suspension_enforced", server_id=server.id, command=command, action_id=action.id)
    return action


def suspend_account(session: Session, user_id: int, reason: str) -> list[PendingEvent]:
    """Suspend the live servers ``user_id`` owns itself (``reason``: suspended, banned, erased)."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    servers = ServerRepository(session)
    for server_id in _own_live_servers(session, user_id):
        server = servers.get(server_id)
        if server is None:  # pragma: no cover - locked above
            continue
        if server.suspended_at is not None and (server.suspension_reason == reason or reason != ERASED):
            continue  # already suspended (an erasure still goes further: it deletes)
        server.suspended_at = server.suspended_at or now
        server.suspension_reason = reason
        _write_suspension(session, server)
        action = _enforce(session, server, now)
        recorded.append(
            new_event(
                events.SERVER_SUSPENDED,
                producer=SERVICE_NAME,
                aggregate_id=server.id,
                aggregate_version=server.version,
                payload=events_pb2.ServerSuspended(
                    server_id=server.id,
                    user_id=server.user_id,
                    organization_id=server.organization_id or 0,
                    reason=reason,
                    action_id=action.id if action else 0,
                ),
            )
        )
    return recorded


def reactivate_account(session: Session, user_id: int) -> list[PendingEvent]:
    """Lift the suspension of ``user_id``'s own servers (they stay powered off); an erased
    account's servers stay on their way out."""
    recorded: list[PendingEvent] = []
    servers = ServerRepository(session)
    for server_id in _own_live_servers(session, user_id):
        server = servers.get(server_id)
        if server is None or server.suspended_at is None or server.suspension_reason == ERASED:
            continue
        server.suspended_at = None
        server.suspension_reason = ""
        _write_suspension(session, server)
        recorded.append(
            new_event(
                events.SERVER_UNSUSPENDED,
                producer=SERVICE_NAME,
                aggregate_id=server.id,
                aggregate_version=server.version,
                payload=events_pb2.ServerUnsuspended(
                    server_id=server.id, user_id=server.user_id, organization_id=server.organization_id or 0
                ),
            )
        )
    return recorded


def enforce_suspensions(uow_factory: Callable[[], ComputeUnitOfWork], limit: int = 200) -> int:
    """Start the stop (or delete) of suspended servers that still run (or live) and are free
    now: those that were busy with another action when their account was suspended."""
    c = t.servers.c
    with uow_factory() as uow:
        ids = list(
            uow.session.execute(
                sa.select(c.id)
                .where(
                    c.suspended_at.is_not(None),
                    c.deleted_at.is_(None),
                    c.locked.is_not(True),
                    sa.or_(
                        sa.and_(c.suspension_reason == ERASED, c.status.not_in([st.DELETING, st.DELETED])),
                        c.status.in_([st.RUNNING, st.PAUSED]),
                    ),
                )
                .order_by(c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        started = 0
        now = utcnow()
        for server_id in ids:
            server = uow.servers.get(server_id)
            if server is not None and _enforce(uow.session, server, now) is not None:
                started += 1
        uow.commit()
    return started
