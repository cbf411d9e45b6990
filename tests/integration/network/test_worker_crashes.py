"""Network's worker and reactions.

The worker killed at every line of its upstream work (creating, assigning, reverse DNS and
deleting floating IPs): it dies right after its k-th upstream call returned (upstream did it,
the platform has not recorded it: its transaction is lost), for every k; a fresh worker then
finishes the action. At the end every live floating IP has exactly one upstream floating IP
(the one it recorded), deleted ones have none, nothing upstream is unowned, and identity's quota
counts the live floating IPs. Also: upstream refusals and outages, a server deleted under an
assign, and an account suspended, reactivated and erased (identity's events through network's
projection). Upstream is the in-process simulator, driven through hcloud.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hcloud import Client
from hcloud.locations import Location

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.identity.v1 import events_pb2 as identity_events
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.config import WorkerSettings
from compute_service.domain.servers import DELETE as DELETE_SERVER
from compute_service.entrypoints import worker as compute_worker
from compute_service.service_layer import servers as compute_servers
from compute_service.service_layer.provisioning import Provisioner
from cpshared.clock import utcnow
from cpshared.errors import NotFound
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import IDENTITY_EVENTS
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserStatus
from identity_service.service_layer import users
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.domain.actions import Locked
from network_service.entrypoints.server_projection import ServerProjection
from network_service.service_layer import firewalls, floating_ips, networks, primary_ips
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform


class Killed(BaseException):
    """The worker's process ends here (nothing after this line runs, its transaction is lost)."""


class DiesAfter:
    """hcloud's floating IPs (the real adapter on the simulator), but the process dies right after
    the ``calls``-th upstream call returned."""

    def __init__(self, real: HcloudFloatingIps, calls: int) -> None:
        self.real, self.left, self.died = real, calls, False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self.left -= 1
            if self.left < 0:
                self.died = True
                raise Killed(name)
            return result

        return call


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_nwc_id") as identity_url,
        mariadb.scratch_database("cp_test_nwc_gw") as gateway_url,
        mariadb.scratch_database("cp_test_nwc_cp") as compute_url,
        mariadb.scratch_database("cp_test_nwc_nw") as network_url,
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


def _upstream(platform: LivePlatform) -> HcloudFloatingIps:
    assert platform.simulator is not None
    return HcloudFloatingIps(platform.simulator, SIMULATOR_TOKEN, retry=RetryPolicy(attempts=3, initial_seconds=0.05))


def _worker(platform: LivePlatform, upstream: Any) -> NetworkProvisioner:
    assert platform.network is not None
    return NetworkProvisioner(platform.network.uow, upstream, platform.network.quotas, platform.network.compute)


def _until_done(platform: LivePlatform) -> None:
    worker = _worker(platform, _upstream(platform))
    while worker.run_once() is not None:
        pass


def _killed_at_every_line(platform: LivePlatform, start: Callable[[], object]) -> int:
    """For k = 0, 1, …: start the action (``start``), let a worker die after its k-th upstream
    call, then finish it with a fresh worker; until a worker got through without dying. The
    number of deaths."""
    deaths = 0
    while True:
        start()
        dying = DiesAfter(_upstream(platform), deaths)
        with contextlib.suppress(Killed):
            _worker(platform, dying).run_once()
        _until_done(platform)
        if not dying.died:
            return deaths
        deaths += 1


