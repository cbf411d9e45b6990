"""Firewalls driven by the real ``hcloud`` client, every JSON answer checked against the spec."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client
from hcloud.firewalls import FirewallResource, FirewallResourceLabelSelector, FirewallRule
from hcloud.servers import Server

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import api_error, create

SSH = FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["0.0.0.0/0", "::/0"])
PING = FirewallRule(direction="in", protocol="icmp", source_ips=["10.0.0.0/8"], description="ping")
DNS_OUT = FirewallRule(direction="out", protocol="udp", port="53", destination_ips=["9.9.9.9/32"])


def test_firewall_lifecycle(sim: Sim, client: Client) -> None:
    web, db = create(client, "web", labels={"role": "web"}), create(client, "db", labels={"role": "db"})
    created = client.firewalls.create(
        name="edge",
        rules=[SSH, PING],
        labels={"env": "prod"},
        resources=[FirewallResource(type="server", server=web)],
    )
    assert len(created.actions) == 1 and created.actions[0].command == "apply_firewall"
    for action in created.actions:
        action.wait_until_finished()
    fw = client.firewalls.get_by_id(created.firewall.id)
    assert [r.protocol for r in fw.rules] == ["tcp", "icmp"] and fw.rules[1].description == "ping"
    assert fw.applied_to[0].server.id == web.id
    shown = client.servers.get_by_id(web.id).public_net.firewalls
    assert [(f.firewall.id, f.status) for f in shown] == [(fw.id, "applied")]
    client.firewalls.create(name="empty")
    assert [f.id for f in client.firewalls.get_all(label_selector="env=prod")] == [fw.id]
    with pytest.raises(APIException) as duplicate:
        client.firewalls.create(name="edge")
    assert api_error(duplicate) == "uniqueness_error"
    with pytest.raises(APIException) as no_port:
        client.firewalls.create(name="bad", rules=[FirewallRule(direction="in", protocol="tcp", source_ips=["::/0"])])
    assert api_error(no_port) == "invalid_input"

    for action in fw.set_rules([SSH, DNS_OUT]):
        action.wait_until_finished()
    assert [r.direction for r in client.firewalls.get_by_id(fw.id).rules] == ["in", "out"]

    selector = FirewallResource(type="label_selector", label_selector=FirewallResourceLabelSelector("role=db"))
    for action in fw.apply_to_resources([selector]):
        action.wait_until_finished()
    fw = client.firewalls.get_by_id(fw.id)
    assert fw.applied_to[1].label_selector.selector == "role=db"
    assert [r.server.id for r in fw.applied_to[1].applied_to_resources] == [db.id]
    assert client.servers.get_by_id(db.id).public_net.firewalls[0].firewall.id == fw.id
    with pytest.raises(APIException) as again:
        fw.apply_to_resources([FirewallResource(type="server", server=web)])
    assert api_error(again) == "firewall_already_applied"
    with pytest.raises(APIException) as in_use:
        fw.delete()
    assert api_error(in_use) == "resource_in_use"

    for action in fw.remove_from_resources([FirewallResource(type="server", server=web), selector]):
        action.wait_until_finished()
    assert client.servers.get_by_id(web.id).public_net.firewalls == []
    assert client.servers.get_by_id(db.id).public_net.firewalls == []
    with pytest.raises(APIException) as removed:
        fw.remove_from_resources([selector])
    assert api_error(removed) == "firewall_already_removed"
    assert fw.update(name="edge-2", labels={"env": "dev"}).name == "edge-2"
    commands = {a.command for a in fw.get_actions()}
    assert {"apply_firewall", "set_firewall_rules", "remove_firewall"} <= commands
    assert client.request("GET", "/firewalls/actions")["actions"]
    fw.delete()
    assert client.firewalls.get_by_name("edge-2") is None

    # A server that goes away drops out of the firewalls applied to it.
    other = client.firewalls.create(name="other", resources=[FirewallResource(type="server", server=db)]).firewall
    db.delete().wait_until_finished()
    assert client.firewalls.get_by_id(other.id).applied_to == []


def test_firewall_pending_locks_and_limit(sim: Sim, client: Client) -> None:
    web = create(client, "web")
    fw = client.firewalls.create(name="fw", rules=[SSH]).firewall
    sim.control("PATCH", "config", {"action_seconds": 10})
    actions = fw.apply_to_resources([FirewallResource(type="server", server=web)])
    assert client.servers.get_by_id(web.id).public_net.firewalls[0].status == "pending"
    with pytest.raises(APIException) as locked:
        fw.set_rules([])
    assert api_error(locked) == "locked"
    sim.clock.advance(10)
    assert client.actions.get_by_id(actions[0].id).status == "success"
    assert client.servers.get_by_id(web.id).public_net.firewalls[0].status == "applied"
    sim.control("PATCH", "config", {"action_seconds": 0, "max_firewalls": 1})
    with pytest.raises(APIException) as limit:
        client.firewalls.create(name="second")
    assert api_error(limit) == "resource_limit_exceeded"
    with pytest.raises(APIException) as missing:
        fw.apply_to_resources([FirewallResource(type="server", server=Server(id=424242))])
    assert api_error(missing) == "firewall_resource_not_found"
