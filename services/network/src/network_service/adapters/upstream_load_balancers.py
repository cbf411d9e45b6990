"""Load balancers upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client.

Every upstream load balancer carries the label ``cp_load_balancer_id=<platform id>``: that label,
not a remembered upstream id, is how the worker finds what it made, so a worker that died
between "upstream created it" and "we recorded it" finds it again instead of making a second.
Its targets upstream are servers one by one (a platform label selector resolved by network into
the tenant's servers: upstream's labels are compute's) and IPs. :meth:`HcloudLoadBalancers.sync`
compares upstream with the spec and changes only what differs, so it is safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hcloud import APIException
from hcloud.actions import BoundAction
from hcloud.load_balancer_types import LoadBalancerType
from hcloud.load_balancers import (
    BoundLoadBalancer,
    LoadBalancer,
    LoadBalancerAlgorithm,
    LoadBalancerHealthCheck,
    LoadBalancerHealthCheckHttp,
    LoadBalancerService,
    LoadBalancerServiceHttp,
    LoadBalancerTarget,
    LoadBalancerTargetIP,
)
from hcloud.locations import Location
from hcloud.networks import Network
from hcloud.servers import Server

from cpshared.upstream import SERVER_LABEL, RetryPolicy, call_upstream, hcloud_client, wait_for_action
from network_service.adapters.upstream import APPLICATION
from network_service.adapters.upstream_networks import NETWORK_LABEL
from network_service.domain.actions import UpstreamFailure
from network_service.domain.load_balancers import Spec
from network_service.service_layer.ports import UpstreamLoadBalancer, UpstreamLoadBalancers

T = TypeVar("T")
LOAD_BALANCER_LABEL = "cp_load_balancer_id"


def _load_balancer(bound: BoundLoadBalancer) -> UpstreamLoadBalancer:
    raw = dict(bound.labels or {}).get(LOAD_BALANCER_LABEL, "")
    health: dict[tuple[str, int], str] = {}
    for target in bound.targets or []:
        if target.type == "server" and target.server is not None:
            key = f"server:{int(target.server.id or 0)}"
        elif target.type == "ip" and target.ip is not None:
            key = f"ip:{target.ip.ip}"
        else:
            continue
        for status in target.health_status or []:
            health[(key, int(status.listen_port or 0))] = str(status.status or "unknown")
    public = bound.public_net
    return UpstreamLoadBalancer(
        id=int(bound.id or 0),
        platform_id=int(raw) if raw.isdigit() else None,
        ipv4=public.ipv4.ip if public is not None and public.ipv4 is not None else None,
        ipv6=public.ipv6.ip if public is not None and public.ipv6 is not None else None,
        health=health,
    )


def _service(service: dict[str, Any]) -> LoadBalancerService:
    hc = service["health_check"]
    http_check = hc.get("http")
    http = service.get("http")
    return LoadBalancerService(
        protocol=service["protocol"],
        listen_port=service["listen_port"],
        destination_port=service["destination_port"],
        proxyprotocol=service["proxyprotocol"],
        health_check=LoadBalancerHealthCheck(
            protocol=hc["protocol"],
            port=hc["port"],
            interval=hc["interval"],
            timeout=hc["timeout"],
            retries=hc["retries"],
            http=LoadBalancerHealthCheckHttp(
                domain=http_check["domain"],
                path=http_check["path"],
                response=http_check["response"],
                status_codes=list(http_check["status_codes"]),
                tls=http_check["tls"],
            )
            if http_check
            else None,
        ),
        http=LoadBalancerServiceHttp(
            cookie_name=http["cookie_name"],
            cookie_lifetime=http["cookie_lifetime"],
            redirect_http=http["redirect_http"],
            sticky_sessions=http["sticky_sessions"],
            timeout_idle=http["timeout_idle"],
        )
        if http
        else None,
    )


def _seen(service: LoadBalancerService) -> dict[str, Any]:
    """Upstream's service in the platform's shape (certificates aside), to compare."""
    hc = service.health_check
    hc_http = hc.http if hc is not None else None
    http = service.http
    return {
        "protocol": service.protocol,
        "listen_port": service.listen_port,
        "destination_port": service.destination_port,
        "proxyprotocol": bool(service.proxyprotocol),
        "health_check": {
            "protocol": hc.protocol if hc else None,
            "port": hc.port if hc else None,
            "interval": hc.interval if hc else None,
            "timeout": hc.timeout if hc else None,
            "retries": hc.retries if hc else None,
            **(
                {
                    "http": {
                        "domain": hc_http.domain or None,
                        "path": hc_http.path,
                        "response": hc_http.response or "",
                        "status_codes": list(hc_http.status_codes or []),
                        "tls": bool(hc_http.tls),
                    }
                }
                if hc_http is not None
                else {}
            ),
        },
        "http": {
            "cookie_name": http.cookie_name,
            "cookie_lifetime": http.cookie_lifetime,
            "certificates": [],
            "redirect_http": bool(http.redirect_http),
            "sticky_sessions": bool(http.sticky_sessions),
            "timeout_idle": http.timeout_idle,
        }
        if http is not None
        else None,
    }


def _nothing(lb: BoundLoadBalancer) -> BoundAction | None:
    return None


class HcloudLoadBalancers(UpstreamLoadBalancers):
    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0, retry: RetryPolicy | None = None) -> None:
        self.client = hcloud_client(endpoint, token, APPLICATION, timeout=timeout)
        self.retry = retry or RetryPolicy()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return call_upstream(what, call, self.retry, UpstreamFailure)

    def _wait(self, action: BoundAction | None) -> None:
        if action is not None:
            wait_for_action(self.client, int(action.id or 0), self.retry, UpstreamFailure)

    def _labelled(self, selector: str) -> list[UpstreamLoadBalancer]:
        found = self.client.load_balancers.get_all(label_selector=selector)
        return sorted((_load_balancer(lb) for lb in found), key=lambda lb: lb.id)

    def find(self, platform_id: int) -> list[UpstreamLoadBalancer]:
        return self._call("list load balancers", lambda: self._labelled(f"{LOAD_BALANCER_LABEL}={platform_id}"))

    def labelled(self) -> list[UpstreamLoadBalancer]:
        return self._call("list load balancers", lambda: self._labelled(LOAD_BALANCER_LABEL))

    def create(self, platform_id: int, spec: Spec, location: str) -> UpstreamLoadBalancer:
        def find_or_create() -> UpstreamLoadBalancer:
            existing = self._labelled(f"{LOAD_BALANCER_LABEL}={platform_id}")
            if existing:
                return existing[0]
            made = self.client.load_balancers.create(
                name=f"cp-load-balancer-{platform_id}",
                load_balancer_type=LoadBalancerType(name=spec.type),
                algorithm=LoadBalancerAlgorithm(type=spec.algorithm),
                location=Location(name=location),
                labels={LOAD_BALANCER_LABEL: str(platform_id)},
                public_interface=True,
            )
            self._wait(made.action)
            return _load_balancer(self.client.load_balancers.get_by_id(int(made.load_balancer.id or 0)))

        return self._call("create a load balancer", find_or_create)

    def sync(
        self, upstream_id: int, spec: Spec, servers: list[tuple[int, bool]], networks: dict[int, int]
    ) -> UpstreamLoadBalancer:
        lbs = self.client.load_balancers
        ref = LoadBalancer(id=upstream_id)

        def step(what: str, change: Callable[[BoundLoadBalancer], BoundAction | None]) -> BoundLoadBalancer:
            """Read upstream, change what differs (``change`` answers None when nothing does)."""

            def once() -> BoundLoadBalancer:
                current = lbs.get_by_id(upstream_id)
                self._wait(change(current))
                return current

            return self._call(what, once)

        def change_type(lb: BoundLoadBalancer) -> BoundAction | None:
            current = lb.load_balancer_type.name if lb.load_balancer_type is not None else None
            return lbs.change_type(ref, LoadBalancerType(name=spec.type)) if current != spec.type else None

        def change_algorithm(lb: BoundLoadBalancer) -> BoundAction | None:
            current = lb.algorithm.type if lb.algorithm is not None else None
            algorithm = LoadBalancerAlgorithm(type=spec.algorithm)
            return lbs.change_algorithm(ref, algorithm) if current != spec.algorithm else None

        step("change a load balancer's type", change_type)
        step("change a load balancer's algorithm", change_algorithm)
        wanted_ips = {networks[int(n["network"])]: n.get("ip") for n in spec.networks}
        for upstream_network, ip in sorted(wanted_ips.items()):

            def attach(lb: BoundLoadBalancer, net: int = upstream_network, ip: Any = ip) -> BoundAction | None:
                if any(int(p.network.id or 0) == net for p in lb.private_net or []):
                    return None
                return lbs.attach_to_network(ref, Network(id=net), ip=ip or None)

            step("attach a load balancer to a network", attach)

        def public(lb: BoundLoadBalancer) -> BoundAction | None:
            enabled = bool(lb.public_net.enabled) if lb.public_net is not None else True
            if spec.public_enabled and not enabled:
                return lbs.enable_public_interface(ref)
            if not spec.public_enabled and enabled:
                return lbs.disable_public_interface(ref)
            return None

        step("change a load balancer's public interface", public)
        current = step("read a load balancer", _nothing)
        for p in current.private_net or []:
            net = int(p.network.id or 0)
            if net not in wanted_ips:

                def detach(lb: BoundLoadBalancer, net: int = net) -> BoundAction | None:
                    if any(int(q.network.id or 0) == net for q in lb.private_net or []):
                        return lbs.detach_from_network(ref, Network(id=net))
                    return None

                step("detach a load balancer from a network", detach)
        wanted_services = {s["listen_port"]: s for s in spec.services}
        for service in current.services or []:
            if service.listen_port not in wanted_services:

                def delete_service(
                    lb: BoundLoadBalancer, port: int = int(service.listen_port or 0)
                ) -> BoundAction | None:
                    if any(s.listen_port == port for s in lb.services or []):
                        return lbs.delete_service(ref, LoadBalancerService(listen_port=port))
                    return None

                step("delete a load balancer's service", delete_service)
        for port, wanted in sorted(wanted_services.items()):

            def service_step(
                lb: BoundLoadBalancer, port: int = port, wanted: dict[str, Any] = wanted
            ) -> BoundAction | None:
                found = next((s for s in lb.services or [] if s.listen_port == port), None)
                if found is None:
                    return lbs.add_service(ref, _service(wanted))
                return lbs.update_service(ref, _service(wanted)) if _seen(found) != wanted else None

            step("change a load balancer's services", service_step)
        wanted_targets = {("server", str(s)): private for s, private in servers}
        wanted_targets |= {("ip", str(t.ip)): False for t in spec.targets if t.type == "ip"}
        for target in current.targets or []:
            if target.type == "server" and target.server is not None:
                key = ("server", str(int(target.server.id or 0)))
            elif target.type == "ip" and target.ip is not None:
                key = ("ip", str(target.ip.ip))
            else:
                key = ("label_selector", "")
            if key not in wanted_targets or wanted_targets[key] != bool(target.use_private_ip or False):

                def remove(lb: BoundLoadBalancer, gone: LoadBalancerTarget = target) -> BoundAction | None:
                    return lbs.remove_target(ref, gone)

                step("remove a load balancer's target", remove)
        current = step("read a load balancer", _nothing)
        present = {
            ("server", str(int(t.server.id or 0)))
            if t.type == "server" and t.server
            else ("ip", str(t.ip.ip if t.ip else ""))
            for t in current.targets or []
        }
        for (kind, value), private in sorted(wanted_targets.items()):
            if (kind, value) in present:
                continue
            target = (
                LoadBalancerTarget(type="server", server=Server(id=int(value)), use_private_ip=private)  # type: ignore[arg-type]
                if kind == "server"
                else LoadBalancerTarget(type="ip", ip=LoadBalancerTargetIP(ip=value))
            )

            def add(lb: BoundLoadBalancer, new: LoadBalancerTarget = target) -> BoundAction | None:
                return lbs.add_target(ref, new)

            step("add a load balancer's target", add)
        current = step("read a load balancer", _nothing)
        result = _load_balancer(current)
        for ip, attribute in ((result.ipv4, "ipv4"), (result.ipv6, "ipv6")):
            if not ip:
                continue
            wanted_ptr = spec.dns_ptrs.get(ip)

            def dns(
                lb: BoundLoadBalancer, ip: str = ip, attribute: str = attribute, wanted_ptr: Any = wanted_ptr
            ) -> BoundAction | None:
                address = getattr(lb.public_net, attribute, None) if lb.public_net is not None else None
                raw = getattr(address, "dns_ptr", None)
                now = (
                    raw
                    if isinstance(raw, str) or raw is None
                    else next((entry.get("dns_ptr") for entry in raw if entry.get("ip") == ip), None)
                )
                if (now or None) == (wanted_ptr or None):
                    return None
                return lbs.change_dns_ptr(ref, ip, wanted_ptr)

            step("change a load balancer's reverse DNS", dns)
        return _load_balancer(step("read a load balancer", _nothing))

    def server_of(self, platform_server_id: int) -> int | None:
        found = self._call(
            "list servers",
            lambda: self.client.servers.get_all(label_selector=f"{SERVER_LABEL}={platform_server_id}"),
        )
        ids = sorted(int(s.id or 0) for s in found)
        return ids[0] if ids else None

    def network_of(self, platform_network_id: int) -> int | None:
        found = self._call(
            "list networks",
            lambda: self.client.networks.get_all(label_selector=f"{NETWORK_LABEL}={platform_network_id}"),
        )
        ids = sorted(int(n.id or 0) for n in found)
        return ids[0] if ids else None

    def delete(self, upstream_id: int) -> None:
        def delete_once() -> None:
            try:
                # DELETE answers 204 (Hetzner's reference); hcloud 2.27's load_balancers.delete
                # expects an action in the answer, so the request is sent as it is.
                self.client.request("DELETE", f"/load_balancers/{upstream_id}")
            except APIException as exc:
                if exc.code != "not_found":
                    raise

        self._call("delete a load balancer", delete_once)
