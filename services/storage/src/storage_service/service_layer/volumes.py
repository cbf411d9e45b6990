"""Volume use cases: create, read, list, update answered at once; delete, attach, detach and
resize as actions the worker carries out upstream; delete protection changed at once (it is the
platform's rule, upstream need not know it).

Quotas (identity's ``ReserveQuota``, idempotent by key) are reserved in the transaction that
makes the change, before it commits: one ``volume`` and the size's ``volume_gb`` at creation,
the difference at a resize. The worker releases them when the volume is gone (and a resize's
when upstream refused it). Server facts (whose, where, alive) come from compute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, DomainError, LimitExceeded, NotFound
from cpshared.logging import get_logger
from hetzner_conventions.label_sql import LabelRequirement
from storage_service.domain import volumes as v
from storage_service.domain.volumes import Action, ServerInfo, Volume, field_error
from storage_service.service_layer.ports import (
    VOLUME_GB_QUOTA,
    VOLUMES_QUOTA,
    Quotas,
    Servers,
    count_key,
    size_key,
)
from storage_service.service_layer.unit_of_work import StorageUnitOfWork

log = get_logger(__name__)

Reach = Callable[[int, int | None], None]
"""Raises NotFound unless the caller reaches a resource of (user id, organization id)."""


@dataclass(frozen=True)
class CreateVolume:
    user_id: int
    organization_id: int | None
    name: str
    size_gb: int
    location: str = ""
    server_id: int = 0
    automount: bool = False
    format: str = ""
    labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Created:
    volume: Volume
    action: Action


def _server_of_tenant(servers: Servers, server_id: int, user_id: int, organization_id: int | None) -> ServerInfo:
    """The tenant's live server; another tenant's, a deleted or an unknown one is NOT_FOUND."""
    server = servers.server(server_id)
    if server is None or not server.live:
        raise NotFound(f"server {server_id} does not exist")
    if server.organization_id is not None:
        if organization_id != server.organization_id:
            raise NotFound(f"server {server_id} does not exist")
    elif organization_id is not None or user_id != server.user_id:
        raise NotFound(f"server {server_id} does not exist")
    return server


def _ensure_name_free(uow: StorageUnitOfWork, user_id: int, organization_id: int | None, name: str, own: int) -> None:
    found, _ = uow.volumes.search(
        user_id=None if organization_id else user_id,
        organization_id=organization_id,
        name=name,
        statuses=(),
        requirements=(),
        order=(),
        offset=0,
        limit=2,
    )
    if any(volume.id != own for volume in found):
        raise AlreadyExists(
            f"a volume named {name!r} exists already; choose another name",
            details={"fields": [{"name": "name", "messages": ["already exists"]}]},
        )


def create(cmd: CreateVolume, uow: StorageUnitOfWork, servers: Servers, quotas: Quotas) -> Created:
    v.check_name(cmd.name)
    v.check_size(cmd.size_gb)
    v.check_format(cmd.format)
    if bool(cmd.location) == bool(cmd.server_id):
        raise field_error("location", "give either location or server, not both and not neither")
    if cmd.automount and not cmd.server_id:
        raise field_error("automount", "automount needs a server to mount the volume on")
    server = _server_of_tenant(servers, cmd.server_id, cmd.user_id, cmd.organization_id) if cmd.server_id else None
    location = server.location if server is not None else cmd.location
    datacenter_id = servers.datacenter_id(location)
    if datacenter_id is None:
        raise field_error("location", f"location {location!r} does not exist")
    volume = Volume.new(
        user_id=cmd.user_id,
        organization_id=cmd.organization_id,
        name=cmd.name,
        size_gb=cmd.size_gb,
        location=location,
        datacenter_id=datacenter_id,
        fmt=cmd.format,
        labels=dict(cmd.labels or {}),
    )
    with uow:
        _ensure_name_free(uow, cmd.user_id, cmd.organization_id, cmd.name, 0)
        if server is not None:
            uow.volumes.lock_server(server.id)
            if uow.volumes.count_on_server(server.id) >= v.MAX_PER_SERVER:
                raise LimitExceeded(
                    f"server {server.id} has {v.MAX_PER_SERVER} volumes already, the most a server holds"
                )
        now = utcnow()
        uow.volumes.add(volume, now)
        uow.volumes.open_size_period(volume.id, volume.size_gb, now)
        action = volume.created(server.id if server is not None else None)
        action.params.update(size_gb=volume.size_gb, automount=cmd.automount)
        if server is not None:
            volume.server_id = server.id  # its slot on the server, held while it is made
        uow.actions.add(action, now)
        uow.volumes.save(volume, now)
        reservations = [
            (count_key(volume.id), VOLUMES_QUOTA, 1),
            (size_key(volume.id, volume.size_gb), VOLUME_GB_QUOTA, volume.size_gb),
        ]
        _reserved_then(quotas, reservations, cmd.user_id, cmd.organization_id, uow.commit)
    log.info("volume_created", volume_id=volume.id, size_gb=volume.size_gb, location=location)
    return Created(volume, action)


def _reserved_then(
    quotas: Quotas,
    reservations: Sequence[tuple[str, str, int]],
    user_id: int,
    organization_id: int | None,
    commit: Callable[[], None],
) -> None:
    """Reserve each (key, resource type, amount), then ``commit``; if a reservation is refused or
    the commit fails, the ones made are released again (nothing is left held for a change that
    did not happen)."""
    made: list[str] = []
    try:
        for key, resource_type, amount in reservations:
            quotas.reserve(key, resource_type, amount, user_id, organization_id)
            made.append(key)
        commit()
    except BaseException:
        for key in made:
            try:
                quotas.release(key)
            except DomainError as exc:  # the reservation outlives this request; the caller sees the first error
                log.warning("quota_release_failed", reservation_key=key, error=exc.message)
        raise


def _reached(volume_id: int, reach: Reach, uow: StorageUnitOfWork, *, for_update: bool = False) -> Volume:
    """The live volume the caller reaches; one being deleted is gone already (as Hetzner answers
    once DELETE returned), though its row lives until the worker has removed it upstream."""
    volume = uow.volumes.get(volume_id, for_update=for_update)
    if volume is None or not volume.live or volume.status == v.DELETING:
        raise NotFound(f"volume {volume_id} does not exist")
    reach(volume.user_id, volume.organization_id)
    return volume


def get(volume_id: int, reach: Reach, uow: StorageUnitOfWork) -> Volume:
    with uow:
        return _reached(volume_id, reach, uow)


@dataclass(frozen=True)
class Search:
    user_id: int | None
    organization_id: int | None
    name: str = ""
    statuses: Sequence[str] = ()
    requirements: Sequence[LabelRequirement] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def search(query: Search, uow: StorageUnitOfWork) -> tuple[list[Volume], int]:
    v.check_statuses(list(query.statuses))
    with uow:
        return uow.volumes.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            name=query.name,
            statuses=query.statuses,
            requirements=query.requirements,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )


def update(
    volume_id: int, name: str | None, labels: Mapping[str, str] | None, reach: Reach, uow: StorageUnitOfWork
) -> Volume:
    if name is not None:
        v.check_name(name)
    with uow:
        volume = _reached(volume_id, reach, uow, for_update=True)
        if name is not None and name != volume.name:
            _ensure_name_free(uow, volume.user_id, volume.organization_id, name, volume.id)
        if volume.update(name, dict(labels) if labels is not None else None):
            uow.volumes.save(volume, utcnow())
            uow.commit()
    return volume


def _start(uow: StorageUnitOfWork, volume: Volume, action: Action) -> Action:
    now = utcnow()
    uow.actions.add(action, now)
    uow.volumes.save(volume, now)
    return action


def delete(volume_id: int, reach: Reach, uow: StorageUnitOfWork) -> Action:
    with uow:
        volume = _reached(volume_id, reach, uow, for_update=True)
        action = volume.begin(v.DELETE, {}, check=Volume.check_delete)
        volume.deleting()
        _start(uow, volume, action)
        uow.commit()
    return action


def attach(
    volume_id: int, server_id: int, automount: bool, reach: Reach, uow: StorageUnitOfWork, servers: Servers
) -> Action:
    if server_id <= 0:
        raise field_error("server", "server must be the id of one of your servers")
    with uow:
        volume = _reached(volume_id, reach, uow)
    server = _server_of_tenant(servers, server_id, volume.user_id, volume.organization_id)
    with uow:
        uow.volumes.lock_server(server.id)
        volume = _reached(volume_id, reach, uow, for_update=True)
        attached_there = uow.volumes.count_on_server(server.id)
        action = volume.begin(
            v.ATTACH,
            {"server_id": server.id, "automount": automount},
            check=lambda current: current.check_attach(server, attached_there),
        )
        volume.server_id = server.id  # its slot on the server, held while it attaches
        _start(uow, volume, action)
        uow.commit()
    return action


def detach(volume_id: int, reach: Reach, uow: StorageUnitOfWork) -> Action:
    with uow:
        volume = _reached(volume_id, reach, uow, for_update=True)
        action = volume.begin(v.DETACH, {}, check=Volume.check_detach)
        volume.detaching()
        _start(uow, volume, action)
        uow.commit()
    return action


def resize(volume_id: int, size_gb: int, reach: Reach, uow: StorageUnitOfWork, quotas: Quotas) -> Action:
    with uow:
        volume = _reached(volume_id, reach, uow, for_update=True)
        action = volume.begin(v.RESIZE, {"size_gb": size_gb}, check=lambda current: current.check_resize(size_gb))
        _start(uow, volume, action)
        reservations = [(size_key(volume.id, size_gb), VOLUME_GB_QUOTA, size_gb - volume.size_gb)]
        _reserved_then(quotas, reservations, volume.user_id, volume.organization_id, uow.commit)
    return action


def change_protection(volume_id: int, delete: bool | None, reach: Reach, uow: StorageUnitOfWork) -> Action:
    """Finished at once: the protection is the platform's rule."""
    with uow:
        volume = _reached(volume_id, reach, uow, for_update=True)
        wanted = volume.protection_delete if delete is None else delete
        action = volume.begin(v.CHANGE_PROTECTION, {"delete": wanted})
        uow.actions.add(action, utcnow())
        volume.protection_changed(action, wanted, utcnow())
        uow.actions.save(action)
        uow.volumes.save(volume, utcnow())
        uow.commit()
    return action


