"""Private networks through network's use cases and worker, upstream the simulator through hcloud.

A network with two subnets and a route is made upstream (labelled with its platform id), a
server is attached with an alias IP, its alias IPs change, it is detached, the network is
deleted: nothing is left upstream and identity's ``network`` quota is back. Bad input is refused
before anything changed (here and upstream); a worker killed after any upstream call leaves one
upstream network per live one; a server compute deletes leaves its networks; a suspended
account's networks are locked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hcloud import Client

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.identity.v1 import events_pb2 as identity_events
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.config import WorkerSettings
from compute_service.entrypoints import worker as compute_worker
from compute_service.service_layer import servers as compute_servers
from compute_service.service_layer.provisioning import Provisioner
from cpshared.errors import DomainError, InvalidInput, NotFound
from cpshared.events import catalog
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserStatus
from identity_service.service_layer import users
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.adapters.upstream_networks import NETWORK_LABEL, HcloudNetworks
from network_service.domain import networks as nets
from network_service.domain.actions import ERROR, SUCCESS, Locked
from network_service.service_layer import networks
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.integration.network.test_worker_crashes import DiesAfter, Killed, _apply, _identity_event


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_pn_id") as identity_url,
        mariadb.scratch_database("cp_test_pn_gw") as gateway_url,
        mariadb.scratch_database("cp_test_pn_cp") as compute_url,
        mariadb.scratch_database("cp_test_pn_nw") as network_url,
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


def _retry() -> RetryPolicy:
    return RetryPolicy(attempts=3, initial_seconds=0.05)


def _client(platform: LivePlatform) -> Client:
    assert platform.simulator is not None
    return Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)


def _worker(platform: LivePlatform, networks_upstream: Any = None) -> NetworkProvisioner:
    assert platform.network is not None and platform.simulator is not None
    return NetworkProvisioner(
        platform.network.uow,
        HcloudFloatingIps(platform.simulator, SIMULATOR_TOKEN, retry=_retry()),
        platform.network.quotas,
        platform.network.compute,
        networks=networks_upstream or HcloudNetworks(platform.simulator, SIMULATOR_TOKEN, retry=_retry()),
        network_quotas=platform.network.network_quotas,
    )


def _until_done(platform: LivePlatform) -> None:
    worker = _worker(platform)
    while worker.run_once() is not None:
        pass


def _upstream_networks(platform: LivePlatform) -> list[Any]:
    return _client(platform).networks.get_all(label_selector=NETWORK_LABEL)


@pytest.fixture(scope="module")
def owner(platform: LivePlatform) -> Iterator[tuple[int, list[int]]]:
    """A user with two servers in fsn1 and one in ash (compute's worker made them upstream)."""
    assert platform.compute is not None and platform.simulator is not None
    user = users.create_user(
        commands.CreateUser(
            name="Net", email="net@example.com", password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    made = []
    for n, datacenter in enumerate(("fsn1", "fsn1", "ash")):
        server, _ = compute_servers.create(
            compute_servers.NewServer(
                user_id=user.id,
                organization_id=None,
                name=f"net-{n}",
                server_type="cpx11",
                image="ubuntu-24.04",
                datacenter=datacenter,
            ),
            platform.compute.quotas,
            platform.compute.uow(),
        )
        made.append(server.id)
    upstream = HcloudServers(platform.simulator, SIMULATOR_TOKEN, retry=_retry())
    stop = threading.Event()
    settings = WorkerSettings.model_construct(
        worker_poll_interval=0.05, worker_sweep_interval=3600.0, upstream_retry_initial_seconds=0.05
    )
    provisioner = Provisioner(platform.compute.uow, upstream, platform.compute.quotas)
    thread = threading.Thread(target=compute_worker.run, args=(provisioner, settings, stop), daemon=True)
    thread.start()
    try:
        while any(
            compute_servers.get(s, _anyone, platform.compute.uow()).hetzner_id is None for s in made
        ):  # pragma: no branch - waits for compute's worker
            stop.wait(0.05)
        yield user.id, made
    finally:
        stop.set()
        thread.join(15)


def _create(platform: LivePlatform, user_id: int, name: str, **extra: Any) -> nets.Network:
    assert platform.network is not None
    network, _ = networks.create(
        networks.NewNetwork(user_id=user_id, organization_id=None, name=name, **extra),
        platform.network.uow(),
        platform.network.network_quotas,
    )
    return network


def test_a_network_lives_upstream_from_creation_to_deletion(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    service = platform.network
    assert service is not None
    user_id, (first, _second, _ash) = owner
    network = _create(
        platform,
        user_id,
        "backend",
        ip_range="10.0.0.0/16",
        subnets=[
            networks.NewSubnet("cloud", "eu-central", "10.0.1.0/24"),
            networks.NewSubnet("cloud", "us-east", "10.0.2.0/24"),
        ],
        routes=[("10.100.0.0/24", "10.0.1.5")],
        labels={"env": "test"},
    )
    _until_done(platform)
    made = networks.get(network.id, _anyone, service.uow())
    assert made.status == nets.READY and made.hetzner_id is not None and not made.locked
    (upstream,) = [n for n in _upstream_networks(platform) if n.labels[NETWORK_LABEL] == str(network.id)]
    assert upstream.id == made.hetzner_id and upstream.ip_range == "10.0.0.0/16"
    assert sorted(s.ip_range for s in upstream.subnets) == ["10.0.1.0/24", "10.0.2.0/24"]
    assert [(r.destination, r.gateway) for r in upstream.routes] == [("10.100.0.0/24", "10.0.1.5")]

    action = networks.attach(
        networks.Attach(server_id=first, network_id=network.id, alias_ips=("10.0.1.20",)),
        _anyone,
        service.uow(),
        service.compute,
    )
    _until_done(platform)
    attached = networks.get(network.id, _anyone, service.uow()).attachment(first)
    assert attached is not None and (attached.ip, attached.alias_ips) == ("10.0.1.2", ["10.0.1.20"])
    assert attached.mac_address
    assert networks.action(action.id, _anyone, service.uow()).status == SUCCESS
    upstream_server = _client(platform).servers.get_all(label_selector=f"cp_server_id={first}")[0]
    upstream_server_id = int(upstream_server.id or 0)
    (private,) = upstream_server.private_net or []
    assert (private.ip, private.alias_ips) == ("10.0.1.2", ["10.0.1.20"])

    networks.change_alias_ips(first, network.id, ["10.0.1.21", "10.0.1.22"], _anyone, service.uow(), service.compute)
    _until_done(platform)
    (private,) = _client(platform).servers.get_by_id(upstream_server_id).private_net or []
    assert sorted(private.alias_ips) == ["10.0.1.21", "10.0.1.22"]
    assert networks.of_servers([first], _anyone, service.uow())[first][0][1].alias_ips == ["10.0.1.21", "10.0.1.22"]

    with pytest.raises(nets.ResourceInUse):
        networks.delete_subnet(network.id, "10.0.1.0/24", _anyone, service.uow())
    networks.detach(first, network.id, _anyone, service.uow(), service.compute)
    _until_done(platform)
    assert _client(platform).servers.get_by_id(upstream_server_id).private_net == []

    networks.delete_route(network.id, "10.100.0.0/24", "10.0.1.5", _anyone, service.uow())
    _until_done(platform)
    networks.delete_subnet(network.id, "10.0.2.0/24", _anyone, service.uow())
    _until_done(platform)
    networks.change_ip_range(network.id, "10.0.0.0/15", _anyone, service.uow())
    _until_done(platform)
    upstream = _client(platform).networks.get_by_id(upstream.id)
    assert (upstream.ip_range, [s.ip_range for s in upstream.subnets or []], upstream.routes) == (
        "10.0.0.0/15",
        ["10.0.1.0/24"],
        [],
    )
    networks.delete(network.id, _anyone, service.uow())
    _until_done(platform)
    assert [n for n in _upstream_networks(platform) if n.labels[NETWORK_LABEL] == str(network.id)] == []
    with pytest.raises(NotFound):
        networks.get(network.id, _anyone, service.uow())


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda nid, server: ("add_subnet", networks.NewSubnet("cloud", "eu-central", "10.0.1.128/25")), InvalidInput),
        (lambda nid, server: ("add_subnet", networks.NewSubnet("cloud", "eu-central", "10.0.0.0/33")), InvalidInput),
        (lambda nid, server: ("add_subnet", networks.NewSubnet("cloud", "eu-central", "8.8.8.0/24")), InvalidInput),
        (lambda nid, server: ("change_ip_range", "10.0.0.0/17"), InvalidInput),
        (lambda nid, server: ("attach", networks.Attach(server, nid, ip="10.0.9.1")), nets.IpNotAvailable),
        (lambda nid, server: ("attach", networks.Attach(server, nid, ip="10.0.1.0")), nets.IpNotAvailable),
    ],
)
def test_bad_input_changes_nothing_here_or_upstream(
    platform: LivePlatform,
    owner: tuple[int, list[int]],
    change: Callable[[int, int], tuple[str, Any]],
    error: type[DomainError],
) -> None:
    service = platform.network
    assert service is not None
    user_id, (_first, second, _ash) = owner
    name = f"bad-{len(_upstream_networks(platform))}-{id(change)}"
    network = _create(
        platform,
        user_id,
        name,
        ip_range="10.0.0.0/16",
        subnets=[networks.NewSubnet("cloud", "eu-central", "10.0.1.0/24")],
    )
    _until_done(platform)
    before = networks.get(network.id, _anyone, service.uow())
    upstream_before = _client(platform).networks.get_by_id(before.hetzner_id or 0).data_model.__dict__.copy()
    what, argument = change(network.id, second)
    with pytest.raises(error):
        if what == "add_subnet":
            networks.add_subnet(network.id, argument, _anyone, service.uow())
        elif what == "change_ip_range":
            networks.change_ip_range(network.id, argument, _anyone, service.uow())
        else:
            networks.attach(argument, _anyone, service.uow(), service.compute)
    after = networks.get(network.id, _anyone, service.uow())
    assert (after.subnets, after.ip_range, after.attachments, after.locked, after.version) == (
        before.subnets,
        before.ip_range,
        before.attachments,
        False,
        before.version,
    )
    assert _worker(platform).run_once() is None
    upstream_after = _client(platform).networks.get_by_id(before.hetzner_id or 0).data_model.__dict__
    assert upstream_after == upstream_before
    networks.delete(network.id, _anyone, service.uow())
    _until_done(platform)


def test_creating_bad_networks_reserves_nothing(platform: LivePlatform, owner: tuple[int, list[int]]) -> None:
    user_id, _ = owner
    count = len(_upstream_networks(platform))
    for ip_range in ("10.0.0.0/33", "1.2.3.0/24", "192.168.0.0/25"):
        with pytest.raises(InvalidInput):
            _create(platform, user_id, f"r-{ip_range}", ip_range=ip_range)
    with pytest.raises(InvalidInput):
        _create(
            platform,
            user_id,
            "overlap",
            ip_range="10.0.0.0/16",
            subnets=[
                networks.NewSubnet("cloud", "eu-central", "10.0.0.0/24"),
                networks.NewSubnet("cloud", "us-east", "10.0.0.0/25"),
            ],
        )
    assert _worker(platform).run_once() is None
    assert len(_upstream_networks(platform)) == count


def test_a_server_attaches_only_in_its_zone_and_once(platform: LivePlatform, owner: tuple[int, list[int]]) -> None:
    service = platform.network
    assert service is not None
    user_id, (first, _second, ash) = owner
    network = _create(
        platform, user_id, "zones", ip_range="10.1.0.0/16", subnets=[networks.NewSubnet("cloud", "eu-central", "")]
    )
    _until_done(platform)
    with pytest.raises(nets.NoSubnetAvailable):
        networks.attach(networks.Attach(ash, network.id), _anyone, service.uow(), service.compute)
    networks.attach(networks.Attach(first, network.id), _anyone, service.uow(), service.compute)
    with pytest.raises(Locked):
        networks.attach(networks.Attach(first, network.id), _anyone, service.uow(), service.compute)
    _until_done(platform)
    with pytest.raises(nets.ServerAlreadyAttached):
        networks.attach(networks.Attach(first, network.id), _anyone, service.uow(), service.compute)
    networks.detach(first, network.id, _anyone, service.uow(), service.compute)
    _until_done(platform)
    networks.delete(network.id, _anyone, service.uow())
    _until_done(platform)


def test_a_worker_killed_after_any_upstream_call_leaves_one_upstream_network(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    service = platform.network
    assert service is not None and platform.simulator is not None
    user_id, (first, _second, _ash) = owner
    made: list[int] = []

    def killed_at_every_line(start: Callable[[], object]) -> int:
        deaths = 0
        while True:
            start()
            dying = DiesAfter(HcloudNetworks(platform.simulator or "", SIMULATOR_TOKEN, retry=_retry()), deaths)  # type: ignore[arg-type]
            with contextlib.suppress(Killed):
                _worker(platform, dying).run_once()
            _until_done(platform)
            if not dying.died:
                return deaths
            deaths += 1

    def create() -> None:
        made.append(
            _create(
                platform,
                user_id,
                f"crash-{len(made)}",
                ip_range="10.2.0.0/16",
                subnets=[networks.NewSubnet("cloud", "eu-central", "10.2.1.0/24")],
            ).id
        )

    assert killed_at_every_line(create) >= 1
    survivor = made[-1]
    for gone in made[:-1]:
        networks.delete(gone, _anyone, service.uow())
    _until_done(platform)
    assert (
        killed_at_every_line(
            lambda: (
                networks.attach(networks.Attach(first, survivor), _anyone, service.uow(), service.compute)
                if networks.get(survivor, _anyone, service.uow()).attachment(first) is None
                else networks.detach(first, survivor, _anyone, service.uow(), service.compute)
            )
        )
        >= 2
    )
    _worker(platform).sweep()
    labelled = [n for n in _upstream_networks(platform) if n.labels[NETWORK_LABEL] in {str(m) for m in made}]
    assert [int(n.labels[NETWORK_LABEL]) for n in labelled] == [survivor]
    assert labelled[0].id == networks.get(survivor, _anyone, service.uow()).hetzner_id


def test_a_failed_upstream_action_ends_in_error_and_changes_nothing(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    service = platform.network
    assert service is not None
    user_id, _ = owner
    network = _create(platform, user_id, "refused", ip_range="10.3.0.0/16")
    _until_done(platform)
    made = networks.get(network.id, _anyone, service.uow())
    # someone deleted it upstream behind the platform's back: the next action fails for good
    _client(platform).networks.delete(_client(platform).networks.get_by_id(made.hetzner_id or 0))
    action = networks.add_subnet(
        network.id, networks.NewSubnet("cloud", "eu-central", "10.3.1.0/24"), _anyone, service.uow()
    )
    _until_done(platform)
    failed = networks.action(action.id, _anyone, service.uow())
    assert (failed.status, failed.error_code) == (ERROR, "not_found")
    after = networks.get(network.id, _anyone, service.uow())
    assert after.subnets == [] and not after.locked


def test_a_suspended_accounts_networks_are_locked_and_an_erased_ones_deleted(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    service = platform.network
    assert service is not None
    user = users.create_user(
        commands.CreateUser(
            name="Gone", email="net-gone@example.com", password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    made = [_create(platform, user.id, f"gone-{n}", ip_range="10.9.0.0/16").id for n in range(2)]
    _until_done(platform)
    networks.change_protection(made[0], True, _anyone, service.uow())
    suspended = identity_events.UserStatusChanged(user_id=user.id, old_status="active", new_status="suspended")
    _apply(platform, _identity_event(catalog.USER_SUSPENDED, suspended, user.id))
    assert all(networks.get(n, _anyone, service.uow()).blocked for n in made)
    with pytest.raises(Locked):
        networks.add_route(made[1], "10.100.0.0/24", "10.9.0.5", _anyone, service.uow())
    with pytest.raises(Locked):
        networks.update(made[1], "renamed", None, None, _anyone, service.uow())
    activated = identity_events.UserStatusChanged(user_id=user.id, old_status="suspended", new_status="active")
    _apply(platform, _identity_event(catalog.USER_ACTIVATED, activated, user.id))
    assert not any(networks.get(n, _anyone, service.uow()).blocked for n in made)

    erased = identity_events.UserErased(user_id=user.id, erased_by_user_id=1)
    _apply(platform, _identity_event(catalog.USER_ERASED, erased, user.id))
    _until_done(platform)
    for network_id in made:  # the protected one too
        with pytest.raises(NotFound):
            networks.get(network_id, _anyone, service.uow())
        assert [n for n in _upstream_networks(platform) if n.labels[NETWORK_LABEL] == str(network_id)] == []
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=user.id), "network")
    assert quota is not None and quota.current_usage == 0
