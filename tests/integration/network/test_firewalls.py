"""Firewalls through network's use cases on MariaDB, with identity's ``firewall`` quota and
compute's servers over gRPC (the live platform's).

A firewall is created with rules, labels and what it applies to (a server and a label selector):
its rules, servers and selectors are stored, its ``apply_firewall`` action runs and locks it, a
unit of identity's ``firewall`` quota is reserved; completing the action records
``firewall.applied`` in network's outbox. Listing filters by name and label selector, sorts and
pages; another tenant's firewall is NOT_FOUND. set_rules replaces the rule list; bad input
(a port ``0-70000``, a ``/33`` range, 10,000 rules, an unknown server) is refused with nothing
changed; a firewall applied to anything is ``resource_in_use``; removed from everything it is
deleted and its quota unit is back. Upstream (network's worker) is not part of this slice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hcloud import Client

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.compute.v1 import events_pb2 as compute_events
from cloudplatform.identity.v1 import events_pb2 as identity_events
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.service_layer import servers as compute_servers
from compute_service.service_layer.provisioning import Provisioner
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, DomainError, NotFound
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import COMPUTE_EVENTS
from hetzner_conventions.label_selector import parse_label_selector
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserStatus
from identity_service.service_layer import users
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.adapters.upstream_firewalls import FIREWALL_LABEL, HcloudFirewalls
from network_service.domain import firewalls as fws
from network_service.domain.actions import RUNNING, SUCCESS, Locked
from network_service.domain.networks import ResourceInUse
from network_service.service_layer import firewalls
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.integration.network.test_worker_crashes import _apply, _identity_event

SSH = {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0", "::/0"]}
PING = {"direction": "in", "protocol": "icmp", "source_ips": ["10.0.0.0/8"], "description": "ping"}
OUT = {"direction": "out", "protocol": "udp", "port": "1024-2048", "destination_ips": ["192.168.0.0/16"]}


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_fw_id") as identity_url,
        mariadb.scratch_database("cp_test_fw_gw") as gateway_url,
        mariadb.scratch_database("cp_test_fw_cp") as compute_url,
        mariadb.scratch_database("cp_test_fw_nw") as network_url,
    ):
        for service, url in (
            ("identity", identity_url),
            ("gateway", gateway_url),
            ("compute", compute_url),
            ("network", network_url),
        ):
            upgrade(service, migrations_dir(service), url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, network_url=network_url) as live:
            yield live


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


def _only(user_id: int) -> firewalls.Reach:
    def reach(owner: int, organization_id: int | None) -> None:
        if owner != user_id or organization_id is not None:
            raise NotFound("not yours")

    return reach


def _user(platform: LivePlatform, name: str) -> int:
    return users.create_user(
        commands.CreateUser(
            name=name, email=f"{name}@example.com", password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    ).id


def _server(platform: LivePlatform, user_id: int, name: str) -> int:
    assert platform.compute is not None
    server, _ = compute_servers.create(
        compute_servers.NewServer(
            user_id=user_id,
            organization_id=None,
            name=name,
            server_type="cpx11",
            image="ubuntu-24.04",
            datacenter="fsn1",
            labels={"role": "web"},
        ),
        platform.compute.quotas,
        platform.compute.uow(),
    )
    return server.id


def _quota_used(platform: LivePlatform, user_id: int) -> int:
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=user_id), "firewall")
    return quota.current_usage if quota is not None else 0


def _complete(platform: LivePlatform, firewall_id: int, action_id: int) -> None:
    """What network's worker does once upstream did the action."""
    assert platform.network is not None
    with platform.network.uow() as uow:
        firewall = uow.firewalls.get(firewall_id, for_update=True)
        action = uow.actions.get(action_id)
        assert firewall is not None and action is not None and action.status == RUNNING
        now = utcnow()
        firewall.completed(action, now)
        uow.actions.save(action)
        uow.firewalls.save(firewall, now)
        uow.commit()


def _recorded(platform: LivePlatform, firewall_id: int) -> list[str]:
    assert platform.network is not None
    with platform.network.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.event_type)
            .where(outbox.c.message_key == str(firewall_id), outbox.c.event_type.like("firewall.%"))
            .order_by(outbox.c.id)
        )
        return [row.event_type for row in rows]


def _state(platform: LivePlatform, firewall_id: int) -> tuple[Any, ...]:
    assert platform.network is not None
    fw = firewalls.get(firewall_id, _anyone, platform.network.uow())
    return fw.name, fw.rules, fw.servers, fw.selectors, fw.labels, fw.locked, fw.version


