"""Firewalls upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client.

Every upstream firewall carries the label ``cp_firewall_id=<platform id>``: that label, not a
remembered upstream id, is how the worker finds what it made, so a worker that died between
"upstream created it" and "we recorded it" finds it again instead of making a second. Upstream
firewalls are applied to servers one by one: a tenant's label selector is resolved by network
into that tenant's servers (upstream's labels are compute's, and a selector applied upstream
could match another tenant's server). Every change looks at upstream first and does nothing when
upstream has it already, so each is safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hcloud import APIException
from hcloud.actions import BoundAction
from hcloud.firewalls import BoundFirewall, Firewall, FirewallResource, FirewallRule
from hcloud.servers import Server

from cpshared.upstream import SERVER_LABEL, RetryPolicy, call_upstream, hcloud_client, wait_for_action
from network_service.adapters.upstream import APPLICATION
from network_service.domain.actions import UpstreamFailure
from network_service.domain.firewalls import Rule
from network_service.service_layer.ports import UpstreamFirewall, UpstreamFirewalls

T = TypeVar("T")
FIREWALL_LABEL = "cp_firewall_id"


def _rule(rule: FirewallRule) -> Rule:
    return Rule(
        direction=str(rule.direction),
        protocol=str(rule.protocol),
        port=rule.port or None,
        source_ips=tuple(rule.source_ips or ()),
        destination_ips=tuple(rule.destination_ips or ()),
        description=rule.description or None,
    )


def _upstream_rule(rule: Rule) -> FirewallRule:
    return FirewallRule(
        direction=rule.direction,
        protocol=rule.protocol,
        source_ips=list(rule.source_ips),
        destination_ips=list(rule.destination_ips) or None,
        port=rule.port,
        description=rule.description,
    )


def _firewall(bound: BoundFirewall) -> UpstreamFirewall:
    raw = dict(bound.labels or {}).get(FIREWALL_LABEL, "")
    servers = sorted(
        int(r.server.id or 0) for r in bound.applied_to or [] if r.type == FirewallResource.TYPE_SERVER and r.server
    )
    return UpstreamFirewall(
        id=int(bound.id or 0),
        rules=[_rule(r) for r in bound.rules or []],
        server_ids=servers,
        platform_id=int(raw) if raw.isdigit() else None,
    )


def _servers(upstream_server_ids: list[int]) -> list[FirewallResource]:
    return [FirewallResource(type=FirewallResource.TYPE_SERVER, server=Server(id=s)) for s in upstream_server_ids]


def _ids(actions: list[BoundAction]) -> list[int]:
    return [int(a.id or 0) for a in actions]


class HcloudFirewalls(UpstreamFirewalls):
    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0, retry: RetryPolicy | None = None) -> None:
        self.client = hcloud_client(endpoint, token, APPLICATION, timeout=timeout)
        self.retry = retry or RetryPolicy()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return call_upstream(what, call, self.retry, UpstreamFailure)

    def _labelled(self, selector: str) -> list[UpstreamFirewall]:
        found = self.client.firewalls.get_all(label_selector=selector)
        return sorted((_firewall(f) for f in found), key=lambda f: f.id)

    def find(self, platform_id: int) -> list[UpstreamFirewall]:
        return self._call("list firewalls", lambda: self._labelled(f"{FIREWALL_LABEL}={platform_id}"))

    def labelled(self) -> list[UpstreamFirewall]:
        return self._call("list firewalls", lambda: self._labelled(FIREWALL_LABEL))

    def create(self, platform_id: int, rules: list[Rule]) -> UpstreamFirewall:
        def find_or_create() -> UpstreamFirewall:
            existing = self._labelled(f"{FIREWALL_LABEL}={platform_id}")
            if existing:
                return existing[0]
            made = self.client.firewalls.create(
                name=f"cp-firewall-{platform_id}",
                rules=[_upstream_rule(r) for r in rules],
                labels={FIREWALL_LABEL: str(platform_id)},  # type: ignore[arg-type]
            )
            for action in made.actions or []:
                wait_for_action(self.client, int(action.id or 0), self.retry, UpstreamFailure)
            return _firewall(self.client.firewalls.get_by_id(int(made.firewall.id or 0)))

        return self._call("create a firewall", find_or_create)

    def _get(self, upstream_id: int) -> UpstreamFirewall:
        return _firewall(self.client.firewalls.get_by_id(upstream_id))

    def set_rules(self, upstream_id: int, rules: list[Rule]) -> list[int]:
        def set_rules() -> list[int]:
            if self._get(upstream_id).rules == rules:
                return []
            return _ids(self.client.firewalls.set_rules(Firewall(id=upstream_id), [_upstream_rule(r) for r in rules]))

        return self._call("set a firewall's rules", set_rules)

    def apply(self, upstream_id: int, upstream_server_ids: list[int]) -> list[int]:
        def apply() -> list[int]:
            missing = sorted(set(upstream_server_ids) - set(self._get(upstream_id).server_ids))
            if not missing:
                return []
            return _ids(self.client.firewalls.apply_to_resources(Firewall(id=upstream_id), _servers(missing)))

        return self._call("apply a firewall", apply)

    def remove(self, upstream_id: int, upstream_server_ids: list[int]) -> list[int]:
        def remove() -> list[int]:
            present = sorted(set(upstream_server_ids) & set(self._get(upstream_id).server_ids))
            if not present:
                return []
            return _ids(self.client.firewalls.remove_from_resources(Firewall(id=upstream_id), _servers(present)))

        return self._call("remove a firewall", remove)

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
                applied = self._get(upstream_id).server_ids
                if applied:
                    for action in self.client.firewalls.remove_from_resources(
                        Firewall(id=upstream_id), _servers(applied)
                    ):
                        wait_for_action(self.client, int(action.id or 0), self.retry, UpstreamFailure)
                self.client.firewalls.delete(Firewall(id=upstream_id))
            except APIException as exc:
                if exc.code != "not_found":
                    raise

        self._call("delete a firewall", delete_once)

    def wait(self, action_id: int) -> None:
        wait_for_action(self.client, action_id, self.retry, UpstreamFailure)
