"""The provisioning worker's use cases: carry out one running action upstream, and sweep
upstream for servers nobody should have.

Claiming an action locks its row (SELECT ... FOR UPDATE SKIP LOCKED) for the transaction that
carries it out, and everything the action changes — server, action, events — commits in that
same transaction at its end. A worker killed at any line therefore leaves the action running
and unclaimed; the next worker starts it over, and every step is safe to repeat: creating
looks the platform id's label up upstream first, deleting deletes whatever carries the label,
and identity's quota release is idempotent.

One race remains that no lookup can close: a create request the dead worker sent may still
land upstream after its successor looked and made its own server. The sweep (:func:`sweep`)
ends such strays: an upstream server labelled with a deleted platform server, or with a live
one that has recorded another upstream id, is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from compute_service.domain import placement_groups, server_actions, server_settings
from compute_service.domain import server_status as st
from compute_service.domain.servers import (
    CREATE,
    DELETE,
    POWER_OFF,
    POWER_ON,
    POWER_RESULT,
    REBOOT,
    RESET,
    SHUTDOWN,
    Action,
    Server,
    UpstreamFailure,
)
from compute_service.service_layer import placement_groups as placement_groups_worker
from compute_service.service_layer import server_actions as server_actions_worker
from compute_service.service_layer import server_settings as server_settings_worker
from compute_service.service_layer.ports import CreateSpec, Quotas, UpstreamServers, reservation_key
from compute_service.service_layer.servers import one_upstream, upstream_group_id, upstream_server_of
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.logging import get_logger

log = get_logger(__name__)
DEFERRED = "deferred"

CarryOut = Callable[[UpstreamServers, Quotas, ComputeUnitOfWork, Action, Server], None]
"""Carries one running action out upstream and has the server record the result, in the
worker's transaction; raises UpstreamFailure (recorded as the action's failure) or
Unavailable (the action is left running for later)."""


@dataclass(frozen=True)
class Outcome:
    action_id: int
    command: str
    status: str


def _create(upstream: UpstreamServers, quotas: Quotas, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
    keys = []
    for key_id in server.ssh_key_ids:
        key = uow.ssh_keys.get(key_id)
        if key is not None:
            keys.append(upstream.ensure_ssh_key(key.id, key.public_key))
    spec = CreateSpec(
        platform_id=server.id,
        name=server.name,
        server_type=server.server_type,
        image=server.image,
        location=server.datacenter,
        user_data=server.user_data,
        labels=server.labels,
        ssh_key_ids=keys,
        start_after_create=bool(action.params.get("start_after_create", True)),
        placement_group_id=upstream_group_id(upstream, uow, server.placement_group_id)
        if server.placement_group_id
        else 0,
        image_id=int(action.params.get("upstream_image_id", 0)),
    )
    # Created at once without SSH keys (servers.create_with_password): adopted here by its
    # label, waiting on the action recorded then.
    made, upstream_action = upstream.create(spec)
    upstream_action = upstream_action or action.upstream_action_id or 0
    upstream.wait(upstream_action)
    kept = one_upstream(upstream, server.id) or made
    while kept.status in ("initializing", "starting"):
        # Adopted from an earlier attempt whose action we no longer know: wait on the server.
        upstream.wait_a_moment()
        kept = upstream.get(kept.id)
    current = uow.servers.get(server.id, for_update=True) or server
    window = ""
    if current.backup_enabled:  # backups from the start: upstream's option (enabling twice is no error)
        upstream.wait(upstream.enable_backup(kept.id))
        window = upstream.settings(kept.id)[1]
    current.provisioned(
        action,
        backup_window=window,
        hetzner_id=kept.id,
        ipv4=kept.ipv4,
        ipv6_network=kept.ipv6_network,
        ipv6=kept.ipv6,
        status=st.from_hetzner(kept.status),
        upstream_action_id=upstream_action,
        now=utcnow(),
    )
    uow.servers.save(current, utcnow())
    uow.actions.save(action)


def _power(upstream: UpstreamServers, quotas: Quotas, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
    upstream_id = upstream_server_of(upstream, server).id
    call = {
        POWER_ON: upstream.power_on,
        POWER_OFF: upstream.power_off,
        REBOOT: upstream.reboot,
        SHUTDOWN: upstream.shutdown,
        RESET: upstream.reset,
    }
    upstream_action = call[action.command](upstream_id)
    upstream.wait(upstream_action)
    current = uow.servers.get(server.id, for_update=True) or server
    current.powered(action, upstream_action, utcnow())
    uow.servers.save(current, utcnow())
    uow.actions.save(action)


def _delete(upstream: UpstreamServers, quotas: Quotas, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
    for found in upstream.find(server.id):
        upstream.wait(upstream.delete(found.id))
    quotas.release(reservation_key(server.id))
    current = uow.servers.get(server.id, for_update=True) or server
    now = utcnow()
    current.deleted(action, now)
    uow.servers.save(current, now)
    uow.actions.save(action)


def _server_actions(
    upstream: UpstreamServers, quotas: Quotas, uow: ComputeUnitOfWork, action: Action, server: Server
) -> None:
    server_actions_worker.carry_out(upstream, uow, action, server)


def _server_settings(
    upstream: UpstreamServers, quotas: Quotas, uow: ComputeUnitOfWork, action: Action, server: Server
) -> None:
    server_settings_worker.carry_out(upstream, uow, action, server)


def _placement_groups(
    upstream: UpstreamServers, quotas: Quotas, uow: ComputeUnitOfWork, action: Action, server: Server
) -> None:
    placement_groups_worker.carry_out(upstream, uow, action, server)


CARRY_OUT: dict[str, CarryOut] = {
    CREATE: _create,
    DELETE: _delete,
    **dict.fromkeys(POWER_RESULT, _power),
    **dict.fromkeys(server_actions.COMMANDS, _server_actions),
    **dict.fromkeys(server_settings.COMMANDS, _server_settings),
    **dict.fromkeys(placement_groups.COMMANDS, _placement_groups),
}
"""The worker's dispatch: each command the worker carries out, and what carries it out."""