def test_a_firewall_from_creation_to_deletion(platform: LivePlatform) -> None:
    service = platform.network
    assert service is not None
    user_id = _user(platform, "fw")
    first = _server(platform, user_id, "fw-1")

    fw, (apply,) = firewalls.create(
        firewalls.NewFirewall(
            user_id=user_id,
            organization_id=None,
            name="web",
            rules=[SSH, PING],
            labels={"env": "prod"},
            apply_to=firewalls.Targets(servers=[first], selectors=["role=web"]),
        ),
        _only(user_id),
        service.uow(),
        service.firewall_quotas,
        service.compute,
    )
    assert apply.command == fws.APPLY and apply.status == RUNNING
    assert _quota_used(platform, user_id) == 1
    stored = firewalls.get(fw.id, _only(user_id), service.uow())
    assert [r.as_dict() for r in stored.rules] == [
        {**SSH, "destination_ips": [], "description": None},
        {**PING, "port": None, "destination_ips": []},
    ]
    assert stored.labels == {"env": "prod"} and stored.locked and stored.servers == []
    with pytest.raises(Locked):
        firewalls.set_rules(fw.id, [OUT], _anyone, service.uow())

    _complete(platform, fw.id, apply.id)
    applied = firewalls.get(fw.id, _anyone, service.uow())
    assert (applied.servers, applied.selectors, applied.locked) == ([first], ["role=web"], False)
    assert _recorded(platform, fw.id) == ["firewall.created", "firewall.applied"]
    labelled = _server(platform, user_id, "fw-labelled")  # role=web
    _server_created(platform, labelled, user_id, {"role": "web"})
    covered = firewalls.of_servers([first, labelled, 999_999], _anyone, service.uow())
    assert {s: [f.id for f in fws_] for s, fws_ in covered.items()} == {first: [fw.id], labelled: [fw.id]}
    assert firewalls.selector_servers([applied], service.uow()) == {(fw.id, "role=web"): [labelled]}

    with pytest.raises(ResourceInUse):
        firewalls.delete(fw.id, _anyone, service.uow(), service.firewall_quotas)

    rules = firewalls.set_rules(fw.id, [OUT], _anyone, service.uow())
    _complete(platform, fw.id, rules.id)
    assert [r.as_dict()["destination_ips"] for r in firewalls.get(fw.id, _anyone, service.uow()).rules] == [
        ["192.168.0.0/16"]
    ]

    removed = firewalls.remove_from_resources(
        fw.id, firewalls.Targets(servers=[first], selectors=["role=web"]), _anyone, service.uow()
    )
    _complete(platform, fw.id, removed.id)
    assert firewalls.action(removed.id, _anyone, service.uow()).status == SUCCESS
    firewalls.delete(fw.id, _anyone, service.uow(), service.firewall_quotas)
    with pytest.raises(NotFound):
        firewalls.get(fw.id, _anyone, service.uow())
    assert _quota_used(platform, user_id) == 0
    assert _recorded(platform, fw.id) == [
        "firewall.created",
        "firewall.applied",
        "firewall.rules_set",
        "firewall.removed",
        "firewall.deleted",
    ]


@pytest.mark.parametrize(
    "rules",
    [
        [{**SSH, "port": "0-70000"}],
        [{**SSH, "source_ips": ["10.0.0.0/33"]}],
        [SSH] * 10_000,
        [{**SSH, "protocol": "icmp"}],
    ],
    ids=["port-0-70000", "cidr-33", "ten-thousand", "icmp-with-port"],
)
def test_bad_rules_change_nothing(platform: LivePlatform, rules: list[dict[str, Any]]) -> None:
    service = platform.network
    assert service is not None
    user_id = _user(platform, f"bad{len(rules)}{len(str(rules))}")
    with pytest.raises(DomainError):
        firewalls.create(
            firewalls.NewFirewall(user_id=user_id, organization_id=None, name="bad", rules=rules),
            _anyone,
            service.uow(),
            service.firewall_quotas,
            service.compute,
        )
    assert firewalls.search(firewalls.Search(user_id=user_id, organization_id=None), service.uow()) == ([], 0)
    assert _quota_used(platform, user_id) == 0

    fw, _ = firewalls.create(
        firewalls.NewFirewall(user_id=user_id, organization_id=None, name="good", rules=[SSH]),
        _anyone,
        service.uow(),
        service.firewall_quotas,
        service.compute,
    )
    before = _state(platform, fw.id)
    with pytest.raises(DomainError):
        firewalls.set_rules(fw.id, rules, _anyone, service.uow())
    assert _state(platform, fw.id) == before
    firewalls.delete(fw.id, _anyone, service.uow(), service.firewall_quotas)


