"""Floating IPs driven by the real ``hcloud`` client, every JSON answer checked against the spec."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client
from hcloud.actions import ActionFailedException
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import api_error, create


def test_floating_ip_lifecycle(sim: Sim, client: Client) -> None:
    server = create(client, "fip-host")
    v4 = client.floating_ips.create(type="ipv4", home_location=Location(name="fsn1"), labels={"role": "vip"})
    assert v4.action is None
    fip = v4.floating_ip
    assert fip.ip.startswith("192.0.2.") and fip.home_location.name == "fsn1" and fip.server is None
    assert fip.dns_ptr[0]["dns_ptr"].startswith("static.")
    v6 = client.floating_ips.create(type="ipv6", server=server, name="v6", description="six")
    assert v6.action is not None
    v6.action.wait_until_finished()
    assert v6.floating_ip.ip.endswith("/64") and v6.floating_ip.ip.startswith("2001:db8:f")
    assert client.floating_ips.get_by_id(v6.floating_ip.id).server.id == server.id

    assert [f.id for f in client.floating_ips.get_all(label_selector="role=vip")] == [fip.id]
    assert client.floating_ips.get_by_name("v6").description == "six"
    with pytest.raises(APIException) as duplicate:
        client.floating_ips.create(type="ipv4", home_location=Location(name="nbg1"), name="v6")
    assert api_error(duplicate) == "uniqueness_error"
    with pytest.raises(APIException) as neither:
        client.floating_ips.create(type="ipv4")
    assert api_error(neither) == "invalid_input"

    fip.assign(server).wait_until_finished()
    shown = client.servers.get_by_id(server.id).public_net.floating_ips
    assert {f.id for f in shown} == {fip.id, v6.floating_ip.id}
    fip.change_dns_ptr(fip.ip, "vip.example.com").wait_until_finished()
    assert client.floating_ips.get_by_id(fip.id).dns_ptr == [{"ip": fip.ip, "dns_ptr": "vip.example.com"}]
    with pytest.raises(APIException) as foreign:
        fip.change_dns_ptr("10.0.0.1", "x.example.com")
    assert api_error(foreign) == "invalid_input"
    fip.unassign().wait_until_finished()
    assert [f.id for f in client.servers.get_by_id(server.id).public_net.floating_ips] == [v6.floating_ip.id]

    fip.change_protection(delete=True).wait_until_finished()
    with pytest.raises(APIException) as protected:
        fip.delete()
    assert api_error(protected) == "protected"
    fip.change_protection(delete=False).wait_until_finished()
    updated = fip.update(name="renamed", labels={"role": "spare"}, description="d")
    assert updated.name == "renamed" and updated.labels == {"role": "spare"}
    assert len(fip.get_actions()) == 5
    assert len(client.request("GET", "/floating_ips/actions")["actions"]) >= 6
    first = fip.get_actions()[0]
    assert client.request("GET", f"/floating_ips/actions/{first.id}")["action"]["id"] == first.id
    assert client.request("GET", f"/floating_ips/{fip.id}/actions/{first.id}")["action"]["id"] == first.id
    fip.delete()
    with pytest.raises(APIException) as gone:
        client.floating_ips.get_by_id(fip.id)
    assert api_error(gone) == "not_found"

    # A server that goes away leaves its floating IP unassigned.
    server.delete().wait_until_finished()
    assert client.floating_ips.get_by_id(v6.floating_ip.id).server is None


def test_floating_ip_locks_limit_and_zone(sim: Sim, client: Client) -> None:
    server = create(client, "fip-host")
    answer = client.servers.create(
        name="us-host",
        server_type=ServerType(name="cpx11"),
        image=Image(name="debian-12"),
        location=Location(name="ash"),
    )
    us = answer.server
    fip = client.floating_ips.create(type="ipv4", home_location=Location(name="nbg1")).floating_ip
    with pytest.raises(APIException) as zone:
        fip.assign(us)
    assert api_error(zone) == "invalid_input"
    sim.control("PATCH", "config", {"action_seconds": 10})
    action = fip.assign(server)
    with pytest.raises(APIException) as locked:
        fip.unassign()
    assert api_error(locked) == "locked"
    with pytest.raises(APIException) as locked_delete:
        fip.delete()
    assert api_error(locked_delete) == "locked"
    sim.clock.advance(10)
    assert client.actions.get_by_id(action.id).status == "success"
    sim.control("PATCH", "config", {"action_seconds": 0, "max_floating_ips": 1})
    with pytest.raises(APIException) as limit:
        client.floating_ips.create(type="ipv4", home_location=Location(name="nbg1"))
    assert api_error(limit) == "resource_limit_exceeded"


def test_floating_ip_faults(sim: Sim, client: Client) -> None:
    server = create(client, "fip-host")
    fip = client.floating_ips.create(type="ipv4", home_location=Location(name="fsn1")).floating_ip
    sim.fault(method="POST", path="/v1/floating_ips/*/actions/assign", kind="action_error", code="action_failed")
    with pytest.raises(ActionFailedException) as failed:
        fip.assign(server).wait_until_finished()
    assert failed.value.action.error["code"] == "action_failed"
    assert client.floating_ips.get_by_id(fip.id).server is None
    sim.fault(method="GET", path="/v1/floating_ips", kind="error", code="maintenance", times=1)
    with pytest.raises(APIException) as maintenance:
        client.floating_ips.get_all()
    assert api_error(maintenance) == "maintenance"
