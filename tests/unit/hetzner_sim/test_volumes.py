"""Volumes driven by the real ``hcloud`` client, every JSON answer checked against the spec."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client
from hcloud.locations import Location

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import api_error, create


def test_volume_lifecycle(sim: Sim, client: Client) -> None:
    server = create(client, "db")
    created = client.volumes.create(size=10, name="data", location=Location(name="fsn1"), labels={"tier": "hot"})
    assert created.next_actions == []
    created.action.wait_until_finished()
    vol = client.volumes.get_by_id(created.volume.id)
    assert vol.status == "available" and vol.size == 10 and vol.server is None
    assert vol.linux_device.endswith(str(vol.id)) and vol.location.name == "fsn1"
    on_server = client.volumes.create(size=20, name="logs", server=server, automount=True, format="xfs")
    on_server.action.wait_until_finished()
    for action in on_server.next_actions:
        action.wait_until_finished()
    logs = client.volumes.get_by_name("logs")
    assert logs.server.id == server.id and logs.format == "xfs"

    assert [v.id for v in client.volumes.get_all(label_selector="tier=hot")] == [vol.id]
    assert len(client.volumes.get_all(label_selector="tier!=hot")) == 1
    with pytest.raises(APIException) as duplicate:
        client.volumes.create(size=10, name="data", location=Location(name="fsn1"))
    assert api_error(duplicate) == "uniqueness_error"
    for size in (9, 10241):
        with pytest.raises(APIException) as bad_size:
            client.volumes.create(size=size, name="odd", location=Location(name="fsn1"))
        assert api_error(bad_size) == "invalid_input"

    vol.attach(server, automount=False).wait_until_finished()
    assert sorted(v.id for v in client.servers.get_by_id(server.id).volumes) == sorted([vol.id, logs.id])
    with pytest.raises(APIException) as twice:
        vol.attach(server)
    assert api_error(twice) == "invalid_input"
    with pytest.raises(APIException) as attached:
        vol.delete()
    assert api_error(attached) == "invalid_input"
    vol.detach().wait_until_finished()
    assert [v.id for v in client.servers.get_by_id(server.id).volumes] == [logs.id]

    vol.resize(50).wait_until_finished()
    assert client.volumes.get_by_id(vol.id).size == 50
    with pytest.raises(APIException) as shrink:
        vol.resize(40)
    assert api_error(shrink) == "invalid_input"

    vol.change_protection(delete=True).wait_until_finished()
    with pytest.raises(APIException) as protected:
        vol.delete()
    assert api_error(protected) == "protected"
    vol.change_protection(delete=False).wait_until_finished()
    assert vol.update(name="data-2", labels={"tier": "cold"}).name == "data-2"
    assert {a.command for a in vol.get_actions()} >= {"create_volume", "attach_volume", "resize_volume"}
    assert client.request("GET", "/volumes/actions", params={"sort": "id:desc"})["actions"]
    vol.delete()
    assert client.volumes.get_by_name("data-2") is None

    # Deleting the server detaches its volumes.
    server.delete().wait_until_finished()
    assert client.volumes.get_by_id(logs.id).server is None


def test_volume_locks_location_and_limit(sim: Sim, client: Client) -> None:
    server = create(client, "db")
    elsewhere = client.volumes.create(size=10, name="far", location=Location(name="hel1")).volume
    with pytest.raises(APIException) as location:
        elsewhere.attach(server)
    assert api_error(location) == "invalid_input"
    sim.control("PATCH", "config", {"action_seconds": 10})
    vol = client.volumes.create(size=10, name="slow", location=Location(name="fsn1")).volume
    assert client.volumes.get_by_id(vol.id).status == "creating"
    with pytest.raises(APIException) as locked:
        vol.resize(20)
    assert api_error(locked) == "locked"
    sim.clock.advance(10)
    assert client.volumes.get_by_id(vol.id).status == "available"
    action = vol.attach(server)
    assert client.servers.get_by_id(server.id).locked
    sim.clock.advance(10)
    assert client.actions.get_by_id(action.id).status == "success"
    sim.control("PATCH", "config", {"action_seconds": 0, "max_volumes": 2})
    with pytest.raises(APIException) as limit:
        client.volumes.create(size=10, name="third", location=Location(name="fsn1"))
    assert api_error(limit) == "resource_limit_exceeded"
    sim.fault(method="DELETE", path="/v1/volumes/*", kind="error", code="service_error", times=1)
    with pytest.raises(APIException) as fault:
        elsewhere.delete()
    assert api_error(fault) == "service_error"
    elsewhere.delete()
