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

from cloudplatform.compute.v1 import events_pb2
from compute_service import SERVICE_NAME
from compute_service.adapters.quotas import Quotas, reservation_key
from compute_service.adapters.upstream_servers import CreateSpec, HcloudServers, UpstreamServer
from compute_service.domain import placement_groups, server_actions, server_settings
from compute_service.domain import server_status as st
from compute_service.domain.servers import (
    ACTION_ERROR,
    ACTION_SUCCESS,
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
from compute_service.service_layer.servers import upstream_group_id
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.events import catalog as events
from cpshared.events.envelope import new_event
from cpshared.logging import get_logger

log = get_logger(__name__)
DEFERRED = "deferred"


@dataclass(frozen=True)
class Outcome:
    action_id: int
    command: str
    status: str


def _status_changed(uow: ComputeUnitOfWork, server: Server, old: str, action: Action, error_code: str = "") -> None:
    uow.record(
        new_event(
            events.SERVER_STATUS_CHANGED,
            producer=SERVICE_NAME,
            aggregate_id=server.id,
            aggregate_version=server.version,
            payload=events_pb2.ServerStatusChanged(
                server_id=server.id,
                user_id=server.user_id,
                organization_id=server.organization_id or 0,
                old_status=old,
                status=server.status,
                action_id=action.id,
                error_code=error_code,
            ),
        )
    )


class Provisioner:
    def __init__(self, uow_factory: Callable[[], ComputeUnitOfWork], upstream: HcloudServers, quotas: Quotas) -> None:
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
                if action.command == CREATE:
                    self._create(uow, action, server)
                elif action.command == DELETE:
                    self._delete(uow, action, server)
                elif action.command in POWER_RESULT:
                    self._power(uow, action, server)
                elif action.command in server_actions.COMMANDS:
                    server_actions_worker.carry_out(self, uow, action, server)
                elif action.command in server_settings.COMMANDS:
                    server_settings_worker.carry_out(self, uow, action, server)
                elif action.command in placement_groups.COMMANDS:
                    placement_groups_worker.carry_out(self, uow, action, server)
                else:
                    raise UpstreamFailure("unsupported_error", f"the worker does not know the command {action.command}")
            except UpstreamFailure as failure:
                self._failed(uow, action, server, failure)
            except Unavailable as exc:
                log.warning("action_deferred", action_id=action.id, command=action.command, error=exc.message)
                return Outcome(action.id, action.command, DEFERRED)
            uow.commit()
            log.info("action_finished", action_id=action.id, status=action.status, error_code=action.error_code)
            return Outcome(action.id, action.command, action.status)

    def _finish(self, action: Action) -> None:
        action.status = ACTION_SUCCESS
        action.progress = 100
        action.finished = utcnow()
        action.version += 1

    def _failed(self, uow: ComputeUnitOfWork, action: Action, server: Server, failure: UpstreamFailure) -> None:
        action.status = ACTION_ERROR
        action.progress = 100
        action.finished = utcnow()
        action.error_code, action.error_message = failure.code, failure.message
        action.version += 1
        uow.actions.save(action)
        # Re-read under lock: the final write is the only one that touches the server row.
        current = uow.servers.get(server.id, for_update=True) or server
        old = current.status
        current.locked = False
        current.version += 1
        if action.command == CREATE:
            current.status = st.ERROR
        placement_groups_worker.undo_on_failure(current, action)
        uow.servers.save(current, utcnow())
        if current.status != old:
            _status_changed(uow, current, old, action, failure.code)
        log.warning("action_failed", action_id=action.id, code=failure.code, message=failure.message)

    def _create(self, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
        keys = []
        for key_id in server.ssh_key_ids:
            key = uow.ssh_keys.get(key_id)
            if key is not None:
                keys.append(self.upstream.ensure_ssh_key(key.id, key.public_key))
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
            placement_group_id=upstream_group_id(self.upstream, uow, server.placement_group_id)
            if server.placement_group_id
            else 0,
            image_id=int(action.params.get("upstream_image_id", 0)),
        )
        # Created at once without SSH keys (servers.create_with_password): adopted here by its
        # label, waiting on the action recorded then.
        made, upstream_action = self.upstream.create(spec)
        upstream_action = upstream_action or action.upstream_action_id or 0
        self.upstream.wait(upstream_action)
        kept = self._one_upstream(server.id) or made
        while kept.status in ("initializing", "starting"):
            # Adopted from an earlier attempt whose action we no longer know: wait on the server.
            self.upstream.wait_a_moment()
            kept = self.upstream.get(kept.id)
        current = uow.servers.get(server.id, for_update=True) or server
        old = current.status
        current.hetzner_id = kept.id
        current.ipv4_address, current.ipv6_network, current.ipv6_address = kept.ipv4, kept.ipv6_network, kept.ipv6
        current.status = st.from_hetzner(kept.status)
        current.locked = False
        current.version += 1
        uow.servers.save(current, utcnow())
        action.upstream_action_id = upstream_action or None
        self._finish(action)
        uow.actions.save(action)
        _status_changed(uow, current, old, action)

    def _one_upstream(self, server_id: int) -> UpstreamServer | None:
        """The oldest upstream server labelled ``server_id``; any younger ones (a retried create
        that landed twice) are deleted."""
        found = self.upstream.find(server_id)
        for stray in found[1:]:
            log.warning("duplicate_upstream_server_deleted", server_id=server_id, upstream_id=stray.id)
            self.upstream.wait(self.upstream.delete(stray.id))
        return found[0] if found else None

    def _power(self, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
        upstream = self._one_upstream(server.id)
        if upstream is None:
            raise UpstreamFailure("not_found", f"server {server.id} has no upstream server")
        call = {
            POWER_ON: self.upstream.power_on,
            POWER_OFF: self.upstream.power_off,
            REBOOT: self.upstream.reboot,
            SHUTDOWN: self.upstream.shutdown,
            RESET: self.upstream.reset,
        }
        upstream_action = call[action.command](upstream.id)
        self.upstream.wait(upstream_action)
        current = uow.servers.get(server.id, for_update=True) or server
        old = current.status
        current.status = POWER_RESULT[action.command]
        current.locked = False
        current.version += 1
        uow.servers.save(current, utcnow())
        action.upstream_action_id = upstream_action or None
        self._finish(action)
        uow.actions.save(action)
        if current.status != old:
            _status_changed(uow, current, old, action)

    def _delete(self, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
        for upstream in self.upstream.find(server.id):
            self.upstream.wait(self.upstream.delete(upstream.id))
        self.quotas.release(reservation_key(server.id))
        current = uow.servers.get(server.id, for_update=True) or server
        current.status = st.DELETED
        current.deleted_at = utcnow()
        current.locked = False
        current.version += 1
        uow.servers.save(current, current.deleted_at)
        self._finish(action)
        uow.actions.save(action)
        uow.record(
            new_event(
                events.SERVER_DELETED,
                producer=SERVICE_NAME,
                aggregate_id=current.id,
                aggregate_version=current.version,
                payload=events_pb2.ServerDeleted(
                    server_id=current.id,
                    user_id=current.user_id,
                    organization_id=current.organization_id or 0,
                    name=current.name,
                    action_id=action.id,
                ),
            )
        )

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
