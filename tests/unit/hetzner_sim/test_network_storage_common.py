"""What every network and storage resource shares: pagination, sorting, 404s, action routes, state."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client
from hcloud.firewalls import Firewall
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.networks import NetworkSubnet
from hcloud.server_types import ServerType
from hcloud.servers import ServerCreatePublicNetwork

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import api_error

FAMILIES = ("floating_ips", "primary_ips", "networks", "firewalls", "load_balancers", "volumes")


def test_pagination_and_sorting(sim: Sim, client: Client) -> None:
    sim.control("PATCH", "config", {"max_volumes": 60})
    for i in range(55):
        client.volumes.create(size=10, name=f"vol-{i:02d}", location=Location(name="nbg1"), labels={"i": str(i % 2)})
    assert len(client.volumes.get_all()) == 55
    assert len(client.volumes.get_all(label_selector="i=1")) == 27
    page = client.volumes.get_list(page=3, per_page=20)
    assert page.meta.pagination.total_entries == 55 and page.meta.pagination.last_page == 3
    assert [v.name for v in page.volumes][:2] == ["vol-40", "vol-41"] and len(page.volumes) == 15
    by_name = client.request("GET", "/volumes", params={"sort": "name:desc", "per_page": 2})
    assert [v["name"] for v in by_name["volumes"]] == ["vol-54", "vol-53"]
    with pytest.raises(APIException) as bad:
        client.volumes.get_all(label_selector="i in (")
    assert api_error(bad) == "invalid_input"


def test_unknown_ids_actions_and_state(sim: Sim, client: Client) -> None:
    for family in FAMILIES:
        for path in (f"/{family}/1", f"/{family}/1/actions", f"/{family}/actions/1"):
            response = sim.raw("GET", path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
            sim.check(response)
        listing = sim.raw("GET", f"/{family}/actions")
        assert listing.status_code == 200 and listing.json()["actions"] == []
        sim.check(listing)
    fip = client.floating_ips.create(type="ipv4", home_location=Location(name="fsn1")).floating_ip
    client.floating_ips.change_protection(fip, delete=True).wait_until_finished()
    action_id = client.floating_ips.get_actions(fip)[0].id
    assert sim.raw("GET", f"/volumes/actions/{action_id}").status_code == 404
    assert sim.raw("GET", f"/floating_ips/actions/{action_id}").status_code == 200
    state = sim.control("GET", "state")["projects"]["project-1"]
    assert state["floating_ips"] == 1 and state["volumes"] == 0
    answer = sim.raw("POST", "/volumes", json={"name": "x"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input"
    sim.check(answer)


def test_server_created_with_volumes_networks_firewalls_and_primary_ips(sim: Sim, client: Client) -> None:
    vol = client.volumes.create(size=10, name="data", location=Location(name="fsn1")).volume
    net = client.networks.create(
        name="n",
        ip_range="10.0.0.0/16",
        subnets=[NetworkSubnet(type="cloud", network_zone="eu-central", ip_range=None)],
    )
    fw = client.firewalls.create(name="fw").firewall
    pip = client.primary_ips.create(type="ipv4", name="mine", location=Location(name="fsn1")).primary_ip
    answer = client.servers.create(
        name="full",
        server_type=ServerType(name="cx22"),
        image=Image(name="ubuntu-24.04"),
        location=Location(name="fsn1"),
        volumes=[vol],
        networks=[net],
        firewalls=[Firewall(id=fw.id)],
        public_net=ServerCreatePublicNetwork(ipv4=pip, enable_ipv6=False),
    )
    server = client.servers.get_by_id(answer.server.id)
    assert [v.id for v in server.volumes] == [vol.id]
    assert server.private_net[0].network.id == net.id and server.private_net[0].ip == "10.0.0.2"
    assert server.public_net.firewalls[0].firewall.id == fw.id
    assert server.public_net.ipv4.ip == pip.ip and server.public_net.ipv6 is None
    assert client.primary_ips.get_by_id(pip.id).assignee_id == server.id
    with pytest.raises(APIException) as taken:
        client.servers.create(
            name="second",
            server_type=ServerType(name="cx22"),
            image=Image(name="ubuntu-24.04"),
            location=Location(name="fsn1"),
            volumes=[vol],
        )
    assert api_error(taken) == "invalid_input"
    assert client.servers.get_by_name("second") is None
