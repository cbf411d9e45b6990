"""Primary IPs driven by the real ``hcloud`` client, every JSON answer checked against the spec."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client
from hcloud.locations import Location

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import api_error, create


def test_primary_ip_lifecycle(sim: Sim, client: Client) -> None:
    server = create(client, "web")
    own = {p.ip: p for p in client.primary_ips.get_all()}
    v4 = own[server.public_net.ipv4.ip]
    assert v4.assignee_id == server.id and v4.auto_delete and v4.id == server.public_net.primary_ipv4.id
    assert v4.location.name == server.location.name == "fsn1"
    assert server.public_net.ipv6.ip in own

    spare = client.primary_ips.create(
        type="ipv4", name="spare", location=Location(name="fsn1"), labels={"keep": "yes"}
    ).primary_ip
    assert spare.assignee_id is None and spare.ip.startswith(("203.0.113.", "198.51.100."))
    assert [p.id for p in client.primary_ips.get_all(label_selector="keep=yes")] == [spare.id]
    assert client.primary_ips.get_by_name("spare").id == spare.id
    with pytest.raises(APIException) as duplicate:
        client.primary_ips.create(type="ipv6", name="spare", location=Location(name="fsn1"))
    assert api_error(duplicate) == "uniqueness_error"

    with pytest.raises(APIException) as running:
        v4.unassign()
    assert api_error(running) == "server_not_stopped"
    server.power_off().wait_until_finished()
    with pytest.raises(APIException) as has_one:
        spare.assign(server.id, "server")
    assert api_error(has_one) == "invalid_input"
    v4.change_dns_ptr(v4.ip, "web.example.com").wait_until_finished()
    assert client.servers.get_by_id(server.id).public_net.ipv4.dns_ptr == "web.example.com"
    v4.unassign().wait_until_finished()
    assert client.servers.get_by_id(server.id).public_net.ipv4 is None
    assert client.primary_ips.get_by_id(v4.id).dns_ptr == [{"ip": v4.ip, "dns_ptr": "web.example.com"}]
    spare.assign(server.id, "server").wait_until_finished()
    assert client.servers.get_by_id(server.id).public_net.ipv4.ip == spare.ip
    assert client.primary_ips.get_by_id(spare.id).assignee_id == server.id

    v4.change_protection(delete=True).wait_until_finished()
    with pytest.raises(APIException) as protected:
        v4.delete()
    assert api_error(protected) == "protected"
    v4.change_protection(delete=False).wait_until_finished()
    v4.delete()
    assert client.primary_ips.get_by_name(v4.name) is None
    assert spare.update(name="kept", auto_delete=False, labels={"keep": "still"}).name == "kept"
    assert {a.command for a in spare.get_actions()} == {"assign_primary_ip"}
    assert client.request("GET", "/primary_ips/actions")["actions"]

    # Deleting the server deletes its auto_delete IPs and leaves the others unassigned.
    server.delete().wait_until_finished()
    left = client.primary_ips.get_all()
    assert [(p.id, p.assignee_id) for p in left] == [(spare.id, None)]


def test_primary_ip_create_assigned_locks_and_limit(sim: Sim, client: Client) -> None:
    server = create(client, "web")
    server.power_off().wait_until_finished()
    for p in client.primary_ips.get_all():
        if p.type == "ipv6":
            p.unassign().wait_until_finished()
    sim.control("PATCH", "config", {"action_seconds": 10})
    answer = client.primary_ips.create(type="ipv6", name="v6", assignee_id=server.id, assignee_type="server")
    assert answer.action is not None and answer.action.status == "running"
    with pytest.raises(APIException) as locked:
        answer.primary_ip.change_protection(delete=True)
    assert api_error(locked) == "locked"
    sim.clock.advance(10)
    assert client.servers.get_by_id(server.id).public_net.ipv6.ip == answer.primary_ip.ip
    sim.control("PATCH", "config", {"action_seconds": 0, "max_primary_ips": 3})
    with pytest.raises(APIException) as limit:
        client.primary_ips.create(type="ipv4", name="more", location=Location(name="nbg1"))
    assert api_error(limit) == "resource_limit_exceeded"