def test_listing_naming_and_tenants(platform: LivePlatform) -> None:
    service = platform.network
    assert service is not None
    owner, other = _user(platform, "fwlist"), _user(platform, "fwother")
    made = []
    for name, env in (("b", "prod"), ("a", "dev"), ("c", "prod")):
        fw, actions = firewalls.create(
            firewalls.NewFirewall(user_id=owner, organization_id=None, name=name, labels={"env": env}),
            _anyone,
            service.uow(),
            service.firewall_quotas,
            service.compute,
        )
        assert actions == []
        made.append(fw.id)
    with pytest.raises(AlreadyExists):
        firewalls.create(
            firewalls.NewFirewall(user_id=owner, organization_id=None, name="a"),
            _anyone,
            service.uow(),
            service.firewall_quotas,
            service.compute,
        )
    page, total = firewalls.search(
        firewalls.Search(
            user_id=owner,
            organization_id=None,
            requirements=parse_label_selector("env=prod").requirements,
            order=[("name", True)],
        ),
        service.uow(),
    )
    assert ([f.name for f in page], total) == (["c", "b"], 2)
    page, total = firewalls.search(
        firewalls.Search(user_id=owner, organization_id=None, order=[("name", False)], page=2, per_page=2),
        service.uow(),
    )
    assert ([f.name for f in page], total) == (["c"], 3)
    assert firewalls.search(firewalls.Search(user_id=owner, organization_id=None, name="a"), service.uow())[1] == 1

    with pytest.raises(NotFound):
        firewalls.get(made[0], _only(other), service.uow())
    with pytest.raises(NotFound):
        firewalls.update(made[0], "stolen", None, _only(other), service.uow())
    with pytest.raises(NotFound):
        firewalls.delete(made[0], _only(other), service.uow(), service.firewall_quotas)
    other_server = _server(platform, other, "fw-other")
    with pytest.raises(fws.FirewallResourceNotFound):  # another tenant's server is no server of the caller's
        firewalls.apply_to_resources(
            made[0], firewalls.Targets(servers=[other_server]), _only(owner), service.uow(), service.compute
        )
    with pytest.raises(AlreadyExists):
        firewalls.update(made[0], "a", None, _only(owner), service.uow())
    renamed = firewalls.update(made[0], "renamed", {"env": "test"}, _only(owner), service.uow())
    assert (renamed.name, renamed.labels) == ("renamed", {"env": "test"})
    assert _recorded(platform, made[0]) == ["firewall.created", "firewall.updated"]
    assert _quota_used(platform, owner) == 3
    for firewall_id in made:
        firewalls.delete(firewall_id, _only(owner), service.uow(), service.firewall_quotas)
    assert _quota_used(platform, owner) == 0


def test_compute_and_identity_events_reach_firewalls(platform: LivePlatform) -> None:
    """A deleted server leaves the firewalls applied to it; a suspended account's firewalls are
    blocked (locked for every action) until it is active again."""
    service = platform.network
    assert service is not None
    user_id = _user(platform, "fwevents")
    server_id = _server(platform, user_id, "fw-gone")
    fw, (apply,) = firewalls.create(
        firewalls.NewFirewall(
            user_id=user_id,
            organization_id=None,
            name="events",
            rules=[SSH],
            apply_to=firewalls.Targets(servers=[server_id]),
        ),
        _anyone,
        service.uow(),
        service.firewall_quotas,
        service.compute,
    )
    _complete(platform, fw.id, apply.id)
    deleted = compute_events.ServerDeleted(server_id=server_id, user_id=user_id, name="fw-gone")
    pending = new_event(
        catalog.SERVER_DELETED, producer="compute", aggregate_id=server_id, aggregate_version=3, payload=deleted
    )
    _apply(platform, dataclasses.replace(pending, topic=COMPUTE_EVENTS))
    assert firewalls.get(fw.id, _anyone, service.uow()).servers == []

    suspended = identity_events.UserStatusChanged(user_id=user_id, old_status="active", new_status="suspended")
    _apply(platform, _identity_event(catalog.USER_SUSPENDED, suspended, user_id))
    assert firewalls.get(fw.id, _anyone, service.uow()).blocked
    with pytest.raises(Locked):
        firewalls.set_rules(fw.id, [OUT], _anyone, service.uow())
    activated = identity_events.UserStatusChanged(user_id=user_id, old_status="suspended", new_status="active")
    _apply(platform, _identity_event(catalog.USER_ACTIVATED, activated, user_id))
    assert not firewalls.get(fw.id, _anyone, service.uow()).blocked
    assert _recorded(platform, fw.id) == [
        "firewall.created",
        "firewall.applied",
        "firewall.removed",
        "firewall.blocked",
        "firewall.unblocked",
    ]

    applied, (apply,) = firewalls.create(
        firewalls.NewFirewall(
            user_id=user_id, organization_id=None, name="kept", apply_to=firewalls.Targets(selectors=["x=y"])
        ),
        _anyone,
        service.uow(),
        service.firewall_quotas,
        service.compute,
    )
    _complete(platform, applied.id, apply.id)
    erased = identity_events.UserErased(user_id=user_id, erased_by_user_id=1)
    _apply(platform, _identity_event(catalog.USER_ERASED, erased, user_id))
    for firewall_id in (fw.id, applied.id):  # the applied one too
        with pytest.raises(NotFound):
            firewalls.get(firewall_id, _anyone, service.uow())
    assert _recorded(platform, applied.id)[-1] == "firewall.deleted"


