"""Primary IPs upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client.

Every upstream primary IP the platform knows carries the label ``cp_primary_ip_id=<platform
id>``: that label, not a remembered upstream id, is how the worker finds what it made, so a
worker that died between "upstream created it" and "we recorded it" finds it again instead of
making a second. A server's own addresses (made upstream with the server) get the label when
network adopts them. Upstream's ``auto_delete`` is kept off on every one: the platform's row
decides what a deleted server takes along, and network's worker deletes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hcloud import APIException
from hcloud.locations import Location
from hcloud.primary_ips import BoundPrimaryIP, PrimaryIP

from cpshared.upstream import SERVER_LABEL, RetryPolicy, call_upstream, hcloud_client, wait_for_action
from network_service.domain.actions import UpstreamFailure
from network_service.service_layer.ports import UpstreamPrimaryIp, UpstreamPrimaryIps

T = TypeVar("T")
APPLICATION = "cloudplatform-network"
PRIMARY_IP_LABEL = "cp_primary_ip_id"


def _primary_ip(bound: BoundPrimaryIP) -> UpstreamPrimaryIp:
    labels = dict(bound.labels or {})
    raw = labels.get(PRIMARY_IP_LABEL, "")
    ip = str(bound.ip or "")
    if bound.type == "ipv6" and "/" not in ip:
        ip = f"{ip}/64"
    return UpstreamPrimaryIp(
        id=int(bound.id or 0),
        ip=ip,
        assignee_id=int(bound.assignee_id) if bound.assignee_id else None,
        platform_id=int(raw) if raw.isdigit() else None,
    )


class HcloudPrimaryIps(UpstreamPrimaryIps):
    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0, retry: RetryPolicy | None = None) -> None:
        self.client = hcloud_client(endpoint, token, APPLICATION, timeout=timeout)
        self.retry = retry or RetryPolicy()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return call_upstream(what, call, self.retry, UpstreamFailure)

    def _labelled(self, selector: str) -> list[UpstreamPrimaryIp]:
        found = self.client.primary_ips.get_all(label_selector=selector)
        return sorted((_primary_ip(p) for p in found), key=lambda p: p.id)

    def find(self, platform_id: int) -> list[UpstreamPrimaryIp]:
        return self._call("list primary IPs", lambda: self._labelled(f"{PRIMARY_IP_LABEL}={platform_id}"))

    def labelled(self) -> list[UpstreamPrimaryIp]:
        return self._call("list primary IPs", lambda: self._labelled(PRIMARY_IP_LABEL))

    def create(
        self, platform_id: int, kind: str, location: str, upstream_server_id: int | None
    ) -> tuple[UpstreamPrimaryIp, int]:
        def find_or_create() -> tuple[UpstreamPrimaryIp, int]:
            existing = self._labelled(f"{PRIMARY_IP_LABEL}={platform_id}")
            if existing:
                return existing[0], 0
            answer = self.client.primary_ips.create(
                type=kind,
                name=f"cp-primary-ip-{platform_id}",
                location=None if upstream_server_id else Location(name=location),
                assignee_type="server" if upstream_server_id else None,
                assignee_id=upstream_server_id,
                auto_delete=False,
                labels={PRIMARY_IP_LABEL: str(platform_id)},
            )
            action = int(answer.action.id or 0) if answer.action else 0
            return _primary_ip(answer.primary_ip), action

        return self._call("create a primary IP", find_or_create)

    def adopt(self, platform_id: int, kind: str, upstream_server_id: int) -> UpstreamPrimaryIp | None:
        def label_it() -> UpstreamPrimaryIp | None:
            existing = self._labelled(f"{PRIMARY_IP_LABEL}={platform_id}")
            if existing:
                return existing[0]
            server = self.client.servers.get_by_id(upstream_server_id)
            public = server.public_net
            own = (public.primary_ipv4 if kind == "ipv4" else public.primary_ipv6) if public is not None else None
            if own is None or not own.id:
                return None
            current = self.client.primary_ips.get_by_id(int(own.id))
            labels = {**dict(current.labels or {}), PRIMARY_IP_LABEL: str(platform_id)}
            return _primary_ip(
                self.client.primary_ips.update(
                    PrimaryIP(id=int(own.id)), auto_delete=False, labels=labels, name=f"cp-primary-ip-{platform_id}"
                )
            )

        return self._call("adopt a server's primary IP", label_it)

    def server_of(self, platform_server_id: int) -> int | None:
        found = self._call(
            "list servers",
            lambda: self.client.servers.get_all(label_selector=f"{SERVER_LABEL}={platform_server_id}"),
        )
        ids = sorted(int(s.id or 0) for s in found)
        return ids[0] if ids else None

    def assign(self, upstream_id: int, upstream_server_id: int) -> int:
        def assign() -> int:
            current = self.client.primary_ips.get_by_id(upstream_id)
            if current.assignee_id == upstream_server_id:
                return 0  # a retry after upstream had assigned it already
            return int(self.client.primary_ips.assign(PrimaryIP(id=upstream_id), upstream_server_id, "server").id or 0)

        return self._call("assign a primary IP", assign)

    def unassign(self, upstream_id: int) -> int:
        def unassign() -> int:
            if not self.client.primary_ips.get_by_id(upstream_id).assignee_id:
                return 0  # a retry after upstream had unassigned it already
            return int(self.client.primary_ips.unassign(PrimaryIP(id=upstream_id)).id or 0)

        return self._call("unassign a primary IP", unassign)

    def change_dns_ptr(self, upstream_id: int, ip: str, dns_ptr: str | None) -> int:
        return int(
            self._call(
                "change a reverse DNS entry",
                lambda: self.client.primary_ips.change_dns_ptr(PrimaryIP(id=upstream_id), ip, dns_ptr),  # type: ignore[arg-type]
            ).id
            or 0
        )

    def delete(self, upstream_id: int) -> None:
        def delete_once() -> None:
            # An assigned one is unassigned by upstream's delete (its server is off: the platform
            # checked it; or gone).
            try:
                self.client.primary_ips.delete(PrimaryIP(id=upstream_id))
            except APIException as exc:
                if exc.code != "not_found":
                    raise

        self._call("delete a primary IP", delete_once)

    def wait(self, action_id: int) -> None:
        wait_for_action(self.client, action_id, self.retry, UpstreamFailure)
