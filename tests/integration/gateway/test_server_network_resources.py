"""A server and what network keeps for it, through the gateway with the real ``hcloud`` client:
firewalls given in ``POST /v1/servers`` (Hetzner's create body) are applied at creation, a server
is covered by at most five firewalls, and a deleted server leaves no reference behind in network
or upstream (its floating IP, its alias IP in a private network, its firewall, its primary IPs).
The platform (compute, network, identity, the simulator) and both workers are
:mod:`tests.integration.gateway.test_primary_ips_api`'s."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hcloud import APIException
from hcloud.firewalls import Firewall, FirewallResource, FirewallRule
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.networks import NetworkSubnet
from hcloud.server_types import ServerType
from hcloud.servers import Server

from network_service.adapters import tables as nt
from tests.integration.gateway import test_primary_ips_api as primary_ips_api
from tests.integration.gateway.test_primary_ips_api import (
    _adopted,
    _client,
    _follow,
    _labelled,
    _server,
    _token,
    _until,
    _upstream,
)
from tests.integration.live import LivePlatform

platform = primary_ips_api.platform
workers = primary_ips_api.workers

SSH = FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["0.0.0.0/0", "::/0"])


def _refused(call: Any) -> str:
    with pytest.raises(APIException) as caught:
        call()
    return str(caught.value.code)


def _on(server_id: int) -> FirewallResource:
    return FirewallResource(type=FirewallResource.TYPE_SERVER, server=Server(id=server_id))


def test_firewalls_given_at_creation_are_applied_and_a_server_has_at_most_five(
    platform: LivePlatform, workers: None
) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "fw-create@example.com"), checked)
    walls = [client.firewalls.create(name=f"wall-{n}", rules=[SSH]).firewall for n in range(6)]

    def create(name: str, firewalls: list[Any]) -> Any:
        return client.servers.create(
            name=name,
            server_type=ServerType(name="cpx11"),
            image=Image(name="ubuntu-24.04"),
            location=Location(name="fsn1"),
            firewalls=firewalls,
        )

    # Six at creation, an unknown one, another tenant's: refused before any server is made.
    stranger = _client(platform, _token(platform, "fw-create-stranger@example.com"), checked)
    theirs = stranger.firewalls.create(name="theirs", rules=[SSH]).firewall
    assert _refused(lambda: create("six", walls)) == "resource_limit_exceeded"
    assert _refused(lambda: create("unknown", [Firewall(id=999_999)])) == "invalid_input"
    assert _refused(lambda: create("foreign", [theirs])) == "invalid_input"
    assert client.servers.get_all() == []

    created = create("guarded", walls[:2])
    assert [a.command for a in created.next_actions] == ["apply_firewall", "apply_firewall"]
    created.action.wait_until_finished(max_retries=400)
    for action in created.next_actions:
        action.wait_until_finished(max_retries=400)
    server = created.server
    shown = client.servers.get_by_id(server.id)
    assert sorted(f.firewall.id for f in shown.public_net.firewalls) == sorted(w.id for w in walls[:2])
    upstream_server = _upstream(platform).servers.get_all(label_selector=f"cp_server_id={server.id}")[0]
    upstream_wall = _upstream(platform).firewalls.get_all(label_selector=f"cp_firewall_id={walls[0].id}")[0]
    assert [int(r.server.id) for r in upstream_wall.applied_to] == [upstream_server.id]

    # Up to five; the sixth is Hetzner's resource_limit_exceeded and changes nothing.
    for wall in walls[2:5]:
        for action in client.firewalls.apply_to_resources(wall, [_on(server.id)]):
            action.wait_until_finished(max_retries=400)
    assert _refused(lambda: client.firewalls.apply_to_resources(walls[5], [_on(server.id)])) == (
        "resource_limit_exceeded"
    )
    assert client.firewalls.get_by_id(walls[5].id).applied_to == []
    assert len(client.servers.get_by_id(server.id).public_net.firewalls) == 5
    client.servers.delete(server).wait_until_finished(max_retries=400)
    _follow(platform, "server.deleted", server.id)
    for wall in [*walls, theirs]:
        (stranger if wall is theirs else client).firewalls.delete(wall)
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)


def test_a_deleted_server_leaves_no_reference_behind_here_or_upstream(platform: LivePlatform, workers: None) -> None:
    """A server with a floating IP, an alias IP in a private network, a firewall and its own primary
    IPs, deleted: compute's ``server.deleted`` through network's consumer (redelivered) leaves no
    row of network naming it and no upstream resource of network's naming its upstream server."""
    assert platform.network is not None
    client = _client(platform, _token(platform, "doomed@example.com"), [])
    server = _server(platform, client, "doomed")
    own = _adopted(client, server.id)
    fip = client.floating_ips.create(type="ipv4", server=server).floating_ip
    net = client.networks.create(
        name="doomed-net",
        ip_range="10.7.0.0/16",
        subnets=[NetworkSubnet(ip_range="10.7.1.0/24", type="cloud", network_zone="eu-central")],
    )
    client.servers.attach_to_network(server, net, ip="10.7.1.4", alias_ips=["10.7.1.5"]).wait_until_finished(
        max_retries=400
    )
    made = client.firewalls.create(name="doomed-wall", rules=[SSH], resources=[_on(server.id)])
    for action in made.actions:
        action.wait_until_finished(max_retries=400)
    upstream_server = _upstream(platform).servers.get_all(label_selector=f"cp_server_id={server.id}")[0]
    up_net = _upstream(platform).networks.get_all(label_selector=f"cp_network_id={net.id}")[0]
    assert [int(s.id) for s in up_net.servers] == [upstream_server.id]

    client.servers.delete(server).wait_until_finished(max_retries=400)
    _follow(platform, "server.deleted", server.id)

    # The platform: nothing names the server.
    assert client.floating_ips.get_by_id(fip.id).server is None
    assert client.networks.get_by_id(net.id).servers == []
    assert client.firewalls.get_by_id(made.firewall.id).applied_to == []
    assert [p.id for p in client.primary_ips.get_all()] == []  # both were auto_delete
    with platform.network.engine.connect() as conn:
        naming = [
            conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
            for table, where in (
                (
                    nt.floating_ips,
                    sa.and_(nt.floating_ips.c.server_id == server.id, nt.floating_ips.c.deleted_at.is_(None)),
                ),
                (nt.server_networks, nt.server_networks.c.server_id == server.id),
                (nt.server_firewalls, nt.server_firewalls.c.server_id == server.id),
                (
                    nt.primary_ips,
                    sa.and_(nt.primary_ips.c.assignee_id == server.id, nt.primary_ips.c.deleted_at.is_(None)),
                ),
            )
        ]
    assert naming == [0, 0, 0, 0]

    # Upstream: the server is gone and nothing of network's names it.
    upstream = _upstream(platform)
    assert upstream.servers.get_all(label_selector=f"cp_server_id={server.id}") == []
    assert upstream.floating_ips.get_all(label_selector=f"cp_floating_ip_id={fip.id}")[0].server is None
    assert upstream.networks.get_all(label_selector=f"cp_network_id={net.id}")[0].servers == []
    assert not upstream.firewalls.get_all(label_selector=f"cp_firewall_id={made.firewall.id}")[0].applied_to
    _until(lambda: all(not _labelled(platform, p.id) for p in own.values()), "the server's primary IPs are upstream")

    client.floating_ips.delete(fip)
    client.networks.delete(net)
    client.firewalls.delete(made.firewall)
    _until(
        lambda: (
            not upstream.floating_ips.get_all(label_selector=f"cp_floating_ip_id={fip.id}")
            and not upstream.networks.get_all(label_selector=f"cp_network_id={net.id}")
        ),
        "still upstream",
    )
