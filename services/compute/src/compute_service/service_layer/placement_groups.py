"""Placement group use cases: the tenant's groups (create, read, list, rename, delete) answered
at once, and servers joining or leaving one as actions the worker carries out upstream.

The platform's rows are the truth; upstream mirrors them. A group exists upstream only once a
server needs it there (the worker's ``ensure_placement_group`` finds it by its label or makes
it), so creating one asks nothing of upstream and a crash can leave no stray group behind.
Deleting one deletes upstream's first (whatever carries its label), then the row.

Membership: a server joins at creation (``placement_group``) or with
``add_to_placement_group``, recorded when the action starts, so the group's row lock makes the
limit of 10 exact under concurrency (an action that fails upstream takes it out again); it
leaves with ``remove_from_placement_group`` when that action has finished upstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from compute_service.domain import server_status as st
from compute_service.domain.placement_groups import (
    ADD,
    REMOVE,
    PlacementGroup,
    check_name,
    check_type,
    field_error,
)
from compute_service.domain.server_actions import ServerNotStopped
from compute_service.domain.servers import Action, Server, UpstreamFailure
from compute_service.domain.ssh_keys import check_labels
from compute_service.service_layer.ports import UpstreamServers
from compute_service.service_layer.server_actions import started
from compute_service.service_layer.servers import Reach, begin, live_server, upstream_group_id, upstream_server_of
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed
from cpshared.logging import get_logger
from hetzner_conventions.label_sql import LabelRequirement

log = get_logger(__name__)


def create(
    user_id: int, organization_id: int | None, name: str, kind: str, labels: Mapping[str, str], uow: ComputeUnitOfWork
) -> PlacementGroup:
    group = PlacementGroup(
        id=0,
        user_id=user_id,
        organization_id=organization_id,
        name=check_name(name),
        type=check_type(kind),
        labels=check_labels(dict(labels)),
    )
    with uow:
        uow.placement_groups.add(group, utcnow())
        group.created()
        uow.commit()
    log.info("placement_group_created", placement_group_id=group.id)
    return group


def _reached(group_id: int, reach: Reach, uow: ComputeUnitOfWork, *, for_update: bool = False) -> PlacementGroup:
    group = uow.placement_groups.get(group_id, for_update=for_update)
    if group is None:
        raise NotFound(f"placement group {group_id} does not exist")
    reach(group.user_id, group.organization_id)
    return group


def get(group_id: int, reach: Reach, uow: ComputeUnitOfWork) -> PlacementGroup:
    with uow:
        return _reached(group_id, reach, uow)


def update(
    group_id: int, name: str | None, labels: Mapping[str, str] | None, reach: Reach, uow: ComputeUnitOfWork
) -> PlacementGroup:
    new_name = check_name(name) if name is not None else None
    new_labels = check_labels(dict(labels)) if labels is not None else None
    with uow:
        group = _reached(group_id, reach, uow, for_update=True)
        if not group.update(new_name, new_labels):
            return group
        uow.placement_groups.save(group, utcnow())
        uow.commit()
    return group


def delete(group_id: int, reach: Reach, uow: ComputeUnitOfWork, upstream: UpstreamServers) -> None:
    """Delete an empty group, upstream's first (a group upstream never had is no error)."""
    with uow:
        group = _reached(group_id, reach, uow, for_update=True)
        group.ensure_empty()
        try:
            upstream.delete_placement_groups(group.id)
        except UpstreamFailure as failure:
            raise PreconditionFailed(f"upstream refused to delete the placement group: {failure.message}") from None
        group.delete()
        uow.placement_groups.delete(group)
        uow.commit()
    log.info("placement_group_deleted", placement_group_id=group_id)


@dataclass(frozen=True)
class Search:
    user_id: int | None
    organization_id: int | None
    name: str = ""
    types: Sequence[str] = ()
    requirements: Sequence[LabelRequirement] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def search(query: Search, uow: ComputeUnitOfWork) -> tuple[list[PlacementGroup], int]:
    for kind in query.types:
        check_type(kind)
    with uow:
        return uow.placement_groups.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            name=query.name,
            types=query.types,
            requirements=query.requirements,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )


# -- joining and leaving -------------------------------------------------------------------------


def add_server(server_id: int, group_id: int, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    """Start add_to_placement_group: the server (off, in no group) joins the tenant's group."""
    if group_id <= 0:
        raise field_error("placement_group", "placement_group must be the id of one of your placement groups")
    with uow:
        server = live_server(server_id, reach, uow)
        group = uow.placement_groups.get(group_id, for_update=True)
        if group is None or not group.same_tenant(server.user_id, server.organization_id):
            raise field_error("placement_group", f"placement group {group_id} does not exist")

        def check(current: Server) -> None:
            if current.placement_group_id is not None:
                raise InvalidInput(
                    f"server {current.id} is in placement group {current.placement_group_id} already; "
                    "remove it from that one first"
                )
            if current.status != st.STOPPED:
                raise ServerNotStopped(
                    f"server {current.id} is {current.status}; power it off before adding it to a placement group"
                )
            group.ensure_room_for_one()

        locked, action = begin(uow, server_id, ADD, reach, {"placement_group_id": group.id}, check=check)
        locked.placement_group_id = group.id
        uow.servers.save(locked, utcnow())
        uow.commit()
    return started(action)


def remove_server(server_id: int, reach: Reach, uow: ComputeUnitOfWork) -> Action:
    """Start remove_from_placement_group; the server leaves its group when upstream is done."""
    with uow:

        def check(current: Server) -> None:
            if current.placement_group_id is None:
                raise InvalidInput(f"server {current.id} is in no placement group")

        server = live_server(server_id, reach, uow)
        params = {"placement_group_id": server.placement_group_id or 0}
        _, action = begin(uow, server_id, REMOVE, reach, params, check=check)
        uow.commit()
    return started(action)


def carry_out(up: UpstreamServers, uow: ComputeUnitOfWork, action: Action, server: Server) -> None:
    """The worker's side of add_to_placement_group and remove_from_placement_group."""
    upstream_server = upstream_server_of(up, server)
    group_id = int(action.params.get("placement_group_id", 0))
    if action.command == ADD:
        upstream_action = up.add_to_placement_group(upstream_server.id, upstream_group_id(up, uow, group_id))
    else:
        upstream_action = up.remove_from_placement_group(upstream_server.id)
    up.wait(upstream_action)
    current = uow.servers.get(server.id, for_update=True) or server
    now = utcnow()
    if action.command == ADD:
        current.placement_group_changed(action, current.placement_group_id, 0, upstream_action, now)
    else:
        current.placement_group_changed(action, None, group_id, upstream_action, now)
    uow.servers.save(current, now)
    uow.actions.save(action)