@pytest.fixture(scope="module")
def owner(platform: LivePlatform) -> Iterator[tuple[int, list[int]]]:
    """A user with two servers in fsn1 (compute's worker made them upstream)."""
    assert platform.compute is not None and platform.simulator is not None
    user = users.create_user(
        commands.CreateUser(
            name="Crash", email="crash@example.com", password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    made = []
    for n in range(2):
        server, _ = compute_servers.create(
            compute_servers.NewServer(
                user_id=user.id,
                organization_id=None,
                name=f"crash-{n}",
                server_type="cx22",
                image="ubuntu-24.04",
                datacenter="fsn1",
            ),
            platform.compute.quotas,
            platform.compute.uow(),
        )
        made.append(server.id)
    upstream = HcloudServers(platform.simulator, SIMULATOR_TOKEN, retry=RetryPolicy(attempts=3, initial_seconds=0.05))
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


def test_a_worker_killed_after_any_upstream_call_leaves_one_upstream_floating_ip_per_live_one(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    network = platform.network
    assert network is not None and platform.simulator is not None
    user_id, (first, second) = owner
    made: list[int] = []

    def create() -> None:
        fip, _ = floating_ips.create(
            floating_ips.NewFloatingIp(user_id=user_id, organization_id=None, type="ipv4", home_location="fsn1"),
            network.uow(),
            network.compute,
            network.quotas,
        )
        made.append(fip.id)

    assert _killed_at_every_line(platform, create) >= 2  # it died after the lookup and after the create
    survivor = made[-1]
    deaths = _killed_at_every_line(
        platform, lambda: floating_ips.assign(survivor, first, _anyone, network.uow(), network.compute)
    )
    assert deaths >= 2
    _killed_at_every_line(
        platform, lambda: floating_ips.assign(survivor, second, _anyone, network.uow(), network.compute)
    )
    _killed_at_every_line(
        platform,
        lambda: floating_ips.change_dns_ptr(
            survivor,
            floating_ips.get(survivor, _anyone, network.uow()).ip_address or "",
            "ok.example.com",
            _anyone,
            network.uow(),
        ),
    )
    for doomed in made[:-1]:  # those whose creation a worker died in, finished by the next one
        floating_ips.delete(doomed, _anyone, network.uow())
    _until_done(platform)

    def delete_a_fresh_one() -> None:
        create()
        _until_done(platform)
        floating_ips.delete(made[-1], _anyone, network.uow())

    assert _killed_at_every_line(platform, delete_a_fresh_one) >= 2

    # Exactly one upstream floating IP for the live one, the one it recorded; none for the others.
    hcloud = Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)
    upstream: dict[int, list[int]] = {}
    for found in hcloud.floating_ips.get_all(label_selector="cp_floating_ip_id"):
        upstream.setdefault(int((found.labels or {})["cp_floating_ip_id"]), []).append(int(found.id or 0))
    live = floating_ips.get(survivor, _anyone, network.uow())
    assert upstream == {survivor: [live.hetzner_id]}
    assert live.server_id == second and live.dns_ptrs == {live.ip_address: "ok.example.com"}
    upstream_server = hcloud.servers.get_all(label_selector=f"cp_server_id={second}")[0]
    assigned = hcloud.floating_ips.get_by_id(live.hetzner_id or 0)
    assert assigned.server is not None and assigned.server.id == upstream_server.id
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=user_id), "floating_ip")
    assert quota is not None and quota.current_usage == 1


def _fault(platform: LivePlatform, **rule: object) -> None:
    assert platform.simulator is not None
    control = platform.simulator.removesuffix("/v1")
    httpx.post(f"{control}/_sim/faults", json=rule, timeout=5).raise_for_status()


def _no_faults(platform: LivePlatform) -> None:
    assert platform.simulator is not None
    httpx.delete(f"{platform.simulator.removesuffix('/v1')}/_sim/faults", timeout=5).raise_for_status()


def test_transient_upstream_failures_are_retried_and_a_refusal_ends_the_action_in_error(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    """5xx and 429 on the create are retried (one floating IP made); a permanent refusal ends
    the action in ``error`` with upstream's code, the floating IP is gone and its quota back."""
    network = platform.network
    assert network is not None
    user_id, _ = owner
    new = floating_ips.NewFloatingIp(user_id=user_id, organization_id=None, type="ipv6", home_location="fsn1")
    try:
        _fault(platform, method="POST", path="/v1/floating_ips", kind="error", status=503, code="unavailable", times=2)
        _fault(
            platform,
            method="GET",
            path="/v1/floating_ips",
            kind="error",
            status=429,
            code="rate_limit_exceeded",
            times=1,
        )
        fip, action = floating_ips.create(new, network.uow(), network.compute, network.quotas)
        _until_done(platform)
        done = floating_ips.action(action.id, _anyone, network.uow())
        assert done.status == "success"
        made = floating_ips.get(fip.id, _anyone, network.uow())
        assert made.status == "ready" and made.hetzner_id and (made.ip_address or "").endswith("/64")
        assert [f.id for f in _upstream(platform).find(fip.id)] == [made.hetzner_id]
        floating_ips.delete(fip.id, _anyone, network.uow())
        _until_done(platform)

        _fault(
            platform, method="POST", path="/v1/floating_ips", kind="error", status=422, code="invalid_input", times=1
        )
        refused, action = floating_ips.create(new, network.uow(), network.compute, network.quotas)
        _until_done(platform)
    finally:
        _no_faults(platform)
    failed = floating_ips.action(action.id, _anyone, network.uow())
    assert (failed.status, failed.error_code) == ("error", "invalid_input")
    with pytest.raises(NotFound):
        floating_ips.get(refused.id, _anyone, network.uow())
    assert _upstream(platform).find(refused.id) == []
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=user_id), "floating_ip")
    assert quota is not None and quota.current_usage == 1  # the live one of the test above


def test_assigning_to_a_server_deleted_meanwhile_ends_the_action_in_error_and_unlocks(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    network, compute = platform.network, platform.compute
    assert network is not None and compute is not None
    user_id, _ = owner
    fip, _ = floating_ips.create(
        floating_ips.NewFloatingIp(user_id=user_id, organization_id=None, type="ipv4", home_location="fsn1"),
        network.uow(),
        network.compute,
        network.quotas,
    )
    _until_done(platform)
    server, _ = compute_servers.create(
        compute_servers.NewServer(
            user_id=user_id,
            organization_id=None,
            name="short-lived",
            server_type="cx22",
            image="ubuntu-24.04",
            datacenter="fsn1",
        ),
        compute.quotas,
        compute.uow(),
    )

    def compute_server() -> Any:
        with compute.uow() as uow:
            return uow.servers.get(server.id)

    _wait(lambda: compute_server().hetzner_id is not None and not compute_server().locked)
    action = floating_ips.assign(fip.id, server.id, _anyone, network.uow(), network.compute)
    compute_servers.start_action(server.id, DELETE_SERVER, _anyone, compute.uow())
    _wait(lambda: compute_server().deleted_at is not None)

    _until_done(platform)
    failed = floating_ips.action(action.id, _anyone, network.uow())
    assert (failed.status, failed.error_code) == ("error", "server_not_found")
    after = floating_ips.get(fip.id, _anyone, network.uow())
    assert (after.locked, after.server_id) == (False, None)
    floating_ips.delete(fip.id, _anyone, network.uow())
    _until_done(platform)


def _wait(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _apply(platform: LivePlatform, *events: PendingEvent) -> None:
    """Identity's events through network's projection, as its consumer applies them (each twice:
    a redelivery changes nothing)."""
    assert platform.network is not None
    records = [
        RawRecord(e.topic.name, 0, n, e.key, e.envelope.SerializeToString(), e.headers())
        for n, e in enumerate([*events, *events])
    ]
    ProjectionRunner(platform.network.engine, ServerProjection()).apply_batch(records)


def _identity_event(spec: Any, message: Any, user_id: int) -> PendingEvent:
    pending = new_event(spec, producer="identity", aggregate_id=user_id, aggregate_version=1, payload=message)
    return dataclasses.replace(pending, topic=IDENTITY_EVENTS)


def test_a_suspended_accounts_floating_ips_are_blocked_and_an_erased_ones_deleted(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    network = platform.network
    assert network is not None
    user = users.create_user(
        commands.CreateUser(
            name="Doomed", email="doomed@example.com", password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    made = []
    for _ in range(2):
        fip, _ = floating_ips.create(
            floating_ips.NewFloatingIp(user_id=user.id, organization_id=None, type="ipv4", home_location="fsn1"),
            network.uow(),
            network.compute,
            network.quotas,
        )
        made.append(fip.id)
    _until_done(platform)
    floating_ips.change_protection(made[0], True, _anyone, network.uow())

    suspended = identity_events.UserStatusChanged(user_id=user.id, old_status="active", new_status="suspended")
    _apply(platform, _identity_event(catalog.USER_SUSPENDED, suspended, user.id))
    assert all(floating_ips.get(f, _anyone, network.uow()).blocked for f in made)
    with pytest.raises(Locked):
        floating_ips.unassign(made[1], _anyone, network.uow())
    activated = identity_events.UserStatusChanged(user_id=user.id, old_status="suspended", new_status="active")
    _apply(platform, _identity_event(catalog.USER_ACTIVATED, activated, user.id))
    assert not any(floating_ips.get(f, _anyone, network.uow()).blocked for f in made)

    erased = identity_events.UserErased(user_id=user.id, erased_by_user_id=1)
    _apply(platform, _identity_event(catalog.USER_ERASED, erased, user.id))
    _until_done(platform)
    for fip_id in made:  # the protected one too
        with pytest.raises(NotFound):
            floating_ips.get(fip_id, _anyone, network.uow())
        assert _upstream(platform).find(fip_id) == []
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=user.id), "floating_ip")
    assert quota is not None and quota.current_usage == 0


def test_the_sweep_deletes_upstream_floating_ips_no_live_platform_one_owns(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    """A create a dead worker sent may land upstream after its successor made its own: the
    sweep deletes an upstream floating IP labelled with a deleted platform one, or with a live one
    that recorded another; the recorded one stays."""
    network = platform.network
    assert network is not None and platform.simulator is not None
    user_id, _ = owner
    fip, _ = floating_ips.create(
        floating_ips.NewFloatingIp(user_id=user_id, organization_id=None, type="ipv4", home_location="fsn1"),
        network.uow(),
        network.compute,
        network.quotas,
    )
    _until_done(platform)
    hcloud = Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)
    home = Location(name="fsn1")
    late = hcloud.floating_ips.create(type="ipv4", home_location=home, labels={"cp_floating_ip_id": str(fip.id)})
    orphan = hcloud.floating_ips.create(type="ipv4", home_location=home, labels={"cp_floating_ip_id": "999999"})
    swept = _worker(platform, _upstream(platform)).sweep()
    assert sorted(swept) == sorted([int(late.floating_ip.id or 0), int(orphan.floating_ip.id or 0)])
    kept = floating_ips.get(fip.id, _anyone, network.uow())
    assert [f.id for f in _upstream(platform).find(fip.id)] == [kept.hetzner_id]
    floating_ips.delete(fip.id, _anyone, network.uow())
    _until_done(platform)


# -- the real worker process, SIGKILLed --------------------------------------------------------------

KILL_AFTER = (0.1, 0.4, 0.8)
"""Seconds after its start each worker process is SIGKILLed (sooner when upstream holds a resource
not recorded yet); few, as each process takes seconds to start."""
WORKER_LOG: list[str] = []
LABELS = {
    "floating_ips": "cp_floating_ip_id",
    "networks": "cp_network_id",
    "firewalls": "cp_firewall_id",
    "primary_ips": "cp_primary_ip_id",
}
QUOTAS = {"floating_ips": "floating_ip", "networks": "network", "firewalls": "firewall", "primary_ips": "primary_ip"}


@contextlib.contextmanager
def _worker_process(platform: LivePlatform) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m network_service.entrypoints.worker`` on the platform (sweeping every half second)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CP_METRICS_PORT": "0",
        "CP_LOG_LEVEL": "INFO",
        "CP_WORKER_POLL_INTERVAL": "0.05",
        "CP_WORKER_SWEEP_INTERVAL": "0.5",
        "CP_UPSTREAM_RETRY_INITIAL_SECONDS": "0.05",
        "CP_METERING_INTERVAL": "3600",
        **platform.network_worker_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "network_service.entrypoints.worker"], env=env, stdout=subprocess.PIPE
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in process.stdout or ()), daemon=True)
    reader.start()
    try:
        _wait(lambda: any("worker_started" in line for line in lines))
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        reader.join(10)
        WORKER_LOG.extend(lines)


def _labelled_upstream(platform: LivePlatform) -> dict[str, dict[int, list[int]]]:
    """Every upstream resource of each kind that carries network's label: platform id → upstream ids."""
    assert platform.simulator is not None
    found: dict[str, dict[int, list[int]]] = {}
    for kind, label in LABELS.items():
        answer = httpx.get(
            f"{platform.simulator}/{kind}",
            params={"per_page": 50, "label_selector": label},
            headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"},
            timeout=5,
        )
        answer.raise_for_status()
        for item in answer.json()[kind]:
            found.setdefault(kind, {}).setdefault(int(item["labels"][label]), []).append(int(item["id"]))
    return found


def _recorded(platform: LivePlatform, user_id: int = 0) -> dict[str, dict[int, int | None]]:
    """The live platform resources of each kind (of one user; 0: everyone's) and the upstream id each recorded."""
    assert platform.network is not None
    owner = "AND user_id = :user" if user_id else ""
    with platform.network.engine.connect() as conn:
        return {
            kind: {
                row.id: row.hetzner_id
                for row in conn.execute(
                    sa.text(f"SELECT id, hetzner_id FROM {kind} WHERE deleted_at IS NULL {owner}"),  # noqa: S608 - the four table names above
                    {"user": user_id},
                )
            }
            for kind in LABELS
        }


def _running(platform: LivePlatform) -> int:
    assert platform.network is not None
    with platform.network.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM actions WHERE status = 'running'")).scalar_one())


def _unrecorded_upstream(platform: LivePlatform) -> bool:
    recorded = _recorded(platform)
    return any(
        upstream_id not in recorded[kind].values()
        for kind, by_platform in _labelled_upstream(platform).items()
        for ids in by_platform.values()
        for upstream_id in ids
    )


def _kill_cycles(platform: LivePlatform, kill_after: tuple[float, ...] = KILL_AFTER) -> int:
    """Worker processes SIGKILLed after a while, or the moment upstream holds a resource not recorded
    yet; how many were killed in that window."""
    in_window = 0
    for seconds in kill_after:
        with _worker_process(platform) as process:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if _unrecorded_upstream(platform):
                    in_window += 1
                    break
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
    return in_window


def _to_completion(platform: LivePlatform) -> None:
    """A worker until nothing runs, every firewall is in line and a sweep or two has passed."""
    assert platform.network is not None
    network = platform.network

    def in_line() -> bool:
        with network.uow() as uow:
            return not uow.firewalls.unsynced(10)

    with _worker_process(platform):
        _wait(lambda: _running(platform) == 0)
        _wait(in_line)
        time.sleep(1.2)


def test_the_worker_process_sigkilled_during_creates_and_deletes_of_every_kind_leaks_nothing(
    platform: LivePlatform, owner: tuple[int, list[int]]
) -> None:
    """Floating IPs, private networks, firewalls and primary IPs created, then some of each deleted,
    while worker processes are SIGKILLed (upstream's actions answer slowly, so kills land between
    "upstream made it" and "we recorded it") and restarted: exactly one upstream resource for each
    live one (the one it recorded), none for a deleted one or nobody's, quotas equal to live counts."""
    network = platform.network
    assert network is not None and platform.simulator is not None
    user_id, _servers = owner
    control = platform.simulator.removesuffix("/v1")
    for kind in QUOTAS.values():
        with platform.identity.uow() as uow:
            uow.quotas.create_if_missing(QuotaOwner(user_id=user_id), kind, 50, utcnow())
            uow.commit()
    httpx.post(
        f"{control}/_sim/faults", json={"method": "GET", "path": "/v1/actions/*", "kind": "latency", "seconds": 0.2}
    ).raise_for_status()
    try:
        made: dict[str, list[int]] = {kind: [] for kind in LABELS}
        for n in range(3):
            fip, _ = floating_ips.create(
                floating_ips.NewFloatingIp(user_id=user_id, organization_id=None, type="ipv4", home_location="fsn1"),
                network.uow(),
                network.compute,
                network.quotas,
            )
            made["floating_ips"].append(fip.id)
            pip, _ = primary_ips.create(
                primary_ips.NewPrimaryIp(
                    user_id=user_id, organization_id=None, type="ipv4", name=f"crash-{n}", location="fsn1"
                ),
                network.uow(),
                network.compute,
                network.primary_ip_quotas,
            )
            made["primary_ips"].append(pip.id)
        for n in range(2):
            net, _ = networks.create(
                networks.NewNetwork(
                    user_id=user_id,
                    organization_id=None,
                    name=f"crash-{n}",
                    ip_range=f"10.{n + 40}.0.0/16",
                    subnets=[networks.NewSubnet("cloud", "eu-central", f"10.{n + 40}.1.0/24")],
                ),
                network.uow(),
                network.network_quotas,
            )
            made["networks"].append(net.id)
            wall, _ = firewalls.create(
                firewalls.NewFirewall(user_id=user_id, organization_id=None, name=f"crash-{n}", rules=[]),
                _anyone,
                network.uow(),
                network.firewall_quotas,
                network.compute,
            )
            made["firewalls"].append(wall.id)
        assert _kill_cycles(platform) > 0, "no kill landed between upstream's create and its record"
        _to_completion(platform)
        floating_ips.delete(made["floating_ips"][0], _anyone, network.uow())
        primary_ips.delete(made["primary_ips"][0], _anyone, network.uow(), network.compute)
        networks.delete(made["networks"][0], _anyone, network.uow())
        firewalls.delete(made["firewalls"][0], _anyone, network.uow(), network.firewall_quotas)
        _kill_cycles(platform, (0.1, 0.5))
        _to_completion(platform)
    finally:
        httpx.delete(f"{control}/_sim/faults").raise_for_status()

    everyone, own = _recorded(platform), _recorded(platform, user_id)
    upstream = _labelled_upstream(platform)
    for kind in LABELS:
        assert [i for i in made[kind] if i in own[kind]] == made[kind][1:], (kind, "\n".join(WORKER_LOG[-40:]))
        # Every live one has exactly the upstream resource it recorded; nothing else carries the label.
        assert upstream.get(kind, {}) == {i: [h] for i, h in everyone[kind].items()}, kind
        with platform.identity.uow() as uow:
            quota = uow.quotas.get(QuotaOwner(user_id=user_id), QUOTAS[kind])
        assert quota is not None and int(quota.current_usage) == len(own[kind]), kind
