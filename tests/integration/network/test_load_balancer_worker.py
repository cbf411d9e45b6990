"""Network's worker and reactions for load balancers.

The worker killed after every upstream call of creating a load balancer, adding a target and
deleting one (upstream did it, the platform has not recorded it: its transaction is lost), for
every k; a fresh worker then finishes the action. At the end every live load balancer has exactly
one upstream load balancer (the one it recorded) with its targets, deleted ones have none, and
identity's quota counts the live ones. Also: an upstream refusal ends a create in error with
upstream's code and leaves nothing, and an account suspended, reactivated and erased (identity's
events through network's projection) blocks, unblocks and deletes its load balancers. Upstream is
the in-process simulator, driven through hcloud.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest
from hcloud import Client

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.identity.v1 import events_pb2 as identity_events
from compute_service.adapters.upstream_servers import RetryPolicy
from cpshared.errors import NotFound
from cpshared.events import catalog
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserStatus
from identity_service.service_layer import users
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.adapters.upstream_load_balancers import LOAD_BALANCER_LABEL, HcloudLoadBalancers
from network_service.domain.actions import Locked
from network_service.domain.load_balancers import ADD_TARGET, REMOVE_TARGET
from network_service.service_layer import load_balancers
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.integration.network.test_worker_crashes import (
    DiesAfter,
    Killed,
    _anyone,
    _apply,
    _identity_event,
    owner,
)

__all__ = ["owner"]  # the module's fixture: a user with two servers upstream


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_nwl_id") as identity_url,
        mariadb.scratch_database("cp_test_nwl_gw") as gateway_url,
        mariadb.scratch_database("cp_test_nwl_cp") as compute_url,
        mariadb.scratch_database("cp_test_nwl_nw") as network_url,
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


FAST = RetryPolicy(attempts=3, initial_seconds=0.05)


def _upstream(platform: LivePlatform) -> HcloudLoadBalancers:
    assert platform.simulator is not None
    return HcloudLoadBalancers(platform.simulator, SIMULATOR_TOKEN, retry=FAST)


def _worker(platform: LivePlatform, upstream: object) -> NetworkProvisioner:
    network = platform.network
    assert network is not None and platform.simulator is not None
    return NetworkProvisioner(
        network.uow,
        HcloudFloatingIps(platform.simulator, SIMULATOR_TOKEN, retry=FAST),
        network.quotas,
        network.compute,
        load_balancers=upstream,  # type: ignore[arg-type]
        load_balancer_quotas=network.load_balancer_quotas,
    )


def _until_done(platform: LivePlatform) -> None:
    worker = _worker(platform, _upstream(platform))
    while worker.run_once() is not None:
        pass


def _killed_at_every_line(platform: LivePlatform, start: Callable[[], object]) -> int:
    deaths = 0
    while True:
        start()
        dying = DiesAfter(_upstream(platform), deaths)  # type: ignore[arg-type]
        with contextlib.suppress(Killed):
            _worker(platform, dying).run_once()
        _until_done(platform)
        if not dying.died:
            return deaths
        deaths += 1


def _peers(platform: LivePlatform) -> load_balancers.Peers:
    network = platform.network
    assert network is not None
    return load_balancers.Peers(network.compute, network.load_balancer_types, network.load_balancer_quotas)


def _new(platform: LivePlatform, user_id: int, targets: list[dict[str, object]]) -> int:
    network = platform.network
    assert network is not None
    lb, _ = load_balancers.create(
        load_balancers.NewLoadBalancer(
            user_id=user_id,
            organization_id=None,
            name=f"lb-{len(_labelled(platform))}-{id(targets)}",
            load_balancer_type="lb11",
            location="fsn1",
            services=[{"protocol": "tcp", "listen_port": 443, "destination_port": 8443}],
            targets=targets,
        ),
        _anyone,
        network.uow(),
        _peers(platform),
    )
    return lb.id


def _labelled(platform: LivePlatform) -> dict[int, list[int]]:
    assert platform.simulator is not None
    hcloud = Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)
    found: dict[int, list[int]] = {}
    for lb in hcloud.load_balancers.get_all(label_selector=LOAD_BALANCER_LABEL):
        found.setdefault(int((lb.labels or {})[LOAD_BALANCER_LABEL]), []).append(int(lb.id or 0))
    return found


def _quota(platform: LivePlatform, user_id: int) -> int:
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=user_id), "load_balancer")
    return quota.current_usage if quota is not None else 0


def test_a_worker_killed_after_any_upstream_call_leaves_one_upstream_load_balancer_per_live_one(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    network = platform.network
    assert network is not None and platform.simulator is not None
    user_id, (first, second) = owner
    made: list[int] = []

    def create() -> None:
        made.append(_new(platform, user_id, [{"type": "server", "server_id": first}]))

    assert _killed_at_every_line(platform, create) >= 2  # it died after the lookup and after the create
    survivor = made[-1]
    target = {"type": "server", "server_id": second}

    def toggle_target() -> None:
        """Add the second server as a target, or remove it when it is one (each try starts afresh)."""
        present = any(t.server_id == second for t in load_balancers.get(survivor, _anyone, network.uow()).spec.targets)
        command = REMOVE_TARGET if present else ADD_TARGET
        load_balancers.start(survivor, command, {"target": target}, _anyone, network.uow(), _peers(platform))

    assert _killed_at_every_line(platform, toggle_target) >= 2
    if not any(t.server_id == second for t in load_balancers.get(survivor, _anyone, network.uow()).spec.targets):
        toggle_target()
        _until_done(platform)
    for doomed in made[:-1]:
        load_balancers.delete(doomed, _anyone, network.uow())
    _until_done(platform)

    def delete_a_fresh_one() -> None:
        create()
        _until_done(platform)
        load_balancers.delete(made[-1], _anyone, network.uow())

    assert _killed_at_every_line(platform, delete_a_fresh_one) >= 1

    live = load_balancers.get(survivor, _anyone, network.uow())
    assert _labelled(platform) == {survivor: [live.hetzner_id]}
    hcloud = Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)
    upstream = hcloud.load_balancers.get_by_id(live.hetzner_id or 0)
    servers = {int(hcloud.servers.get_all(label_selector=f"cp_server_id={s}")[0].id or 0): s for s in (first, second)}
    assert sorted(servers[int(t.server.id or 0)] for t in upstream.targets or [] if t.server) == [first, second]
    assert [s.listen_port for s in upstream.services or []] == [443]
    assert _quota(platform, user_id) == 1
    load_balancers.delete(survivor, _anyone, network.uow())
    _until_done(platform)
    assert _labelled(platform) == {} and _quota(platform, user_id) == 0


def test_an_upstream_refusal_ends_the_create_in_error_and_leaves_nothing(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    network = platform.network
    assert network is not None and platform.simulator is not None
    user_id, _ = owner
    control = platform.simulator.removesuffix("/v1")
    httpx.patch(f"{control}/_sim/config", json={"max_load_balancers": 0}, timeout=5).raise_for_status()
    try:
        lb_id = _new(platform, user_id, [])
        _until_done(platform)
    finally:
        httpx.patch(f"{control}/_sim/config", json={"max_load_balancers": 20}, timeout=5).raise_for_status()
    failed = load_balancers.get(lb_id, _anyone, network.uow())
    assert failed.status == "error" and not failed.locked
    (action,), _ = load_balancers.actions(
        load_balancers.ActionSearch(user_id=None, organization_id=None, load_balancer_id=lb_id), _anyone, network.uow()
    )
    assert action.status == "error" and action.error_code == "resource_limit_exceeded"
    assert _labelled(platform) == {} and _quota(platform, user_id) == 0
    load_balancers.delete(lb_id, _anyone, network.uow())
    _until_done(platform)


def test_a_suspended_accounts_load_balancers_are_blocked_and_an_erased_ones_deleted(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    network = platform.network
    assert network is not None
    user = users.create_user(
        commands.CreateUser(
            name="Doomed", email="lb-doomed@example.com", password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    made = [_new(platform, user.id, []), _new(platform, user.id, [{"type": "ip", "ip": "1.1.1.1"}])]
    _until_done(platform)
    load_balancers.change_protection(made[0], True, _anyone, network.uow())

    suspended = identity_events.UserStatusChanged(user_id=user.id, old_status="active", new_status="suspended")
    _apply(platform, _identity_event(catalog.USER_SUSPENDED, suspended, user.id))
    assert all(load_balancers.get(lb, _anyone, network.uow()).blocked for lb in made)
    with pytest.raises(Locked):
        load_balancers.start(
            made[1], "change_algorithm", {"algorithm": "least_connections"}, _anyone, network.uow(), _peers(platform)
        )
    activated = identity_events.UserStatusChanged(user_id=user.id, old_status="suspended", new_status="active")
    _apply(platform, _identity_event(catalog.USER_ACTIVATED, activated, user.id))
    assert not any(load_balancers.get(lb, _anyone, network.uow()).blocked for lb in made)

    erased = identity_events.UserErased(user_id=user.id, erased_by_user_id=1)
    _apply(platform, _identity_event(catalog.USER_ERASED, erased, user.id))
    _until_done(platform)
    for lb_id in made:  # the protected one too
        with pytest.raises(NotFound):
            load_balancers.get(lb_id, _anyone, network.uow())
    assert not set(_labelled(platform)) & set(made)
    assert _quota(platform, user.id) == 0