class Provisioner:
    def __init__(self, uow_factory: Callable[[], ComputeUnitOfWork], upstream: UpstreamServers, quotas: Quotas) -> None:
        self.uow_factory = uow_factory
        self.upstream = upstream
        self.quotas = quotas

    def run_once(self, skip: Collection[int] = ()) -> Outcome | None:
        """Claim the oldest running action (not in ``skip``) and carry it out; None when there is none.

        Upstream that stays unavailable (after the retries) leaves the action running for later:
        the transaction is rolled back and the outcome's status is ``deferred``."""
        with self.uow_factory() as uow:
            action = uow.actions.claim_next(skip)
            if action is None:
                return None
            server = uow.servers.get(action.server_id or 0)
            if server is None:  # pragma: no cover - actions are only made for existing servers
                raise RuntimeError(f"action {action.id} names server {action.server_id}, which does not exist")
            log.info("action_claimed", action_id=action.id, command=action.command, server_id=server.id)
            try:
                carry_out = CARRY_OUT.get(action.command)
                if carry_out is None:
                    raise UpstreamFailure("unsupported_error", f"the worker does not know the command {action.command}")
                carry_out(self.upstream, self.quotas, uow, action, server)
            except UpstreamFailure as failure:
                self._failed(uow, action, server, failure)
            except Unavailable as exc:
                log.warning("action_deferred", action_id=action.id, command=action.command, error=exc.message)
                return Outcome(action.id, action.command, DEFERRED)
            uow.commit()
            log.info("action_finished", action_id=action.id, status=action.status, error_code=action.error_code)
            return Outcome(action.id, action.command, action.status)

    def _failed(self, uow: ComputeUnitOfWork, action: Action, server: Server, failure: UpstreamFailure) -> None:
        # Re-read under lock: the final write is the only one that touches the server row.
        current = uow.servers.get(server.id, for_update=True) or server
        now = utcnow()
        current.action_failed(action, failure.code, failure.message, now)
        uow.actions.save(action)
        uow.servers.save(current, now)
        log.warning("action_failed", action_id=action.id, code=failure.code, message=failure.message)

    def sweep(self) -> list[int]:
        """Delete upstream servers no live platform server owns; their upstream ids."""
        labelled = self.upstream.labelled()
        if not labelled:
            return []
        ids = {server.platform_id for server in labelled if server.platform_id is not None}
        with self.uow_factory() as uow:
            gone = uow.servers.deleted_ids(ids)
            recorded = uow.servers.recorded_upstream_ids(ids)
        strays = [
            server
            for server in labelled
            if server.platform_id is not None
            and (server.platform_id in gone or recorded.get(server.platform_id) not in (None, server.id))
        ]
        for stray in strays:
            log.warning("stray_upstream_server_deleted", server_id=stray.platform_id, upstream_id=stray.id)
            self.upstream.wait(self.upstream.delete(stray.id))
        return [stray.id for stray in strays]
