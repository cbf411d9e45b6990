"""Suspending and lifting the suspension of an account's servers (domain/suspension.py).

The functions work in the caller's transaction: the projection that follows identity's events
applies them in the transaction of the event's inbox row, so a redelivered event changes
nothing twice. The servers record the events they cause (:meth:`Server.suspended` …); they are
returned for the caller's outbox. The worker's sweep (:func:`enforce_suspensions`) starts the
stop or delete of servers that were busy with another action when their account was suspended.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from compute_service.domain.servers import Action, Server
from compute_service.domain.suspension import ERASED, SUSPENDED
from compute_service.service_layer.ports import ActionRepository, ServerRepository
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork, aggregate_events
from cpshared.clock import utcnow
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger

log = get_logger(__name__)


def _enforce(servers: ServerRepository, actions: ActionRepository, server: Server, now: datetime) -> Action | None:
    """Start the action the suspension asks for (stop, or delete when erased), if any."""
    action = server.enforce_suspension()
    if action is None:
        return None
    servers.save(server, now)
    actions.add(action, now)
    log.info("suspension_enforced", server_id=server.id, command=action.command, action_id=action.id)
    return action


def _suspend(
    servers: ServerRepository, actions: ActionRepository, server_ids: list[int], reason: str
) -> list[PendingEvent]:
    now = utcnow()
    recorded: list[PendingEvent] = []
    for server_id in server_ids:
        server = servers.get(server_id)
        if server is None or not server.suspend(reason, now):
            continue  # already suspended (an erasure still goes further: it deletes)
        servers.save_suspension(server)
        server.suspended(_enforce(servers, actions, server, now))
        recorded.extend(aggregate_events(server))
    return recorded


def _reactivate(servers: ServerRepository, server_ids: list[int]) -> list[PendingEvent]:
    recorded: list[PendingEvent] = []
    for server_id in server_ids:
        server = servers.get(server_id)
        if server is not None and server.lift_suspension():
            servers.save_suspension(server)
            recorded.extend(aggregate_events(server))
    return recorded


def suspend_account(
    servers: ServerRepository, actions: ActionRepository, user_id: int, reason: str
) -> list[PendingEvent]:
    """Suspend the live servers ``user_id`` owns itself (``reason``: suspended, banned, erased)."""
    return _suspend(servers, actions, servers.own_live_ids(user_id), reason)


def reactivate_account(servers: ServerRepository, user_id: int) -> list[PendingEvent]:
    """Lift the suspension of ``user_id``'s own servers (they stay powered off); an erased
    account's servers stay on their way out."""
    return _reactivate(servers, servers.own_live_ids(user_id))


def suspend_organization(
    servers: ServerRepository, actions: ActionRepository, organization_id: int
) -> list[PendingEvent]:
    """Suspend the live servers ``organization_id`` owns (its members' own servers are theirs)."""
    return _suspend(servers, actions, servers.organization_live_ids(organization_id), SUSPENDED)


def reactivate_organization(servers: ServerRepository, organization_id: int) -> list[PendingEvent]:
    """Lift the suspension of the organization's servers (they stay powered off)."""
    return _reactivate(servers, servers.organization_live_ids(organization_id))


def enforce_suspensions(uow_factory: Callable[[], ComputeUnitOfWork], limit: int = 200) -> int:
    """Start the stop (or delete) of suspended servers that still run (or live) and are free
    now: those that were busy with another action when their account was suspended."""
    with uow_factory() as uow:
        started = 0
        now = utcnow()
        for server_id in uow.servers.to_enforce(ERASED, limit):
            server = uow.servers.get(server_id)
            if server is not None and _enforce(uow.servers, uow.actions, server, now) is not None:
                started += 1
        uow.commit()
    return started
