"""Networks driven by the real ``hcloud`` client, every JSON answer checked against the spec."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client
from hcloud.networks import NetworkRoute, NetworkSubnet

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import api_error, create


def test_network_lifecycle(sim: Sim, client: Client) -> None:
    web, db = create(client, "web"), create(client, "db")
    net = client.networks.create(
        name="backend",
        ip_range="10.0.0.0/16",
        subnets=[NetworkSubnet(type="cloud", network_zone="eu-central", ip_range="10.0.1.0/24")],
        routes=[NetworkRoute(destination="10.100.0.0/24", gateway="10.0.1.10")],
        labels={"env": "prod"},
    )
    assert net.subnets[0].gateway == "10.0.0.1" and net.routes[0].gateway == "10.0.1.10"
    client.networks.create(name="other", ip_range="192.168.0.0/24")
    assert [n.id for n in client.networks.get_all(label_selector="env=prod")] == [net.id]
    with pytest.raises(APIException) as duplicate:
        client.networks.create(name="backend", ip_range="10.1.0.0/16")
    assert api_error(duplicate) == "uniqueness_error"
    with pytest.raises(APIException) as public:
        client.networks.create(name="public", ip_range="8.8.0.0/16")
    assert api_error(public) == "invalid_input"

    net.add_subnet(NetworkSubnet(type="cloud", network_zone="eu-central", ip_range=None)).wait_until_finished()
    net = client.networks.get_by_id(net.id)
    assert [s.ip_range for s in net.subnets] == ["10.0.1.0/24", "10.0.0.0/24"]
    with pytest.raises(APIException) as overlap:
        net.add_subnet(NetworkSubnet(type="cloud", network_zone="eu-central", ip_range="10.0.1.128/25"))
    assert api_error(overlap) == "invalid_input"

    web.attach_to_network(net, ip="10.0.1.5", alias_ips=["10.0.1.6"]).wait_until_finished()
    db.attach_to_network(net, ip_range="10.0.1.0/24").wait_until_finished()
    private = client.servers.get_by_id(web.id).private_net
    assert private[0].network.id == net.id and private[0].ip == "10.0.1.5" and private[0].alias_ips == ["10.0.1.6"]
    assert private[0].mac_address.startswith("86:00:")
    assert client.servers.get_by_id(db.id).private_net[0].ip == "10.0.1.2"
    assert sorted(s.id for s in client.networks.get_by_id(net.id).servers) == sorted([web.id, db.id])
    with pytest.raises(APIException) as taken:
        create(client, "late").attach_to_network(net, ip="10.0.1.5")
    assert api_error(taken) == "invalid_input"
    with pytest.raises(APIException) as busy_subnet:
        net.delete_subnet(NetworkSubnet(type="cloud", network_zone="eu-central", ip_range="10.0.1.0/24"))
    assert api_error(busy_subnet) == "invalid_input"
    web.detach_from_network(net).wait_until_finished()
    assert client.servers.get_by_id(web.id).private_net == []

    net.add_route(NetworkRoute(destination="10.200.0.0/16", gateway="10.0.0.5")).wait_until_finished()
    net.delete_route(NetworkRoute(destination="10.100.0.0/24", gateway="10.0.1.10")).wait_until_finished()
    assert [r.destination for r in client.networks.get_by_id(net.id).routes] == ["10.200.0.0/16"]
    net.delete_subnet(NetworkSubnet(type="cloud", network_zone="eu-central", ip_range="10.0.0.0/24"))
    net.change_ip_range("10.0.0.0/15").wait_until_finished()
    assert client.networks.get_by_id(net.id).ip_range == "10.0.0.0/15"
    with pytest.raises(APIException) as shrink:
        net.change_ip_range("10.0.0.0/16")
    assert api_error(shrink) == "invalid_input"

    net.change_protection(delete=True).wait_until_finished()
    with pytest.raises(APIException) as protected:
        net.delete()
    assert api_error(protected) == "protected"
    net.change_protection(delete=False).wait_until_finished()
    assert net.update(name="backend-2", labels={"env": "dev"}).name == "backend-2"
    commands = {a.command for a in net.get_actions()}
    assert {"add_subnet", "attach_to_network", "add_route", "change_ip_range"} <= commands
    assert client.request("GET", "/networks/actions")["actions"]

    # A server that goes away leaves the network; a deleted network leaves its servers.
    db.delete().wait_until_finished()
    assert client.networks.get_by_id(net.id).servers == []
    web.attach_to_network(net).wait_until_finished()
    net.delete()
    assert client.servers.get_by_id(web.id).private_net == []
    assert client.networks.get_by_name("backend-2") is None


def test_network_locks_and_limit(sim: Sim, client: Client) -> None:
    server = create(client, "web")
    net = client.networks.create(
        name="n", ip_range="10.0.0.0/16", subnets=[NetworkSubnet(type="cloud", network_zone="us-east", ip_range=None)]
    )
    with pytest.raises(APIException) as zone:
        server.attach_to_network(net)
    assert api_error(zone) == "invalid_input"
    sim.control("PATCH", "config", {"action_seconds": 10})
    action = net.add_subnet(NetworkSubnet(type="cloud", network_zone="eu-central", ip_range=None))
    with pytest.raises(APIException) as locked:
        server.attach_to_network(net)
    assert api_error(locked) == "locked"
    sim.clock.advance(10)
    assert client.actions.get_by_id(action.id).status == "success"
    sim.control("PATCH", "config", {"action_seconds": 0, "max_networks": 1})
    with pytest.raises(APIException) as limit:
        client.networks.create(name="m", ip_range="10.1.0.0/16")
    assert api_error(limit) == "resource_limit_exceeded"
    sim.fault(method="POST", path="/v1/servers/*/actions/attach_to_network", kind="action_error", code="boom")
    failed = server.attach_to_network(net)
    assert client.actions.get_by_id(failed.id).error["code"] == "boom"
    assert client.servers.get_by_id(server.id).private_net == []
