"""The private network aggregate's rules: RFC 1918 ranges, subnets per zone, routes, growing the
range, attaching servers with chosen or given IPs and alias IPs, protection, locking, and the
events each change records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cpshared.errors import InvalidInput
from network_service.domain import networks as nets
from network_service.domain.actions import SUCCESS, Action, Locked, Protected
from network_service.domain.floating_ips import ServerRef
from network_service.domain.networks import Network, new_network

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _network(**changes: object) -> Network:
    net = new_network(42, None, "backend", "10.0.0.0/16", {})
    net.id, net.status, net.hetzner_id = 3, nets.READY, 77
    for name, value in changes.items():
        setattr(net, name, value)
    return net


def _server(server_id: int = 5, zone: str = "eu-central", **changes: object) -> ServerRef:
    fields: dict[str, object] = {
        "id": server_id,
        "user_id": 42,
        "organization_id": None,
        "location": "fsn1",
        "network_zone": zone,
    }
    fields.update(changes)
    return ServerRef(**fields)  # type: ignore[arg-type]


def _done(net: Network, action: Action) -> None:
    net.completed(action, NOW)


def _with_subnet(ip_range: str = "10.0.1.0/24", kind: str = "cloud", zone: str = "eu-central") -> Network:
    net = _network()
    _done(net, net.begin_add_subnet(net.check_subnet(kind, ip_range, zone), NOW))
    return net


@pytest.mark.parametrize(
    "ip_range",
    ["10.0.0.0/33", "8.8.8.0/24", "172.32.0.0/16", "10.0.0.1/16", "10.0.0.0/25", "fd00::/64", "ten", ""],
)
def test_a_network_range_must_be_a_private_ipv4_cidr_of_at_least_a_slash_24(ip_range: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        new_network(42, None, "n", ip_range, {})
    assert caught.value.details == {"fields": [{"name": "ip_range", "messages": [str(caught.value)]}]}


@pytest.mark.parametrize("ip_range", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/24", "172.20.0.0/16"])
def test_private_ranges_are_accepted(ip_range: str) -> None:
    assert new_network(42, None, "n", ip_range, {}).ip_range == ip_range


def test_a_subnet_gets_the_networks_first_ip_as_gateway() -> None:
    net = _with_subnet()
    assert net.subnets == [nets.Subnet("cloud", "10.0.1.0/24", "eu-central", "10.0.0.1")]
    assert [e.event_type for e in net.pop_events()] == ["network.subnet_added"]
    assert not net.locked


@pytest.mark.parametrize(
    ("kind", "ip_range", "zone", "vswitch", "field"),
    [
        ("cloud", "10.0.1.128/25", "eu-central", None, "ip_range"),  # overlaps 10.0.1.0/24
        ("cloud", "10.1.0.0/24", "eu-central", None, "ip_range"),  # outside the range
        ("cloud", "10.0.2.0/31", "eu-central", None, "ip_range"),  # smaller than /30
        ("cloud", "10.0.2.0/33", "eu-central", None, "ip_range"),
        ("cloud", "10.0.2.0/24", "mars-1", None, "network_zone"),
        ("lan", "10.0.2.0/24", "eu-central", None, "type"),
        ("vswitch", "10.0.2.0/24", "eu-central", None, "vswitch_id"),
        ("cloud", "10.0.2.0/24", "eu-central", 1000, "vswitch_id"),
    ],
)
def test_bad_subnets_are_refused_naming_the_field(
    kind: str, ip_range: str, zone: str, vswitch: int | None, field: str
) -> None:
    net = _with_subnet()
    with pytest.raises(InvalidInput) as caught:
        net.check_subnet(kind, ip_range, zone, vswitch)
    assert caught.value.details["fields"][0]["name"] == field  # type: ignore[index]


def test_a_subnet_without_a_range_gets_the_first_free_slash_24() -> None:
    net = _with_subnet("10.0.0.0/24")
    assert net.check_subnet("server", "", "us-east").ip_range == "10.0.1.0/24"


def test_routes_keep_hetzners_rules() -> None:
    net = _with_subnet()
    route = net.check_route("10.100.1.0/24", "10.0.1.10")
    _done(net, net.begin(nets.ADD_ROUTE, route.as_dict(), NOW))
    assert net.routes == [nets.Route("10.100.1.0/24", "10.0.1.10")]
    for destination, gateway in [
        ("10.0.1.0/28", "10.0.1.10"),  # overlaps a subnet
        ("10.100.1.128/25", "10.0.1.10"),  # overlaps a route
        ("10.0.0.0/30", "10.0.1.10"),  # holds the network's gateway
        ("8.8.8.0/24", "10.0.1.10"),  # public
        ("10.101.0.0/24", "10.0.0.1"),  # the network's gateway
        ("10.101.0.0/24", "10.9.0.1"),  # outside the range
        ("10.101.0.0/24", "not-an-ip"),
    ]:
        with pytest.raises(InvalidInput):
            net.check_route(destination, gateway)
    # a subnet may not overlap a route's destination either
    net.ip_range = "10.0.0.0/8"
    with pytest.raises(InvalidInput):
        net.check_subnet("cloud", "10.100.1.0/24", "eu-central")
    gone = net.route_of("10.100.1.0/24", "10.0.1.10")
    _done(net, net.begin(nets.DELETE_ROUTE, gone.as_dict(), NOW))
    assert net.routes == []
    with pytest.raises(InvalidInput):
        net.route_of("10.100.1.0/24", "10.0.1.10")


def test_the_range_only_grows() -> None:
    net = _with_subnet()
    for smaller in ("10.0.0.0/17", "10.1.0.0/16", "10.0.0.0/16x"):
        with pytest.raises(InvalidInput):
            net.check_ip_range(smaller)
    grown = net.check_ip_range("10.0.0.0/15")
    _done(net, net.begin(nets.CHANGE_IP_RANGE, {"ip_range": str(grown)}, NOW))
    assert net.ip_range == "10.0.0.0/15"
    (event,) = [e for e in net.pop_events() if e.event_type == "network.ip_range_changed"]
    assert event.fields["old_ip_range"] == "10.0.0.0/16"


def test_attaching_chooses_the_lowest_free_address_and_takes_alias_ips() -> None:
    net = _with_subnet()
    first = net.check_attach(_server(5), alias_ips=["10.0.1.20"])
    assert (first.ip, first.alias_ips) == ("10.0.1.2", ["10.0.1.20"])  # .1 of a subnet is kept free
    action = net.begin_attach(first, NOW)
    assert net.locked and action.resources[0] == {"id": 5, "type": "server"}
    net.completed(action, NOW, mac_address="86:00:00:00:00:01")
    second = net.check_attach(_server(6), ip="10.0.1.30")
    assert second.ip == "10.0.1.30"
    third = net.check_attach(_server(7))
    assert third.ip == "10.0.1.3"
    assert net.attachment(5) == nets.Attachment(5, "10.0.1.2", ["10.0.1.20"], "86:00:00:00:00:01")


@pytest.mark.parametrize(
    ("ip", "aliases", "error"),
    [
        ("10.0.1.2", [], nets.IpNotAvailable),  # taken by server 5
        ("10.0.1.20", [], nets.IpNotAvailable),  # an alias of server 5
        ("10.0.2.1", [], nets.IpNotAvailable),  # in no subnet
        ("10.0.1.0", [], nets.IpNotAvailable),  # the subnet's network address
        ("10.0.1.255", [], nets.IpNotAvailable),  # its broadcast address
        ("bogus", [], InvalidInput),
        ("", ["10.0.1.40", "10.0.1.40"], nets.IpNotAvailable),
        ("", [f"10.0.1.{i}" for i in range(50, 56)], InvalidInput),
    ],
)
def test_bad_attachments_are_refused(ip: str, aliases: list[str], error: type[Exception]) -> None:
    net = _with_subnet()
    net.completed(net.begin_attach(net.check_attach(_server(5), alias_ips=["10.0.1.20"]), NOW), NOW)
    with pytest.raises(error):
        net.check_attach(_server(6), ip=ip, alias_ips=aliases)


def test_a_server_attaches_once_in_its_own_zone_and_tenant() -> None:
    net = _with_subnet()
    net.completed(net.begin_attach(net.check_attach(_server(5)), NOW), NOW)
    with pytest.raises(nets.ServerAlreadyAttached):
        net.check_attach(_server(5))
    with pytest.raises(nets.NoSubnetAvailable):
        net.check_attach(_server(6, zone="us-east"))
    with pytest.raises(InvalidInput):
        net.check_attach(_server(7, user_id=43))
    with pytest.raises(InvalidInput):
        net.check_attach(_server(8, live=False))
    only_vswitch = _network()
    vswitch = only_vswitch.check_subnet("vswitch", "10.0.1.0/24", "eu-central", 1000)
    only_vswitch.completed(only_vswitch.begin_add_subnet(vswitch, NOW), NOW)
    with pytest.raises(nets.NoSubnetAvailable):
        only_vswitch.check_attach(_server(5))


def test_detach_and_alias_changes() -> None:
    net = _with_subnet()
    net.completed(net.begin_attach(net.check_attach(_server(5), alias_ips=["10.0.1.9"]), NOW), NOW)
    changed = net.check_alias_ips(_server(5), ["10.0.1.9", "10.0.1.10"])
    params = {"server_id": 5, "alias_ips": changed.alias_ips}
    net.completed(net.begin(nets.CHANGE_ALIAS_IPS, params, NOW, server_id=5), NOW)
    assert net.attachment(5) is not None and net.attachment(5).alias_ips == ["10.0.1.9", "10.0.1.10"]  # type: ignore[union-attr]
    with pytest.raises(nets.ServerNotAttached):
        net.begin_detach(6, NOW)
    with pytest.raises(nets.ResourceInUse):
        net.begin_delete_subnet("10.0.1.0/24", NOW)
    net.completed(net.begin_detach(5, NOW), NOW)
    assert net.attachments == []
    types = [e.event_type for e in net.pop_events()]
    assert types[-3:] == ["network.server_attached", "network.alias_ips_changed", "network.server_detached"]
    net.completed(net.begin_delete_subnet("10.0.1.0/24", NOW), NOW)
    assert net.subnets == []


def test_a_deleted_server_leaves_without_an_action() -> None:
    net = _with_subnet()
    net.completed(net.begin_attach(net.check_attach(_server(5)), NOW), NOW)
    net.pop_events()
    assert net.server_gone(5) and not net.server_gone(5)
    (event,) = net.pop_events()
    assert (event.event_type, event.fields["server_id"], event.fields["action_id"]) == ("network.server_detached", 5, 0)


def test_locking_protection_and_deletion() -> None:
    net = _with_subnet()
    net.begin(nets.ADD_ROUTE, net.check_route("10.100.0.0/24", "10.0.1.5").as_dict(), NOW)
    with pytest.raises(Locked):
        net.begin(nets.DELETE_ROUTE, {}, NOW)
    with pytest.raises(Locked):
        net.delete(NOW)
    net.locked = False
    action = net.change_protection(True, NOW)
    assert action.status == SUCCESS
    with pytest.raises(Protected):
        net.delete(NOW)
    net.change_protection(False, NOW)
    net.completed(net.begin_attach(net.check_attach(_server(5)), NOW), NOW)
    net.pop_events()
    net.delete(NOW)  # Hetzner's rule: attached servers are detached with it
    assert net.deleted_at == NOW and net.locked and net.attachments == []
    assert [e.event_type for e in net.pop_events()] == ["network.server_detached", "network.deleted"]


def test_an_erased_accounts_network_is_deleted_even_protected_unless_busy() -> None:
    net = _with_subnet()
    net.change_protection(True, NOW)
    action = net.erase(NOW)
    assert action is not None and net.blocked and net.deleted_at == NOW
    busy = _with_subnet()
    busy.begin(nets.CHANGE_IP_RANGE, {"ip_range": "10.0.0.0/15"}, NOW)
    assert busy.erase(NOW) is None and busy.blocked and busy.deleted_at is None


def test_blocked_networks_refuse_everything_until_unblocked() -> None:
    net = _with_subnet()
    assert net.block("suspended") and not net.block("suspended")
    with pytest.raises(Locked):
        net.begin_attach(net.check_attach(_server(5)), NOW)
    with pytest.raises(Locked):
        net.update("x", None, None)
    assert net.unblock()
    assert net.update("x", {"a": "b"}, None) == ["name", "labels"]
    types = [e.event_type for e in net.pop_events()]
    assert types[-3:] == ["network.blocked", "network.unblocked", "network.updated"]


def test_every_recorded_event_is_a_catalog_event_with_its_payload() -> None:
    from cpshared.aggregate import pending_events

    net = _with_subnet()
    net.completed(net.begin_attach(net.check_attach(_server(5), alias_ips=["10.0.1.9"]), NOW), NOW)
    net.block("suspended")
    net.unblock()
    created = _network(status=nets.CREATING)
    created.completed(created.begin(nets.CREATE, {}, NOW), NOW, hetzner_id=9)
    failed = _network()
    failed.action_failed(failed.begin(nets.CHANGE_IP_RANGE, {"ip_range": "10.0.0.0/8"}, NOW), "conflict", "no", NOW)
    assert failed.ip_range == "10.0.0.0/16" and not failed.locked
    events = pending_events(net, "network") + pending_events(created, "network")
    assert {e.envelope.event_type for e in events} >= {
        "network.subnet_added",
        "network.server_attached",
        "network.created",
    }
