"""The storage worker's use cases: carry out one running action upstream, and sweep upstream
for volumes nobody should have.

Claiming an action locks its row (SELECT ... FOR UPDATE SKIP LOCKED) for the transaction that
carries it out, and everything the action changes — volume, action, events — commits in that
same transaction at its end. A worker killed at any line leaves the action running and
unclaimed; the next worker starts it over, and every step is safe to repeat: creating looks the
volume's label up upstream first (and adopts what it finds), attaching and detaching look at
where upstream has the volume, resizing at its size, deleting deletes whatever carries the
label, and identity's quota release is idempotent.

A create request the dead worker sent may still land upstream after its successor looked and
made its own volume: the sweep deletes upstream volumes labelled with a deleted platform
volume, or with a live one that recorded another upstream id.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.errors import Unavailable
from cpshared.logging import get_logger
from storage_service.domain import volumes as v
from storage_service.domain.volumes import Action, UpstreamFailure, Volume
from storage_service.service_layer.ports import (
    Quotas,
    UpstreamVolume,
    UpstreamVolumes,
    VolumeSpec,
    count_key,
    size_key,
)
from storage_service.service_layer.unit_of_work import StorageUnitOfWork

log = get_logger(__name__)
DEFERRED = "deferred"

CarryOut = Callable[[UpstreamVolumes, Quotas, StorageUnitOfWork, Action, Volume], None]
"""Carries one running action out upstream and has the volume record the result, in the
worker's transaction; raises UpstreamFailure (the action fails) or Unavailable (left running)."""


@dataclass(frozen=True)
class Outcome:
    action_id: int
    command: str
    status: str


def _one(up: UpstreamVolumes, volume: Volume) -> UpstreamVolume:
    found = up.find(volume.id)
    if not found:
        raise UpstreamFailure("not_found", f"volume {volume.id} is not upstream")
    recorded = [f for f in found if f.id == volume.hetzner_id]
    return recorded[0] if recorded else found[0]


def _upstream_server(up: UpstreamVolumes, server_id: int) -> int:
    upstream_id = up.upstream_server_id(server_id)
    if upstream_id is None:
        raise UpstreamFailure("server_not_found", f"server {server_id} does not exist upstream")
    return upstream_id


def _attach_upstream(up: UpstreamVolumes, made: UpstreamVolume, server_id: int, automount: bool) -> int:
    target = _upstream_server(up, server_id)
    if made.server_id == target:
        return 0
    if made.server_id is not None:
        up.wait(up.detach(made.id))
    upstream_action = up.attach(made.id, target, automount)
    up.wait(upstream_action)
    return upstream_action


def _create(up: UpstreamVolumes, quotas: Quotas, uow: StorageUnitOfWork, action: Action, volume: Volume) -> None:
    found = up.find(volume.id)
    if found:
        made, upstream_action = found[0], 0
    else:
        spec = VolumeSpec(volume.id, volume.name, volume.size_gb, volume.location, volume.format, volume.labels)
        made, upstream_action = up.create(spec)
    up.wait(upstream_action)
    server_id = int(action.params.get("server_id") or 0)
    if server_id:
        _attach_upstream(up, made, server_id, bool(action.params.get("automount")))
    now = utcnow()
    volume.provisioned(action, made.id, now, upstream_action)
    uow.volumes.save(volume, now)
    uow.actions.save(action)


def _attach(up: UpstreamVolumes, quotas: Quotas, uow: StorageUnitOfWork, action: Action, volume: Volume) -> None:
    server_id = int(action.params["server_id"])
    upstream_action = _attach_upstream(up, _one(up, volume), server_id, bool(action.params.get("automount")))
    now = utcnow()
    volume.attached(action, server_id, now, upstream_action)
    uow.volumes.save(volume, now)
    uow.actions.save(action)


def _detach(up: UpstreamVolumes, quotas: Quotas, uow: StorageUnitOfWork, action: Action, volume: Volume) -> None:
    made = _one(up, volume)
    upstream_action = 0
    if made.server_id is not None:
        upstream_action = up.detach(made.id)
        up.wait(upstream_action)
    now = utcnow()
    volume.detached(action, now, upstream_action)
    uow.volumes.save(volume, now)
    uow.actions.save(action)


def _resize(up: UpstreamVolumes, quotas: Quotas, uow: StorageUnitOfWork, action: Action, volume: Volume) -> None:
    size_gb = int(action.params["size_gb"])
    made = _one(up, volume)
    upstream_action = 0
    if made.size_gb < size_gb:
        upstream_action = up.resize(made.id, size_gb)
        up.wait(upstream_action)
    now = utcnow()
    volume.resized(action, size_gb, now, upstream_action)
    uow.volumes.open_size_period(volume.id, size_gb, now)
    uow.volumes.save(volume, now)
    uow.actions.save(action)


