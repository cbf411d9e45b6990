"""Floating IPs upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client.

Every upstream floating IP carries the label ``cp_floating_ip_id=<platform id>``: that label,
not a remembered upstream id, is how the worker finds what it made, so a worker that died
between "upstream created it" and "we recorded it" finds it again instead of making a second.
The servers are compute's, found by compute's label (:data:`cpshared.upstream.SERVER_LABEL`).
Every call goes through the platform's one retry policy (:func:`cpshared.upstream.call_upstream`):
transient failures are retried, a refusal is :class:`UpstreamFailure` with upstream's code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hcloud import APIException
from hcloud.floating_ips import BoundFloatingIP, FloatingIP
from hcloud.locations import Location
from hcloud.servers import Server

from cpshared.upstream import SERVER_LABEL, RetryPolicy, call_upstream, hcloud_client, wait_for_action
from network_service.domain.actions import UpstreamFailure
from network_service.service_layer.ports import UpstreamFloatingIp, UpstreamFloatingIps

T = TypeVar("T")
APPLICATION = "cloudplatform-network"
FLOATING_IP_LABEL = "cp_floating_ip_id"


def _floating_ip(bound: BoundFloatingIP) -> UpstreamFloatingIp:
    labels = dict(bound.labels or {})
    raw = labels.get(FLOATING_IP_LABEL, "")
    ip = str(bound.ip or "")
    if bound.type == "ipv6" and "/" not in ip:
        ip = f"{ip}/64"
    return UpstreamFloatingIp(
        id=int(bound.id or 0),
        ip=ip,
        server_id=int(bound.server.id or 0) if bound.server is not None else None,
        platform_id=int(raw) if raw.isdigit() else None,
    )


class HcloudFloatingIps(UpstreamFloatingIps):
    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0, retry: RetryPolicy | None = None) -> None:
        self.client = hcloud_client(endpoint, token, APPLICATION, timeout=timeout)
        self.retry = retry or RetryPolicy()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return call_upstream(what, call, self.retry, UpstreamFailure)

    def _labelled(self, selector: str) -> list[UpstreamFloatingIp]:
        found = self.client.floating_ips.get_all(label_selector=selector)
        return sorted((_floating_ip(f) for f in found), key=lambda f: f.id)

    def find(self, platform_id: int) -> list[UpstreamFloatingIp]:
        return self._call("list floating IPs", lambda: self._labelled(f"{FLOATING_IP_LABEL}={platform_id}"))

    def labelled(self) -> list[UpstreamFloatingIp]:
        return self._call("list floating IPs", lambda: self._labelled(FLOATING_IP_LABEL))

    def create(
        self, platform_id: int, kind: str, home_location: str, upstream_server_id: int | None, description: str
    ) -> tuple[UpstreamFloatingIp, int]:
        def find_or_create() -> tuple[UpstreamFloatingIp, int]:
            existing = self._labelled(f"{FLOATING_IP_LABEL}={platform_id}")
            if existing:
                return existing[0], 0
            answer = self.client.floating_ips.create(
                type=kind,
                description=description or None,
                labels={FLOATING_IP_LABEL: str(platform_id)},
                home_location=None if upstream_server_id else Location(name=home_location),
                server=Server(id=upstream_server_id) if upstream_server_id else None,
                name=f"cp-floating-ip-{platform_id}",
            )
            action = int(answer.action.id or 0) if answer.action else 0
            return _floating_ip(answer.floating_ip), action

        return self._call("create a floating IP", find_or_create)

    def server_of(self, platform_server_id: int) -> int | None:
        found = self._call(
            "list servers",
            lambda: self.client.servers.get_all(label_selector=f"{SERVER_LABEL}={platform_server_id}"),
        )
        ids = sorted(int(s.id or 0) for s in found)
        return ids[0] if ids else None

    def assign(self, upstream_id: int, upstream_server_id: int) -> int:
        def assign() -> int:
            current = self.client.floating_ips.get_by_id(upstream_id)
            if current.server is not None and current.server.id == upstream_server_id:
                return 0  # a retry after upstream had assigned it already
            return int(
                self.client.floating_ips.assign(FloatingIP(id=upstream_id), Server(id=upstream_server_id)).id or 0
            )

        return self._call("assign a floating IP", assign)

    def unassign(self, upstream_id: int) -> int:
        def unassign() -> int:
            if self.client.floating_ips.get_by_id(upstream_id).server is None:
                return 0  # a retry after upstream had unassigned it already
            return int(self.client.floating_ips.unassign(FloatingIP(id=upstream_id)).id or 0)

        return self._call("unassign a floating IP", unassign)

    def change_dns_ptr(self, upstream_id: int, ip: str, dns_ptr: str | None) -> int:
        return int(
            self._call(
                "change a reverse DNS entry",
                lambda: self.client.floating_ips.change_dns_ptr(FloatingIP(id=upstream_id), ip, dns_ptr),  # type: ignore[arg-type]
            ).id
            or 0
        )

    def delete(self, upstream_id: int) -> None:
        def delete_once() -> None:
            try:
                self.client.floating_ips.delete(FloatingIP(id=upstream_id))
            except APIException as exc:
                if exc.code != "not_found":
                    raise

        self._call("delete a floating IP", delete_once)

    def wait(self, action_id: int) -> None:
        wait_for_action(self.client, action_id, self.retry, UpstreamFailure)
