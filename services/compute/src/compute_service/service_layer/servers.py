"""Server use cases answered at once: create (catalog checked, quota reserved, server and
its action recorded), read, list, and starting the actions the worker carries out (delete,
power on, power off, reboot). Tenancy is checked by the caller's ``reach`` (adapters/
authorization.py): another tenant's server is NOT_FOUND.

A server is made from a system image (name or id) or from one of the tenant's own snapshots or
backups (by id; another tenant's is unknown here): one of the server type's architecture whose
disk fits the type's. Created without SSH keys (:func:`create_with_password`), upstream is asked
at once, inside the transaction that records the server, as enabling the rescue system is:
upstream makes the root password, which is answered to the caller this once; only its argon2id
hash is kept. The worker then adopts that upstream server by its label and waits for it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from compute_service.domain import server_status as st
from compute_service.domain.server_actions import SnapshotImage
from compute_service.domain.servers import (
    CREATE,
    Action,
    Server,
    UpstreamFailure,
    check_server_name,
    check_user_data,
)
from compute_service.domain.ssh_keys import check_labels
from compute_service.service_layer.ports import CreateSpec, Quotas, UpstreamServer, UpstreamServers, reservation_key
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import DomainError, InvalidInput, NotFound, PreconditionFailed, Unavailable
from cpshared.logging import get_logger
from hetzner_conventions.label_sql import LabelRequirement

log = get_logger(__name__)

COMMIT_MARGIN_SECONDS = 1.0
"""Time left before the caller's deadline that committing and answering needs."""

Reach = Callable[[int, int | None], None]
"""reach(user_id, organization_id) of a server: raises NOT_FOUND unless the caller reaches it."""


@dataclass(frozen=True)
class NewServer:
    user_id: int
    organization_id: int | None
    name: str
    server_type: str
    image: str
    datacenter: str
    ssh_key_ids: Sequence[int] = ()
    user_data: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    backups: bool = False
    backup_price_percent: Decimal | None = None
    """With ``backups``: the share of the server's prices they cost (billing's backup plan's, asked
    before the transaction); the backup period opened with the server keeps it."""
    start_after_create: bool = True
    placement_group_id: int = 0  # the tenant's placement group to create it in; 0: none