def _delete(up: UpstreamVolumes, quotas: Quotas, uow: StorageUnitOfWork, action: Action, volume: Volume) -> None:
    for found in up.find(volume.id):
        if found.server_id is not None:
            up.wait(up.detach(found.id))
        up.delete(found.id)
    quotas.release(count_key(volume.id))
    for size in uow.actions.reserved_sizes(volume.id):
        quotas.release(size_key(volume.id, size))
    now = utcnow()
    volume.deleted(action, now)
    uow.volumes.save(volume, now)
    uow.actions.save(action)


CARRY_OUT: dict[str, CarryOut] = {
    v.CREATE: _create,
    v.ATTACH: _attach,
    v.DETACH: _detach,
    v.RESIZE: _resize,
    v.DELETE: _delete,
}
"""The worker's dispatch: each command it carries out upstream, and what carries it out."""


class Provisioner:
    def __init__(self, uow_factory: Callable[[], StorageUnitOfWork], upstream: UpstreamVolumes, quotas: Quotas) -> None:
        self.uow_factory = uow_factory
        self.upstream = upstream
        self.quotas = quotas

    def run_once(self, skip: Collection[int] = ()) -> Outcome | None:
        """Claim the oldest running action (not in ``skip``) and carry it out; None when there is none.
        Upstream that stays unavailable leaves it running (rolled back; status ``deferred``)."""
        with self.uow_factory() as uow:
            action = uow.actions.claim_next(skip)
            if action is None:
                return None
            volume = uow.volumes.get(action.volume_id, for_update=True)
            if volume is None:  # pragma: no cover - actions are only made for existing volumes
                raise RuntimeError(f"action {action.id} names volume {action.volume_id}, which does not exist")
            log.info("action_claimed", action_id=action.id, command=action.command, volume_id=volume.id)
            try:
                carry_out = CARRY_OUT.get(action.command)
                if carry_out is None:
                    raise UpstreamFailure("unsupported_error", f"the worker does not know the command {action.command}")
                carry_out(self.upstream, self.quotas, uow, action, volume)
            except UpstreamFailure as failure:
                self._failed(uow, action, volume, failure)
            except Unavailable as exc:
                log.warning("action_deferred", action_id=action.id, command=action.command, error=exc.message)
                return Outcome(action.id, action.command, DEFERRED)
            self._erase_if_pending(uow, volume)
            uow.commit()
            log.info("action_finished", action_id=action.id, status=action.status, error_code=action.error_code)
            return Outcome(action.id, action.command, action.status)

    def _erase_if_pending(self, uow: StorageUnitOfWork, volume: Volume) -> None:
        """Its account was erased while this action ran: its delete starts now (the next round)."""
        now = utcnow()
        erasure = volume.erase_pending(now)
        if erasure is not None:
            uow.actions.add(erasure, now)
            uow.volumes.save(volume, now)
            log.info("erasure_started", volume_id=volume.id, action_id=erasure.id)

    def _failed(self, uow: StorageUnitOfWork, action: Action, volume: Volume, failure: UpstreamFailure) -> None:
        now = utcnow()
        volume.action_failed(action, failure.code, failure.message, now)
        if action.command == v.RESIZE:
            self.quotas.release(size_key(volume.id, int(action.params["size_gb"])))
        uow.actions.save(action)
        uow.volumes.save(volume, now)
        log.warning("action_failed", action_id=action.id, code=failure.code, message=failure.message)

    def sweep(self) -> list[int]:
        """Delete upstream volumes no live platform volume owns; their upstream ids."""
        labelled = self.upstream.labelled()
        if not labelled:
            return []
        ids = {volume.platform_id for volume in labelled if volume.platform_id is not None}
        with self.uow_factory() as uow:
            gone = uow.volumes.deleted_ids(ids)
            recorded = uow.volumes.recorded_upstream_ids(ids)
        strays = [
            volume
            for volume in labelled
            if volume.platform_id is not None
            and (volume.platform_id in gone or recorded.get(volume.platform_id, 0) not in (0, volume.id))
        ]
        for stray in strays:
            log.warning("stray_upstream_volume_deleted", volume_id=stray.platform_id, upstream_id=stray.id)
            if stray.server_id is not None:
                self.upstream.wait(self.upstream.detach(stray.id))
            self.upstream.delete(stray.id)
        return [stray.id for stray in strays]