def _provisioner(platform: LivePlatform) -> NetworkProvisioner:
    assert platform.network is not None and platform.simulator is not None
    retry = RetryPolicy(attempts=3, initial_seconds=0.05)
    return NetworkProvisioner(
        platform.network.uow,
        HcloudFloatingIps(platform.simulator, SIMULATOR_TOKEN, retry=retry),
        platform.network.quotas,
        platform.network.compute,
        firewalls=HcloudFirewalls(platform.simulator, SIMULATOR_TOKEN, retry=retry),
    )


def _until_done(platform: LivePlatform) -> None:
    worker = _provisioner(platform)
    while worker.run_once() is not None:
        pass
    worker.reconcile()


def _upstream(platform: LivePlatform, firewall_id: int) -> list[Any]:
    assert platform.simulator is not None
    client = Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)
    return client.firewalls.get_all(label_selector=f"{FIREWALL_LABEL}={firewall_id}")


def _upstream_server(platform: LivePlatform, server_id: int) -> int:
    assert platform.simulator is not None and platform.compute is not None
    upstream = HcloudServers(platform.simulator, SIMULATOR_TOKEN, retry=RetryPolicy(attempts=3, initial_seconds=0.05))
    provisioner = Provisioner(platform.compute.uow, upstream, platform.compute.quotas)
    while provisioner.run_once() is not None:
        pass
    client = Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)
    (found,) = client.servers.get_all(label_selector=f"cp_server_id={server_id}")
    return int(found.id or 0)


def _server_created(platform: LivePlatform, server_id: int, user_id: int, labels: dict[str, str]) -> None:
    created = compute_events.ServerCreated(server_id=server_id, user_id=user_id, name="x", labels=labels)
    pending = new_event(
        catalog.SERVER_CREATED, producer="compute", aggregate_id=server_id, aggregate_version=1, payload=created
    )
    _apply(platform, dataclasses.replace(pending, topic=COMPUTE_EVENTS))


def test_upstream_mirrors_a_firewall_and_covers_a_server_labelled_later(platform: LivePlatform) -> None:
    service = platform.network
    assert service is not None
    user_id = _user(platform, "fwup")
    fw, (apply,) = firewalls.create(
        firewalls.NewFirewall(
            user_id=user_id,
            organization_id=None,
            name="up",
            rules=[SSH, PING],
            apply_to=firewalls.Targets(selectors=["role=web"]),
        ),
        _anyone,
        service.uow(),
        service.firewall_quotas,
        service.compute,
    )
    _until_done(platform)
    assert firewalls.action(apply.id, _anyone, service.uow()).status == SUCCESS
    (upstream,) = _upstream(platform, fw.id)
    assert firewalls.get(fw.id, _anyone, service.uow()).hetzner_id == upstream.id
    assert sorted((r.protocol, r.port) for r in upstream.rules) == [("icmp", None), ("tcp", "22")]
    assert not upstream.applied_to

    server_id = _server(platform, user_id, "fw-later")  # labelled role=web
    upstream_server = _upstream_server(platform, server_id)
    _server_created(platform, server_id, user_id, {"role": "web"})
    assert not firewalls.get(fw.id, _anyone, service.uow()).synced
    _until_done(platform)
    assert firewalls.get(fw.id, _anyone, service.uow()).synced
    (upstream,) = _upstream(platform, fw.id)
    assert [int(r.server.id) for r in upstream.applied_to] == [upstream_server]

    rules = firewalls.set_rules(fw.id, [OUT], _anyone, service.uow())
    _until_done(platform)
    assert firewalls.action(rules.id, _anyone, service.uow()).status == SUCCESS
    (upstream,) = _upstream(platform, fw.id)
    assert [(r.direction, r.protocol, r.port, r.destination_ips) for r in upstream.rules] == [
        ("out", "udp", "1024-2048", ["192.168.0.0/16"])
    ]

    firewalls.remove_from_resources(fw.id, firewalls.Targets(selectors=["role=web"]), _anyone, service.uow())
    _until_done(platform)
    (upstream,) = _upstream(platform, fw.id)
    assert not upstream.applied_to
    firewalls.delete(fw.id, _anyone, service.uow(), service.firewall_quotas)
    _provisioner(platform).sweep()
    assert _upstream(platform, fw.id) == []