def _field_error(name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": [{"name": name, "messages": [message]}]})


def _same_tenant(user_id: int, organization_id: int | None, request: NewServer) -> bool:
    if request.organization_id is not None:
        return organization_id == request.organization_id
    return organization_id is None and user_id == request.user_id


def _own_image(request: NewServer, server_type: Any, uow: ComputeUnitOfWork) -> SnapshotImage | None:
    """The tenant's own snapshot or backup ``request.image`` names by id, checked against the
    server type (None when it names none of the tenant's: another tenant's is as unknown)."""
    if not request.image.isdigit():
        return None
    own = uow.images.get(int(request.image))
    if own is None or not _same_tenant(own.user_id, own.organization_id, request):
        return None
    if own.status != "available" or own.hetzner_id is None:
        raise _field_error("image", f"image {own.id} is {own.status}; wait until it is available")
    if own.architecture != server_type.architecture:
        raise _field_error(
            "image",
            f"image {own.id} is {own.architecture}; server type {server_type.code} is {server_type.architecture}",
        )
    if own.disk_size > int(server_type.disk_gb):
        raise _field_error(
            "server_type",
            f"image {own.id} needs a disk of at least {own.disk_size} GB; server type {server_type.code} has "
            f"{server_type.disk_gb} GB: choose a type with a disk of at least that size",
        )
    return own


def create(request: NewServer, quotas: Quotas, uow: ComputeUnitOfWork) -> tuple[Server, Action]:
    """Record the server and its create_server action for the worker (no root password)."""
    server, action, _ = _create(request, quotas, uow, None)
    return server, action


def create_with_password(
    request: NewServer,
    quotas: Quotas,
    uow: ComputeUnitOfWork,
    upstream: UpstreamServers,
    deadline: float | None = None,
) -> tuple[Server, Action, str]:
    """Create as :func:`create`; without SSH keys ask upstream at once and answer the root
    password it made (empty with SSH keys). Upstream refusing or failing changes nothing, and
    nothing is kept when the caller's ``deadline`` (time.monotonic()) has passed by the commit:
    a caller that gave up must not be left with a server whose password it never saw."""
    return _create(request, quotas, uow, None if request.ssh_key_ids else upstream, deadline)


def upstream_group_id(upstream: UpstreamServers, uow: ComputeUnitOfWork, group_id: int) -> int:
    """Upstream's id of the platform's group (made there now if it is not yet), recorded on the row."""
    group = uow.placement_groups.get(group_id, for_update=True)
    if group is None:
        raise UpstreamFailure("not_found", f"placement group {group_id} does not exist")
    upstream_id = upstream.ensure_placement_group(group.id, group.type)
    if group.hetzner_id != upstream_id:
        group.hetzner_id = upstream_id
        uow.placement_groups.save(group, utcnow())
    return upstream_id


def _upstream_now(server: Server, action: Action, upstream: UpstreamServers, uow: ComputeUnitOfWork) -> str:
    """Inside the uncommitted transaction: create the server upstream (labelled with its id, so
    the worker adopts it and the sweep ends it should this transaction not commit), keep the
    hash of the root password upstream made, and answer the password."""
    try:
        made, upstream_action, password = upstream.create_with_password(
            CreateSpec(
                platform_id=server.id,
                name=server.name,
                server_type=server.server_type,
                image=server.image,
                image_id=int(action.params.get("upstream_image_id", 0)),
                location=server.datacenter,
                user_data=server.user_data,
                labels=server.labels,
                ssh_key_ids=[],
                start_after_create=bool(action.params.get("start_after_create", True)),
                placement_group_id=upstream_group_id(upstream, uow, server.placement_group_id)
                if server.placement_group_id
                else 0,
            )
        )
    except UpstreamFailure as failure:
        raise PreconditionFailed(f"upstream refused to create the server: {failure.message}") from None
    if not password:
        raise PreconditionFailed("upstream answered no root password; try again")
    server.keep_root_password(password)
    uow.servers.save(server, utcnow())
    action.upstream_action_id = upstream_action or None
    uow.actions.save(action)
    log.info("server_created_upstream", server_id=server.id, upstream_id=made.id)
    return password


def _create(
    request: NewServer,
    quotas: Quotas,
    uow: ComputeUnitOfWork,
    upstream: UpstreamServers | None,
    deadline: float | None = None,
) -> tuple[Server, Action, str]:
    if request.backups and request.backup_price_percent is None:
        raise PreconditionFailed("backups are not offered: their price is not known")
    name = check_server_name(request.name)
    user_data = check_user_data(request.user_data)
    labels = check_labels(request.labels)
    with uow:
        server_type, datacenter, image = uow.servers.catalog_choice(
            request.server_type, request.datacenter, request.image
        )
        if server_type is None:
            raise _field_error("server_type", f"server type {request.server_type!r} does not exist")
        if datacenter is None:
            raise _field_error("datacenter", f"datacenter {request.datacenter!r} does not exist")
        if not server_type.available or datacenter.code not in (server_type.supported_datacenters or []):
            raise _field_error(
                "server_type",
                f"server type {server_type.code} is not offered in {datacenter.code}; "
                f"it is in: {', '.join(server_type.supported_datacenters or []) or 'no datacenter'}",
            )
        own = _own_image(request, server_type, uow) if image is None else None
        if image is None and own is None:
            raise _field_error(
                "image", f"image {request.image!r} does not exist for the {server_type.architecture} architecture"
            )
        params: dict[str, Any] = {} if request.start_after_create else {"start_after_create": False}
        if own is not None:
            params["upstream_image_id"] = own.hetzner_id
        key_ids = sorted(set(request.ssh_key_ids))
        for key_id in key_ids:
            key = uow.ssh_keys.get(key_id)
            if key is None or not _same_tenant(key.user_id, key.organization_id, request):
                raise _field_error("ssh_keys", f"SSH key {key_id} does not exist")
        group = None
        if request.placement_group_id:
            group = uow.placement_groups.get(request.placement_group_id, for_update=True)
            if group is None or not group.same_tenant(request.user_id, request.organization_id):
                raise _field_error("placement_group", f"placement group {request.placement_group_id} does not exist")
            group.ensure_room_for_one()
        server = Server(
            id=0,
            user_id=request.user_id,
            organization_id=request.organization_id,
            name=name,
            status=st.PROVISIONING,
            server_type_id=server_type.id,
            datacenter_id=datacenter.id,
            image_id=image.id if own is None else own.id,
            user_data=user_data,
            labels=labels,
            backup_enabled=request.backups,
            locked=True,
            ssh_key_ids=key_ids,
            server_type=server_type.code,
            datacenter=datacenter.code,
            placement_group_id=group.id if group is not None else None,
            image=image.name if own is None else own.name,
        )
        now = utcnow()
        uow.servers.add(server, now)
        if server.backup_enabled:
            uow.servers.set_backup_period(server.id, True, now, request.backup_price_percent)
        if group is not None:
            group.server_ids.append(server.id)
            server.placement_group = group
        action = uow.actions.add(Action.running(CREATE, server, params), now)
        server.created(action)
        # Reserved while the rows are uncommitted: a refusal rolls them back and nothing exists.
        # The key is the server's id, so a retried reservation counts once.
        reservation = reservation_key(server.id)
        quotas.reserve(reservation, server.user_id, server.organization_id)
        try:
            password = _upstream_now(server, action, upstream, uow) if upstream is not None else ""
            if deadline is not None and time.monotonic() > deadline - COMMIT_MARGIN_SECONDS:
                # The upstream server made is labelled with an id no committed server has: swept.
                raise Unavailable("creating the server upstream took too long; nothing was created: try again")
            uow.commit()
        except Exception:
            with contextlib.suppress(DomainError):
                quotas.release(reservation)
            raise
    log.info("server_created", server_id=server.id, action_id=action.id)
    return server, action, password


def live_server(server_id: int, reach: Reach, uow: ComputeUnitOfWork, *, for_update: bool = False) -> Server:
    """Inside ``uow``: the server unless it is deleted or the caller does not reach it (NOT_FOUND)."""
    server = uow.servers.get(server_id, for_update=for_update)
    if server is None or server.deleted_at is not None:
        raise NotFound(f"server {server_id} does not exist")
    reach(server.user_id, server.organization_id)
    return server


def get(server_id: int, reach: Reach, uow: ComputeUnitOfWork) -> Server:
    with uow:
        return live_server(server_id, reach, uow)


def start_action(server_id: int, command: str, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    """Record ``command`` for the worker and lock the server until it has finished."""
    with uow:
        _, action = begin(uow, server_id, command, reach)
        uow.commit()
    log.info("server_action_started", server_id=server_id, action_id=action.id, command=command)
    return action


def begin(
    uow: ComputeUnitOfWork,
    server_id: int,
    command: str,
    reach: Reach,
    params: dict[str, Any] | None = None,
    *,
    check: Callable[[Server], None] | None = None,
    image_id: int | None = None,
) -> tuple[Server, Action]:
    """Inside ``uow`` (uncommitted): the server the caller reaches begins ``command``
    (:meth:`Server.begin`: checked, locked, its version bumped) and the running action is added."""
    server = live_server(server_id, reach, uow, for_update=True)
    action = server.begin(command, params, check=check, image_id=image_id)
    now = utcnow()
    uow.servers.save(server, now)
    return server, uow.actions.add(action, now)


def one_upstream(upstream: UpstreamServers, server_id: int) -> UpstreamServer | None:
    """The oldest upstream server labelled ``server_id``; any younger ones (a retried create
    that landed twice) are deleted."""
    found = upstream.find(server_id)
    for stray in found[1:]:
        log.warning("duplicate_upstream_server_deleted", server_id=server_id, upstream_id=stray.id)
        upstream.wait(upstream.delete(stray.id))
    return found[0] if found else None


def upstream_server_of(upstream: UpstreamServers, server: Server) -> UpstreamServer:
    """The upstream server of ``server`` for the worker; UpstreamFailure when it has none."""
    found = one_upstream(upstream, server.id)
    if found is None:
        raise UpstreamFailure("not_found", f"server {server.id} has no upstream server")
    return found


def get_action(action_id: int, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    with uow:
        action = uow.actions.get(action_id)
    if action is None or action.user_id is None:
        raise NotFound(f"action {action_id} does not exist")
    reach(action.user_id, action.organization_id)
    return action


def list_actions(server_id: int, reach: Reach, uow: ComputeUnitOfWork) -> list[Action]:
    with uow:
        server = uow.servers.get(server_id)
        if server is None:
            raise NotFound(f"server {server_id} does not exist")
        reach(server.user_id, server.organization_id)
        return uow.actions.for_server(server_id)


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


def search(query: Search, uow: ComputeUnitOfWork) -> tuple[list[Server], int]:
    for status in query.statuses:
        if status not in st.STATUSES:
            raise InvalidInput(f"status {status!r} is unknown; use one of {', '.join(st.STATUSES)}")
    with uow:
        return uow.servers.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            name=query.name,
            statuses=query.statuses,
            requirements=query.requirements,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )
