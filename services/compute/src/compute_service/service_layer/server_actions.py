"""The server actions with parameters: started here (checked, recorded, the server locked),
carried out upstream by the worker (:func:`carry_out`, in the worker's one transaction), and
tenants' snapshot images.

Enabling the rescue system is asked of upstream at once, inside the transaction that records
the action: upstream makes the rescue root password, which is answered to the caller this once
and stored nowhere; the worker then only waits for upstream's action and records the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from cloudplatform.compute.v1 import events_pb2
from compute_service import SERVICE_NAME
from compute_service.domain.server_actions import (
    CHANGE_IMAGE_PROTECTION,
    CHANGE_TYPE,
    CREATE_IMAGE,
    DISABLE_RESCUE,
    ENABLE_RESCUE,
    IMAGE_TYPES,
    REBUILD,
    RESCUE_TYPES,
    SnapshotImage,
    check_type_change,
    ensure_can_rebuild,
    field_error,
)
from compute_service.domain.servers import ACTION_SUCCESS, Action, Server, UpstreamFailure, check_server_name
from compute_service.domain.ssh_keys import check_labels
from compute_service.service_layer.ports import UpstreamServers
from compute_service.service_layer.servers import Reach, begin, live_server, upstream_server_of
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import NotFound, PreconditionFailed
from cpshared.events import catalog as events
from cpshared.events.envelope import new_event
from cpshared.image_ids import is_backup_id
from cpshared.logging import get_logger

log = get_logger(__name__)
MAX_DESCRIPTION = 1000


def started(action: Action) -> Action:
    """Log the action a use case started and answer it."""
    log.info("server_action_started", server_id=action.server_id, action_id=action.id, command=action.command)
    return action


def _same_tenant(image: SnapshotImage, server: Server) -> bool:
    return image.organization_id == server.organization_id and (
        server.organization_id is not None or image.user_id == server.user_id
    )


def rebuild(server_id: int, image: str, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    """Start rebuilding from a system image (name or id), one of the tenant's snapshots (id) or
    one of the server's backups (id: a restore, announced as ``server.restore_started``);
    the worker asks upstream."""
    return _rebuild(server_id, image, reach, uow, None)[0]


def rebuild_with_password(
    server_id: int, image: str, reach: Reach, uow: ComputeUnitOfWork, upstream: UpstreamServers
) -> tuple[Action, str]:
    """As :func:`rebuild`, asking upstream at once (as enabling the rescue system does): the new
    root password upstream made is answered this once (empty when the server has SSH keys) and
    only its argon2id hash is kept; the worker then waits for upstream's action."""
    return _rebuild(server_id, image, reach, uow, upstream)


def _rebuild(
    server_id: int, image: str, reach: Reach, uow: ComputeUnitOfWork, upstream: UpstreamServers | None
) -> tuple[Action, str]:
    if not image:
        raise field_error("image", "image is required: the name or id of the image to rebuild from")
    with uow:
        server = live_server(server_id, reach, uow)
        params: dict[str, Any]
        own = uow.images.get(int(image)) if image.isdigit() else None
        if own is not None and _same_tenant(own, server):
            if own.status != "available" or own.hetzner_id is None:
                raise field_error("image", f"image {own.id} is {own.status}; wait until it is available")
            if own.architecture != server.server_type_architecture:
                raise field_error("image", f"image {own.id} is {own.architecture}, the server is not")
            if own.disk_size > server.disk_gb:
                raise field_error(
                    "image",
                    f"image {own.id} needs a disk of at least {own.disk_size} GB; the server's has {server.disk_gb} GB",
                )
            params = {"image_id": own.id, "upstream_image_id": own.hetzner_id}
        elif image.isdigit() and is_backup_id(int(image)):
            # One of the server's backups (storage's; compute follows them): a restore.
            backup_image = uow.server_backups.hetzner_id(int(image), server.id)
            if backup_image is None:
                raise field_error("image", f"backup {image} is not a backup of server {server.id}")
            params = {"image_id": int(image), "upstream_image_id": backup_image, "backup_id": int(image)}
        else:
            system = next(
                (
                    i
                    for i in uow.catalog.images()
                    if (str(i.id) == image or i.name == image) and i.architecture == server.server_type_architecture
                ),
                None,
            )
            if system is None:
                raise field_error("image", f"image {image!r} does not exist for this server's architecture")
            params = {"image_id": system.id, "image_name": system.name}
        server, action = begin(uow, server_id, REBUILD, reach, params, check=ensure_can_rebuild)
        if "backup_id" in params:
            server.restore_started(action, int(params["backup_id"]))
        password = ""
        if upstream is not None:
            if server.hetzner_id is None:
                raise PreconditionFailed(f"server {server.id} is not provisioned yet")
            try:
                upstream_action, password = upstream.rebuild_with_password(
                    server.hetzner_id,
                    image_name=str(params.get("image_name", "")),
                    image_id=int(params.get("upstream_image_id", 0)),
                )
            except UpstreamFailure as failure:
                raise PreconditionFailed(f"upstream refused to rebuild the server: {failure.message}") from None
            action.upstream_action_id = upstream_action or None
            uow.actions.save(action)
            # The rebuilt disk has upstream's new password, or none (SSH keys): the old hash goes.
            if password:
                server.keep_root_password(password)
            else:
                server.forget_root_password()
            uow.servers.save(server, utcnow())
        uow.commit()
    return started(action), password