def get_action(action_id: int, volume_id: int, reach: Reach, uow: StorageUnitOfWork) -> Action:
    with uow:
        action = uow.actions.get(action_id)
        if action is None or (volume_id and action.volume_id != volume_id):
            raise NotFound(f"action {action_id} does not exist")
        reach(action.user_id, action.organization_id)
        return action


@dataclass(frozen=True)
class ActionSearch:
    user_id: int
    organization_id: int | None
    volume_id: int = 0
    ids: Sequence[int] = ()
    statuses: Sequence[str] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def list_actions(query: ActionSearch, reach: Reach, uow: StorageUnitOfWork) -> tuple[list[Action], int]:
    with uow:
        if query.volume_id:
            _reached(query.volume_id, reach, uow)
        return uow.actions.of_tenant(
            query.user_id,
            query.organization_id,
            volume_id=query.volume_id,
            ids=query.ids,
            statuses=query.statuses,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )


def server_volumes(server_ids: Sequence[int], reach: Reach, uow: StorageUnitOfWork) -> dict[int, list[int]]:
    """The ids of the attached volumes of each server named, those the caller reaches."""
    found: dict[int, list[int]] = {}
    with uow:
        for server_id, attached in uow.volumes.on_servers(server_ids).items():
            for volume in attached:
                try:
                    reach(volume.user_id, volume.organization_id)
                except NotFound:
                    continue
                found.setdefault(server_id, []).append(volume.id)
    return found
