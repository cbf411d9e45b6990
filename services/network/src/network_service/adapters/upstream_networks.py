"""Private networks upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client.

Every upstream network carries the label ``cp_network_id=<platform id>``: that label, not a
remembered upstream id, is how the worker finds what it made, so a worker that died between
"upstream created it" and "we recorded it" finds it again instead of making a second. Every
change looks at upstream's network first and does nothing when upstream has it already (a retry
after a death), so each is safe to repeat. Servers are compute's, found by compute's label.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hcloud import APIException
from hcloud.networks import BoundNetwork, Network, NetworkRoute, NetworkSubnet
from hcloud.servers import Server

from cpshared.upstream import SERVER_LABEL, RetryPolicy, call_upstream, hcloud_client, wait_for_action
from network_service.adapters.upstream import APPLICATION
from network_service.domain.actions import UpstreamFailure
from network_service.domain.networks import Route, Subnet
from network_service.service_layer.ports import UpstreamNetwork, UpstreamNetworks

T = TypeVar("T")
NETWORK_LABEL = "cp_network_id"


def _network(bound: BoundNetwork) -> UpstreamNetwork:
    raw = dict(bound.labels or {}).get(NETWORK_LABEL, "")
    return UpstreamNetwork(
        id=int(bound.id or 0),
        ip_range=str(bound.ip_range or ""),
        subnets=sorted(str(s.ip_range) for s in bound.subnets or []),
        routes=sorted((str(r.destination), str(r.gateway)) for r in bound.routes or []),
        server_ids=sorted(int(s.id or 0) for s in bound.servers or []),
        platform_id=int(raw) if raw.isdigit() else None,
    )


class HcloudNetworks(UpstreamNetworks):
    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0, retry: RetryPolicy | None = None) -> None:
        self.client = hcloud_client(endpoint, token, APPLICATION, timeout=timeout)
        self.retry = retry or RetryPolicy()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return call_upstream(what, call, self.retry, UpstreamFailure)

    def _labelled(self, selector: str) -> list[UpstreamNetwork]:
        return sorted((_network(n) for n in self.client.networks.get_all(label_selector=selector)), key=lambda n: n.id)

    def find(self, platform_id: int) -> list[UpstreamNetwork]:
        return self._call("list networks", lambda: self._labelled(f"{NETWORK_LABEL}={platform_id}"))

    def labelled(self) -> list[UpstreamNetwork]:
        return self._call("list networks", lambda: self._labelled(NETWORK_LABEL))

    def create(
        self,
        platform_id: int,
        ip_range: str,
        subnets: list[Subnet],
        routes: list[Route],
        expose_routes_to_vswitch: bool,
    ) -> UpstreamNetwork:
        def find_or_create() -> UpstreamNetwork:
            existing = self._labelled(f"{NETWORK_LABEL}={platform_id}")
            if existing:
                return existing[0]
            made = self.client.networks.create(
                name=f"cp-network-{platform_id}",
                ip_range=ip_range,
                subnets=[_subnet(s) for s in subnets] or None,
                routes=[NetworkRoute(destination=r.destination, gateway=r.gateway) for r in routes] or None,
                expose_routes_to_vswitch=expose_routes_to_vswitch,
                labels={NETWORK_LABEL: str(platform_id)},
            )
            return _network(made)

        return self._call("create a network", find_or_create)

    def _get(self, upstream_id: int) -> BoundNetwork:
        return self.client.networks.get_by_id(upstream_id)

    def add_subnet(self, upstream_id: int, subnet: Subnet) -> int:
        def add() -> int:
            if any(str(s.ip_range) == subnet.ip_range for s in self._get(upstream_id).subnets or []):
                return 0
            return int(self.client.networks.add_subnet(Network(id=upstream_id), _subnet(subnet)).id or 0)

        return self._call("add a subnet", add)

    def delete_subnet(self, upstream_id: int, ip_range: str) -> int:
        def remove() -> int:
            if not any(str(s.ip_range) == ip_range for s in self._get(upstream_id).subnets or []):
                return 0
            gone = NetworkSubnet(ip_range=ip_range)
            return int(self.client.networks.delete_subnet(Network(id=upstream_id), gone).id or 0)

        return self._call("delete a subnet", remove)

    def _has_route(self, upstream_id: int, route: Route) -> bool:
        return any(
            (str(r.destination), str(r.gateway)) == (route.destination, route.gateway)
            for r in self._get(upstream_id).routes or []
        )

    def add_route(self, upstream_id: int, route: Route) -> int:
        def add() -> int:
            if self._has_route(upstream_id, route):
                return 0
            wanted = NetworkRoute(destination=route.destination, gateway=route.gateway)
            return int(self.client.networks.add_route(Network(id=upstream_id), wanted).id or 0)

        return self._call("add a route", add)

    def delete_route(self, upstream_id: int, route: Route) -> int:
        def remove() -> int:
            if not self._has_route(upstream_id, route):
                return 0
            gone = NetworkRoute(destination=route.destination, gateway=route.gateway)
            return int(self.client.networks.delete_route(Network(id=upstream_id), gone).id or 0)

        return self._call("delete a route", remove)

    def change_ip_range(self, upstream_id: int, ip_range: str) -> int:
        def change() -> int:
            if str(self._get(upstream_id).ip_range) == ip_range:
                return 0
            return int(self.client.networks.change_ip_range(Network(id=upstream_id), ip_range).id or 0)

        return self._call("change a network's range", change)

    def _private_net(self, upstream_server_id: int, upstream_id: int) -> tuple[str, list[str], str] | None:
        server = self.client.servers.get_by_id(upstream_server_id)
        for net in server.private_net or []:
            if int(net.network.id or 0) == upstream_id:
                return str(net.ip), [str(a) for a in net.alias_ips or []], str(net.mac_address or "")
        return None

    def attach(self, upstream_id: int, upstream_server_id: int, ip: str, alias_ips: list[str]) -> int:
        def attach() -> int:
            if self._private_net(upstream_server_id, upstream_id) is not None:
                return 0
            action = self.client.servers.attach_to_network(
                Server(id=upstream_server_id), Network(id=upstream_id), ip=ip, alias_ips=alias_ips or None
            )
            return int(action.id or 0)

        return self._call("attach a server to a network", attach)

    def mac_address(self, upstream_id: int, upstream_server_id: int) -> str:
        found = self._call("read a server", lambda: self._private_net(upstream_server_id, upstream_id))
        return found[2] if found else ""

    def detach(self, upstream_id: int, upstream_server_id: int) -> int:
        def detach() -> int:
            try:
                if self._private_net(upstream_server_id, upstream_id) is None:
                    return 0
            except APIException as exc:
                if exc.code == "not_found":
                    return 0  # the server is gone upstream: so is its attachment
                raise
            return int(
                self.client.servers.detach_from_network(Server(id=upstream_server_id), Network(id=upstream_id)).id or 0
            )

        return self._call("detach a server from a network", detach)

    def change_alias_ips(self, upstream_id: int, upstream_server_id: int, alias_ips: list[str]) -> int:
        def change() -> int:
            found = self._private_net(upstream_server_id, upstream_id)
            if found is not None and sorted(found[1]) == sorted(alias_ips):
                return 0
            return int(
                self.client.servers.change_alias_ips(
                    Server(id=upstream_server_id), Network(id=upstream_id), alias_ips
                ).id
                or 0
            )

        return self._call("change alias IPs", change)

    def server_of(self, platform_server_id: int) -> int | None:
        found = self._call(
            "list servers",
            lambda: self.client.servers.get_all(label_selector=f"{SERVER_LABEL}={platform_server_id}"),
        )
        ids = sorted(int(s.id or 0) for s in found)
        return ids[0] if ids else None

    def delete(self, upstream_id: int) -> None:
        def delete_once() -> None:
            try:
                self.client.networks.delete(Network(id=upstream_id))
            except APIException as exc:
                if exc.code != "not_found":
                    raise

        self._call("delete a network", delete_once)

    def wait(self, action_id: int) -> None:
        wait_for_action(self.client, action_id, self.retry, UpstreamFailure)


def _subnet(subnet: Subnet) -> NetworkSubnet:
    return NetworkSubnet(
        ip_range=subnet.ip_range, type=subnet.type, network_zone=subnet.network_zone, vswitch_id=subnet.vswitch_id
    )