def change_type(server_id: int, server_type: str, upgrade_disk: bool, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    with uow:
        row = uow.catalog.server_type_by_code(server_type, for_update=False)
        if row is None:
            raise field_error("server_type", f"server type {server_type!r} does not exist")

        def check(server: Server) -> None:
            check_type_change(
                server,
                code=row.code,
                architecture=row.architecture,
                disk_gb=int(row.disk_gb),
                available=bool(row.available),
                datacenters=list(row.supported_datacenters or []),
            )

        params = {"server_type_id": int(row.id), "server_type": row.code, "upgrade_disk": upgrade_disk}
        _, action = begin(uow, server_id, CHANGE_TYPE, reach, params, check=check)
        uow.commit()
    return started(action)


def enable_rescue(
    server_id: int,
    rescue_type: str,
    ssh_key_ids: Sequence[int],
    reach: Reach,
    uow: ComputeUnitOfWork,
    upstream: UpstreamServers,
) -> tuple[Action, str]:
    """The enable_rescue action and the rescue root password upstream made (Hetzner makes one with
    SSH keys too)."""
    rescue_type = rescue_type or RESCUE_TYPES[0]
    if rescue_type not in RESCUE_TYPES:
        raise field_error("type", f"rescue type {rescue_type!r} is unknown; use one of {', '.join(RESCUE_TYPES)}")
    with uow:
        server, action = begin(uow, server_id, ENABLE_RESCUE, reach, {"type": rescue_type})
        if server.hetzner_id is None:
            raise PreconditionFailed(f"server {server.id} is not provisioned yet")
        keys = []
        for key_id in sorted(set(ssh_key_ids)):
            key = uow.ssh_keys.get(key_id)
            if (
                key is None
                or key.organization_id != server.organization_id
                or (key.organization_id is None and key.user_id != server.user_id)
            ):
                raise field_error("ssh_keys", f"SSH key {key_id} does not exist")
            keys.append(upstream.ensure_ssh_key(key.id, key.public_key))
        try:
            upstream_action, password = upstream.enable_rescue(server.hetzner_id, rescue_type, keys)
        except UpstreamFailure as failure:
            raise PreconditionFailed(f"upstream refused to enable the rescue system: {failure.message}") from None
        action.upstream_action_id = upstream_action or None
        uow.actions.save(action)
        uow.commit()
    return started(action), password


def disable_rescue(server_id: int, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    with uow:

        def check(server: Server) -> None:
            if not server.rescue_enabled:
                raise PreconditionFailed(f"the rescue system of server {server.id} is not enabled")

        _, action = begin(uow, server_id, DISABLE_RESCUE, reach, check=check)
        uow.commit()
    return started(action)


def _image_event(uow: ComputeUnitOfWork, image: SnapshotImage, action_id: int) -> None:
    uow.record(
        new_event(
            events.IMAGE_CREATED,
            producer=SERVICE_NAME,
            aggregate_id=image.id,
            aggregate_version=1 if image.status == "creating" else 2,
            payload=events_pb2.ImageCreated(
                image_id=image.id,
                user_id=image.user_id,
                organization_id=image.organization_id or 0,
                type=image.type,
                server_id=image.server_id or 0,
                status=image.status,
                action_id=action_id,
                size_gb="" if image.size_gb is None else f"{image.size_gb:.2f}",
            ),
        )
    )


def create_image(
    server_id: int,
    image_type: str,
    description: str,
    labels: Mapping[str, str],
    reach: Reach,
    uow: ComputeUnitOfWork,
) -> tuple[SnapshotImage, Action]:
    image_type = image_type or "snapshot"
    if image_type not in IMAGE_TYPES:
        raise field_error("type", f"type must be one of {', '.join(IMAGE_TYPES)}")
    if len(description) > MAX_DESCRIPTION:
        raise field_error("description", f"description is longer than {MAX_DESCRIPTION} characters")
    checked = check_labels(dict(labels))
    with uow:
        server = live_server(server_id, reach, uow)
        source = uow.catalog.images()
        flavor = next(((i.os_flavor, i.os_version) for i in source if i.id == server.image_id), ("unknown", ""))
        now = utcnow()
        image = uow.images.add(
            SnapshotImage(
                id=0,
                user_id=server.user_id,
                organization_id=server.organization_id,
                type=image_type,
                description=description or f"{server.name}-{now:%Y-%m-%dT%H:%M:%SZ}",
                status="creating",
                architecture=server.server_type_architecture or "x86",
                server_id=server.id,
                server_name=server.name,
                os_flavor=flavor[0],
                os_version=flavor[1],
                disk_size=server.disk_gb,
                labels=checked,
            ),
            now,
        )
        _, action = begin(uow, server_id, CREATE_IMAGE, reach, {"image_id": image.id}, image_id=image.id)
        _image_event(uow, image, action.id)
        uow.commit()
    return image, started(action)


# -- tenants' images ---------------------------------------------------------------------------


def list_own_images(user_id: int | None, organization_id: int | None, uow: ComputeUnitOfWork) -> list[SnapshotImage]:
    with uow:
        return uow.images.of_tenant(user_id, organization_id)


def _own_image(image_id: int, reach: Reach, uow: ComputeUnitOfWork, *, for_update: bool = False) -> SnapshotImage:
    image = uow.images.get(image_id, for_update=for_update)
    if image is None:
        raise NotFound(f"image {image_id} does not exist")
    reach(image.user_id, image.organization_id)
    return image


def get_image(image_id: int, reach: Reach, uow: ComputeUnitOfWork) -> SnapshotImage:
    with uow:
        return _own_image(image_id, reach, uow)


def update_image(
    image_id: int, description: str | None, labels: Mapping[str, str] | None, reach: Reach, uow: ComputeUnitOfWork
) -> SnapshotImage:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise field_error("description", f"description is longer than {MAX_DESCRIPTION} characters")
    checked = check_labels(dict(labels)) if labels is not None else None
    with uow:
        image = _own_image(image_id, reach, uow, for_update=True)
        fields = []
        if description is not None and description != image.description:
            image.description = description
            fields.append("description")
        if checked is not None and checked != image.labels:
            image.labels = checked
            fields.append("labels")
        if fields:
            uow.images.save(image, utcnow())
            uow.record(
                new_event(
                    events.IMAGE_UPDATED,
                    producer=SERVICE_NAME,
                    aggregate_id=image.id,
                    aggregate_version=1,
                    payload=events_pb2.ImageUpdated(
                        image_id=image.id,
                        user_id=image.user_id,
                        organization_id=image.organization_id or 0,
                        fields=fields,
                    ),
                )
            )
        uow.commit()
        return image


def delete_image(image_id: int, reach: Reach, uow: ComputeUnitOfWork, upstream: UpstreamServers) -> None:
    """Delete a tenant's image, upstream first (one that is gone upstream already is no error)."""
    with uow:
        image = _own_image(image_id, reach, uow, for_update=True)
        image.ensure_can_delete()
        if image.hetzner_id is not None:
            try:
                upstream.delete_image(image.hetzner_id)
            except UpstreamFailure as failure:
                raise PreconditionFailed(f"upstream refused to delete the image: {failure.message}") from None
        uow.images.delete(image.id)
        uow.record(
            new_event(
                events.IMAGE_DELETED,
                producer=SERVICE_NAME,
                aggregate_id=image.id,
                aggregate_version=2,
                payload=events_pb2.ImageDeleted(
                    image_id=image.id, user_id=image.user_id, organization_id=image.organization_id or 0
                ),
            )
        )
        uow.commit()
    log.info("image_deleted", image_id=image_id)


def change_image_protection(image_id: int, delete: bool | None, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    """Protect a tenant's image against deletion (or lift it) now: the platform's own protection,
    as a server's is, so its change_protection action is answered finished."""
    if delete is None:
        raise field_error("delete", "delete is required: true protects the image against deletion, false lifts it")
    with uow:
        image = _own_image(image_id, reach, uow, for_update=True)
        image.protection_delete = delete
        now = utcnow()
        uow.images.save(image, now)
        action = uow.actions.add(
            Action(
                id=0,
                command=CHANGE_IMAGE_PROTECTION,
                status=ACTION_SUCCESS,
                server_id=None,
                user_id=image.user_id,
                organization_id=image.organization_id,
                progress=100,
                finished=now,
                params={"delete": delete},
                image_id=image.id,
            ),
            now,
        )
        uow.actions.save(action)  # add() writes what a new action has; the finish time too
        uow.record(
            new_event(
                events.IMAGE_PROTECTION_CHANGED,
                producer=SERVICE_NAME,
                aggregate_id=image.id,
                aggregate_version=1,
                payload=events_pb2.ImageProtectionChanged(
                    image_id=image.id,
                    user_id=image.user_id,
                    organization_id=image.organization_id or 0,
                    delete=image.protection_delete,
                    action_id=action.id,
                ),
            )
        )
        uow.commit()
    log.info("image_protection_changed", image_id=image_id, action_id=action.id, delete=delete)
    return action


def image_actions(image_id: int, reach: Reach, uow: ComputeUnitOfWork) -> list[Action]:
    """The actions about one of the tenant's images, newest first."""
    with uow:
        _own_image(image_id, reach, uow)
        return uow.actions.for_image(image_id)


# -- the worker's side -------------------------------------------------------------------------


def carry_out(up: UpstreamServers, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
    """Carry ``action`` (one of domain.server_actions.COMMANDS) out upstream and have the server
    record the result; raises UpstreamFailure (the caller records it) or Unavailable (left for later)."""
    params = action.params
    upstream_server = upstream_server_of(up, server)
    image: SnapshotImage | None = None
    if action.command == REBUILD:
        # Asked for when the action was started (rebuild_with_password), else now.
        upstream_action = action.upstream_action_id or up.rebuild(
            upstream_server.id,
            image_name=str(params.get("image_name", "")),
            image_id=int(params.get("upstream_image_id", 0)),
        )
    elif action.command == CHANGE_TYPE:
        upstream_action = up.change_type(upstream_server.id, str(params["server_type"]), bool(params["upgrade_disk"]))
    elif action.command == ENABLE_RESCUE:
        upstream_action = action.upstream_action_id or 0  # asked for when the action was started
    elif action.command == DISABLE_RESCUE:
        upstream_action = up.disable_rescue(upstream_server.id)
    elif action.command == CREATE_IMAGE:
        image = uow.images.get(int(params["image_id"]), for_update=True)
        if image is None:
            raise UpstreamFailure("not_found", f"image {params['image_id']} was deleted")
        hetzner_image, upstream_action = up.create_image(
            upstream_server.id, image.id, image.type, image.description, image.labels
        )
        image.hetzner_id = hetzner_image
        try:
            up.wait(upstream_action)
        except UpstreamFailure:
            uow.images.delete(image.id)
            raise
        made = up.image(hetzner_image)
        image.status = "available"
        image.size_gb = None if made.size_gb is None else Decimal(str(made.size_gb))
        uow.images.save(image, utcnow())
        _image_event(uow, image, action.id)
    else:  # pragma: no cover - the worker dispatches only COMMANDS here
        raise UpstreamFailure("unsupported_error", f"the worker does not know the command {action.command}")
    if action.command != CREATE_IMAGE:
        try:
            up.wait(upstream_action)
        except UpstreamFailure:
            if action.command == REBUILD:
                failed = uow.servers.get(server.id, for_update=True) or server
                failed.forget_root_password()
                uow.servers.save(failed, utcnow())
            raise

    current = uow.servers.get(server.id, for_update=True) or server
    now = utcnow()
    if action.command == REBUILD:
        current.rebuilt(action, int(params["image_id"]), upstream_action, now)
    elif action.command == CHANGE_TYPE:
        new_type = uow.catalog.server_type(int(params["server_type_id"])) if params["upgrade_disk"] else None
        current.type_changed(
            action,
            server_type_id=int(params["server_type_id"]),
            server_type=str(params["server_type"]),
            disk_gb=int(new_type.disk_gb) if new_type is not None else None,
            upstream_action_id=upstream_action,
            now=now,
        )
    elif action.command in (ENABLE_RESCUE, DISABLE_RESCUE):
        current.rescue_changed(action, action.command == ENABLE_RESCUE, upstream_action, now)
    else:
        current.finished(action, upstream_action, now)
    uow.servers.save(current, now)
    if action.command == CHANGE_TYPE:
        uow.servers.open_type_period(current.id, current.server_type_id, now)
    uow.actions.save(action)
    if image is not None:
        log.info("image_available", image_id=image.id, upstream_id=image.hetzner_id)


# -- rename and relabel, the tenant's actions, metrics -----------------------------------------


def update_server(
    server_id: int, name: str | None, labels: Mapping[str, str] | None, reach: Reach, uow: ComputeUnitOfWork
) -> Server:
    new_name = check_server_name(name) if name is not None else None
    checked = check_labels(dict(labels)) if labels is not None else None
    with uow:
        server = live_server(server_id, reach, uow, for_update=True)
        if server.update(new_name, checked):
            uow.servers.rename(server, utcnow())
        uow.commit()
    return server


ACTION_STATUSES = ("running", "success", "error")
ACTION_SORT = ("id", "command", "status", "started", "finished")
ACTION_RESOURCE_TYPES = ("server", "image")


def tenant_actions(
    user_id: int,
    organization_id: int | None,
    statuses: Sequence[str],
    order: Sequence[tuple[str, bool]],
    page: int,
    per_page: int,
    uow: ComputeUnitOfWork,
    *,
    resource_type: str = "server",
    ids: Sequence[int] = (),
) -> tuple[list[Action], int]:
    """A page of the tenant's actions about servers (``resource_type`` "image": about images)."""
    if resource_type not in ACTION_RESOURCE_TYPES:
        raise field_error("resource_type", f"resource_type must be one of {', '.join(ACTION_RESOURCE_TYPES)}")
    for status in statuses:
        if status not in ACTION_STATUSES:
            raise field_error("status", f"status {status!r} is unknown; use one of {', '.join(ACTION_STATUSES)}")
    for key, _ in order:
        if key not in ACTION_SORT:
            raise field_error("sort", f"sort key {key!r} is unknown; use one of {', '.join(ACTION_SORT)}")
    with uow:
        return uow.actions.of_tenant(
            user_id,
            organization_id,
            statuses,
            order,
            (max(page, 1) - 1) * per_page,
            per_page,
            resource_type=resource_type,
            ids=ids,
        )


METRIC_TYPES = ("cpu", "disk", "network")


def metrics(
    server_id: int,
    types: Sequence[str],
    start: Any,
    end: Any,
    step: int,
    reach: Reach,
    uow: ComputeUnitOfWork,
    upstream: UpstreamServers,
) -> Any:
    """Upstream's metrics of the server (hcloud's Metrics), asked for at once."""
    if not types or any(kind not in METRIC_TYPES for kind in types):
        raise field_error("type", f"type must be one or more of {', '.join(METRIC_TYPES)}")
    if end <= start:
        raise field_error("end", "end must be after start")
    with uow:
        server = live_server(server_id, reach, uow)
    if server.hetzner_id is None:
        raise PreconditionFailed(f"server {server_id} is not provisioned yet")
    try:
        return upstream.metrics(server.hetzner_id, list(types), start, end, step or None)
    except UpstreamFailure as failure:
        raise PreconditionFailed(f"upstream refused the metrics: {failure.message}") from None
