"""Placement groups driven by the real ``hcloud`` client, every JSON answer checked against the spec."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client
from hcloud.placement_groups import PlacementGroup

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import api_error, create


def test_placement_group_lifecycle(sim: Sim, client: Client) -> None:
    created = client.placement_groups.create(name="spread-1", type="spread", labels={"env": "prod"})
    assert created.action is None
    group = created.placement_group
    assert group.type == "spread" and group.servers == [] and group.labels == {"env": "prod"}
    with pytest.raises(APIException) as duplicate:
        client.placement_groups.create(name="spread-1", type="spread")
    assert api_error(duplicate) == "uniqueness_error"
    with pytest.raises(APIException) as wrong_type:
        client.placement_groups.create(name="x", type="cluster")
    assert api_error(wrong_type) == "invalid_input"

    member = create(client, "pg-member", placement_group=PlacementGroup(id=group.id))
    assert member.placement_group is not None and member.placement_group.id == group.id
    assert client.placement_groups.get_by_id(group.id).servers == [member.id]
    with pytest.raises(APIException) as in_use:
        client.placement_groups.delete(group)
    assert api_error(in_use) == "resource_in_use"

    loner = create(client, "pg-loner")
    with pytest.raises(APIException) as running:
        loner.add_to_placement_group(PlacementGroup(id=group.id))
    assert api_error(running) == "server_not_stopped"
    loner.power_off().wait_until_finished()
    loner.add_to_placement_group(PlacementGroup(id=group.id)).wait_until_finished()
    assert client.placement_groups.get_by_id(group.id).servers == sorted([member.id, loner.id])
    assert [g.id for g in client.placement_groups.get_all(label_selector="env=prod")] == [group.id]
    assert client.placement_groups.get_list(type="spread").placement_groups

    member.remove_from_placement_group().wait_until_finished()
    assert client.servers.get_by_id(member.id).placement_group is None
    loner.delete().wait_until_finished()  # a server that goes away leaves its group
    renamed = client.placement_groups.update(group, name="spread-2", labels={})
    assert renamed.name == "spread-2" and renamed.servers == []
    client.placement_groups.delete(group)
    assert client.placement_groups.get_by_name("spread-2") is None


def test_a_spread_group_holds_ten_servers(sim: Sim, client: Client) -> None:
    group = client.placement_groups.create(name="full", type="spread").placement_group
    sim.control("PATCH", "config", {"max_servers": 100})
    for index in range(10):
        create(client, f"full-{index}", placement_group=PlacementGroup(id=group.id))
    with pytest.raises(APIException) as full:
        client.servers.create(
            name="full-10",
            server_type=client.server_types.get_by_name("cx22"),
            image=client.images.get_by_name_and_architecture("ubuntu-24.04", "x86"),
            placement_group=PlacementGroup(id=group.id),
        )
    assert api_error(full) == "resource_limit_exceeded"
