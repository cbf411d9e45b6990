"""Placement groups end to end below the gateway: the tenant's groups (unique names, labels,
another tenant's is not found), servers created in one or added and removed by the worker
through the real hcloud client against the simulator (the group made upstream when a server
first needs it, labelled with the platform's id), Hetzner's rules (10 servers, off to join,
no deleting a group with servers) and the events."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from compute_service.domain.placement_groups import InUse
from compute_service.domain.server_actions import ServerNotStopped
from compute_service.domain.servers import POWER_OFF, Locked, Server
from compute_service.service_layer import placement_groups, servers
from cpshared.errors import AlreadyExists, InvalidInput, LimitExceeded, NotFound
from tests.integration.compute.conftest import SIM_TOKEN
from tests.integration.compute.servers.conftest import Platform
from tests.integration.compute.servers.test_servers import _anyone, _drain, _new


def _only(user_id: int) -> servers.Reach:
    def reach(owner: int, organization_id: int | None) -> None:
        if owner != user_id or organization_id is not None:
            raise NotFound("not yours")

    return reach


def _upstream_groups(platform: Platform) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{platform.sim.url}/placement_groups", headers={"Authorization": f"Bearer {SIM_TOKEN}"}, timeout=5
    )
    answer.raise_for_status()
    return list(answer.json()["placement_groups"])


def _group_events(platform: Platform) -> list[str]:
    with platform.compute.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT event_type FROM outbox WHERE event_type LIKE 'placement_group.%' "
                    "OR event_type = 'server.placement_group_changed' ORDER BY id"
                )
            ).scalars()
        )


def _stopped(platform: Platform, name: str) -> Server:
    server, _ = servers.create(_new(platform, name), platform.compute.quotas, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    servers.start_action(server.id, POWER_OFF, _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    return servers.get(server.id, _anyone, platform.compute.uow())


def test_a_tenants_groups_are_unique_by_name_and_hidden_from_other_tenants(platform: Platform) -> None:
    uow = platform.compute.uow
    group = placement_groups.create(platform.user_id, None, "web", "spread", {"env": "prod"}, uow())
    assert (group.type, group.server_ids, group.version) == ("spread", [], 1)
    with pytest.raises(AlreadyExists):
        placement_groups.create(platform.user_id, None, "web", "spread", {}, uow())
    with pytest.raises(InvalidInput, match="type"):
        placement_groups.create(platform.user_id, None, "db", "cluster", {}, uow())
    with pytest.raises(InvalidInput, match="label"):
        placement_groups.create(platform.user_id, None, "db", "spread", {"bad key!": "x"}, uow())
    other_user = platform.new_user("other@example.com")
    theirs = placement_groups.create(other_user, None, "web", "spread", {}, uow())  # same name, other tenant
    with pytest.raises(NotFound):
        placement_groups.get(theirs.id, _only(platform.user_id), uow())
    with pytest.raises(NotFound):
        placement_groups.delete(theirs.id, _only(platform.user_id), uow(), platform.upstream())

    renamed = placement_groups.update(group.id, "web-2", {"env": "dev"}, _only(platform.user_id), uow())
    assert (renamed.name, renamed.labels, renamed.version) == ("web-2", {"env": "dev"}, 2)
    placement_groups.create(platform.user_id, None, "db", "spread", {"env": "prod"}, uow())
    found, total = placement_groups.search(
        placement_groups.Search(
            user_id=platform.user_id,
            organization_id=None,
            requirements=[cpb.LabelRequirement(key="env", operator="=", values=["dev"])],
            order=[("name", False)],
        ),
        uow(),
    )
    assert ([g.name for g in found], total) == (["web-2"], 1)
    everything = placement_groups.Search(user_id=platform.user_id, organization_id=None)
    mine, total = placement_groups.search(everything, uow())
    assert ([g.name for g in mine], total) == (["web-2", "db"], 2)
    placement_groups.delete(group.id, _only(platform.user_id), uow(), platform.upstream())
    with pytest.raises(NotFound):
        placement_groups.get(group.id, _anyone, uow())
    assert _group_events(platform) == [
        "placement_group.created",
        "placement_group.created",
        "placement_group.updated",
        "placement_group.created",
        "placement_group.deleted",
    ]
    assert _upstream_groups(platform) == []  # no server ever needed one upstream


def test_a_server_created_in_a_group_runs_in_its_upstream_group(platform: Platform) -> None:
    uow = platform.compute.uow
    group = placement_groups.create(platform.user_id, None, "spread", "spread", {}, uow())
    server, _ = servers.create(_new(platform, placement_group_id=group.id), platform.compute.quotas, uow())
    assert server.placement_group is not None and server.placement_group.server_ids == [server.id]
    assert _drain(platform.provisioner()) == ["success"]
    upstream = _upstream_groups(platform)
    assert [g["labels"] for g in upstream] == [{"cp_placement_group_id": str(group.id)}]
    assert platform.sim.labelled(server.id)[0]["placement_group"]["id"] == upstream[0]["id"]
    shown = servers.get(server.id, _anyone, uow())
    assert shown.placement_group is not None and shown.placement_group.name == "spread"
    assert placement_groups.get(group.id, _anyone, uow()).hetzner_id == upstream[0]["id"]
    with pytest.raises(InUse):
        placement_groups.delete(group.id, _anyone, uow(), platform.upstream())

    other_user = platform.new_user("other@example.com")
    with pytest.raises(InvalidInput, match="placement group"):  # another tenant's group
        servers.create(
            _new(platform, "intruder", user_id=other_user, placement_group_id=group.id), platform.compute.quotas, uow()
        )

    servers.start_action(server.id, "delete_server", _anyone, uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert placement_groups.get(group.id, _anyone, uow()).server_ids == []  # a deleted server left it
    placement_groups.delete(group.id, _anyone, uow(), platform.upstream())
    assert _upstream_groups(platform) == []


def test_a_stopped_server_joins_and_leaves_a_group_through_the_worker(platform: Platform) -> None:
    uow = platform.compute.uow
    group = placement_groups.create(platform.user_id, None, "db", "spread", {}, uow())
    server = _stopped(platform, "db-1")
    running, _ = servers.create(_new(platform, "db-2"), platform.compute.quotas, uow())
    assert _drain(platform.provisioner()) == ["success"]
    with pytest.raises(ServerNotStopped):
        placement_groups.add_server(running.id, group.id, _anyone, uow())
    with pytest.raises(InvalidInput, match="no placement group"):
        placement_groups.remove_server(server.id, _anyone, uow())

    action = placement_groups.add_server(server.id, group.id, _anyone, uow())
    assert action.command == "add_to_placement_group"
    assert placement_groups.get(group.id, _anyone, uow()).server_ids == [server.id]  # its place is held
    with pytest.raises(Locked):  # its add is running
        placement_groups.add_server(server.id, group.id, _anyone, uow())
    assert _drain(platform.provisioner()) == ["success"]
    with pytest.raises(InvalidInput, match="already"):
        placement_groups.add_server(server.id, group.id, _anyone, uow())
    upstream_group = _upstream_groups(platform)[0]
    assert upstream_group["servers"] == [platform.sim.labelled(server.id)[0]["id"]]

    action = placement_groups.remove_server(server.id, _anyone, uow())
    assert action.command == "remove_from_placement_group"
    assert _drain(platform.provisioner()) == ["success"]
    assert servers.get(server.id, _anyone, uow()).placement_group is None
    assert _upstream_groups(platform)[0]["servers"] == []
    assert _group_events(platform)[-2:] == ["server.placement_group_changed", "server.placement_group_changed"]


def test_an_add_that_fails_upstream_takes_the_server_out_of_the_group_again(platform: Platform) -> None:
    uow = platform.compute.uow
    group = placement_groups.create(platform.user_id, None, "db", "spread", {}, uow())
    server = _stopped(platform, "db-1")
    platform.sim.fault(
        method="POST", path="/v1/servers/*/actions/add_to_placement_group", kind="action_error", code="placement_error"
    )
    placement_groups.add_server(server.id, group.id, _anyone, uow())
    assert _drain(platform.provisioner()) == ["error"]
    failed = servers.get(server.id, _anyone, uow())
    assert (failed.placement_group_id, failed.locked) == (None, False)
    assert placement_groups.get(group.id, _anyone, uow()).server_ids == []


def test_a_spread_group_holds_ten_servers_even_under_concurrent_adds(platform: Platform) -> None:
    uow = platform.compute.uow
    platform.set_server_limit(20)
    group = placement_groups.create(platform.user_id, None, "full", "spread", {}, uow())
    for index in range(9):
        servers.create(_new(platform, f"m-{index}", placement_group_id=group.id), platform.compute.quotas, uow())
    candidates = []
    for index in range(2):
        server, _ = servers.create(_new(platform, f"c-{index}"), platform.compute.quotas, uow())
        with platform.compute.engine.begin() as conn:  # off and idle, as if stopped long ago
            conn.execute(sa.text("UPDATE servers SET status = 'stopped', locked = 0 WHERE id = :id"), {"id": server.id})
        candidates.append(server.id)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def add(server_id: int) -> None:
        barrier.wait()
        try:
            placement_groups.add_server(server_id, group.id, _anyone, uow())
            outcomes.append("added")
        except LimitExceeded:
            outcomes.append("full")

    threads = [threading.Thread(target=add, args=(server_id,)) for server_id in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["added", "full"]
    assert len(placement_groups.get(group.id, _anyone, uow()).server_ids) == 10
    with pytest.raises(LimitExceeded, match="10 servers"):
        servers.create(_new(platform, "eleventh", placement_group_id=group.id), platform.compute.quotas, uow())
