"""Network benchmark: floating IPs through the gateway with the real ``hcloud`` client.

The platform as the integration tests serve it (tests/integration/live.py): identity, compute
(its catalog synced), billing, network and the gateway on loopback ports over scratch databases
of the local MariaDB, network's worker in a thread, the Hetzner simulator in-process with actions
finishing at once. Every request goes client → gateway (HTTP) → network (gRPC) → MariaDB, and
upstream work through hcloud to the simulator (HTTP).

(a) create-to-ready, one at a time: ``POST /v1/floating_ips`` answers once network's worker has
    made the floating IP upstream (its address known), so the answer's latency is create-to-ready;
(b) assign and unassign: the action's start to its end as the client sees it (``wait_until_finished``
    polling ``/v1/actions/{id}`` every 10 ms);
(c) ``GET /v1/floating_ips`` with ``--total`` floating IPs of one tenant: a page of 25, a page of
    50, and a page of 25 with a label selector that half of them match;
(d) primary IPs create-to-ready, one at a time (``POST /v1/primary_ips`` answers once the worker
    made it upstream);
(e) ``GET /v1/firewalls`` with ``--firewalls`` firewalls of one tenant (made through network's use
    case, the worker stopped so that it does not mirror them meanwhile): a page of 25 and a page of
    50 with a label selector that a tenth of them match, and a page of 25 without.

``make bench-network`` runs it (MariaDB from ``cloudctl up --infra-only``; no stack port used).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from hcloud import APIException, Client  # noqa: E402
from hcloud.images import Image  # noqa: E402
from hcloud.locations import Location  # noqa: E402
from hcloud.server_types import ServerType  # noqa: E402

from cloudctl.infra.mariadb import MariaDB  # noqa: E402
from cloudctl.paths import LocalPaths  # noqa: E402
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy  # noqa: E402
from compute_service.service_layer.provisioning import Provisioner  # noqa: E402
from cpshared.logging import configure_logging  # noqa: E402
from cpshared.migrations import migrations_dir, upgrade  # noqa: E402
from identity_service.domain import commands  # noqa: E402
from identity_service.domain.model import QuotaOwner, UserRole, UserStatus  # noqa: E402
from identity_service.service_layer import api_keys, staff, users  # noqa: E402
from network_service.service_layer import firewalls  # noqa: E402
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform, network_worker_running  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    q = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


PASSWORD = "bench password, throwaway"  # noqa: S105 - scratch users of a scratch database


def tenant(platform: LivePlatform, limit: int) -> str:
    """A client user with an API key (its secret) and room for ``limit`` floating IPs."""
    user = users.create_user(
        commands.CreateUser(name="Bench", email="bench@example.com", password=PASSWORD, status=UserStatus.ACTIVE),
        platform.identity.uow(),
    )
    admin = users.create_user(
        commands.CreateUser(
            name="Bench Admin",
            email="bench-admin@example.com",
            password=PASSWORD,
            role=UserRole.ADMIN,
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )
    for resource_type in ("floating_ip", "server", "primary_ip", "firewall"):
        staff.set_quota_limit(
            staff.SetQuotaLimit(
                acting_user_id=admin.id,
                owner=QuotaOwner(user_id=user.id),
                resource_type=resource_type,
                quota_limit=limit,
            ),
            platform.identity.uow,
        )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="bench", scopes=("*:read", "*:write"), rate_limit=1_000_000),
        platform.identity.uow(),
    )
    return secret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=100, help="floating IPs created one at a time (a)")
    parser.add_argument("--actions", type=int, default=50, help="assign/unassign pairs (b)")
    parser.add_argument("--total", type=int, default=200, help="floating IPs of the tenant for the lists (c)")
    parser.add_argument("--lists", type=int, default=100, help="calls per list measured (c, e)")
    parser.add_argument("--primary", type=int, default=100, help="primary IPs created one at a time (d)")
    parser.add_argument("--firewalls", type=int, default=1000, help="firewalls of the tenant for the list (e)")
    args = parser.parse_args()
    configure_logging("network-bench", level="WARNING")
    mariadb = MariaDB(LocalPaths().root)
    with (
        mariadb.scratch_database("cp_bench_nw_id") as identity_url,
        mariadb.scratch_database("cp_bench_nw_gw") as gateway_url,
        mariadb.scratch_database("cp_bench_nw_cp") as compute_url,
        mariadb.scratch_database("cp_bench_nw_nw") as network_url,
    ):
        for service, url in (
            ("identity", identity_url),
            ("gateway", gateway_url),
            ("compute", compute_url),
            ("network", network_url),
        ):
            upgrade(service, migrations_dir(service), url)
        with (
            live_platform(identity_url, gateway_url, compute_url=compute_url, network_url=network_url) as platform,
            network_worker_running(platform),
        ):
            assert platform.simulator is not None and platform.compute is not None
            control = platform.simulator.removesuffix("/v1")
            config = {
                "max_floating_ips": 100_000,
                "max_primary_ips": 100_000,
                "rate_limit": 10_000_000,
                "rate_refill_per_second": 1_000_000,
            }
            httpx.patch(f"{control}/_sim/config", json=config, timeout=5).raise_for_status()
            total = max(args.total, args.sequential)
            token = tenant(platform, max(total, args.primary, args.firewalls) + 10)
            client = Client(token=token, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.01)
            fsn1 = Location(name="fsn1")

            # A server to assign to (compute's worker run here, one round at a time).
            made = client.servers.create(
                name="bench", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"), location=fsn1
            )
            upstream = HcloudServers(platform.simulator, SIMULATOR_TOKEN, retry=RetryPolicy(attempts=3))
            provisioner = Provisioner(platform.compute.uow, upstream, platform.compute.quotas)
            while provisioner.run_once() is not None:
                pass
            server = client.servers.get_by_id(made.server.id or 0)

            created: list[float] = []
            fips = []
            for n in range(args.sequential):
                labels = {"half": "yes" if n % 2 == 0 else "no"}
                started = time.perf_counter()
                answer = client.floating_ips.create(type="ipv4", home_location=fsn1, labels=labels)
                created.append(time.perf_counter() - started)
                assert answer.floating_ip.ip and answer.action is not None and answer.action.status == "success"
                fips.append(answer.floating_ip)
            c50, c99 = percentiles(created)
            print(f"(a) {args.sequential} floating IPs created one at a time (answered with their address):")
            print(f"    create-to-ready                                 p50 {c50:7.1f} ms  p99 {c99:7.1f} ms")

            assigned: list[float] = []
            unassigned: list[float] = []
            for n in range(args.actions):
                fip = fips[n % len(fips)]
                started = time.perf_counter()
                client.floating_ips.assign(fip, server).wait_until_finished()
                assigned.append(time.perf_counter() - started)
                started = time.perf_counter()
                client.floating_ips.unassign(fip).wait_until_finished()
                unassigned.append(time.perf_counter() - started)
            a50, a99 = percentiles(assigned)
            u50, u99 = percentiles(unassigned)
            print(f"(b) {args.actions} assign/unassign pairs (start to success, polled every 10 ms):")
            print(f"    assign                                          p50 {a50:7.1f} ms  p99 {a99:7.1f} ms")
            print(f"    unassign                                        p50 {u50:7.1f} ms  p99 {u99:7.1f} ms")

            for n in range(args.sequential, total):
                labels = {"half": "yes" if n % 2 == 0 else "no"}
                client.floating_ips.create(type="ipv4", home_location=fsn1, labels=labels)
            print(f"(c) GET /v1/floating_ips with {total} floating IPs of the tenant, {args.lists} calls each:")
            for what, call in (
                ("page of 25", lambda: client.floating_ips.get_list(page=1, per_page=25)),
                ("page of 50", lambda: client.floating_ips.get_list(page=1, per_page=50)),
                ("page of 25, label selector", lambda: client.floating_ips.get_list(label_selector="half=yes")),
            ):
                samples = [timed(call) for _ in range(args.lists)]
                p50, p99 = percentiles(samples)
                print(f"    {what:<44}p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")

            made_primary: list[float] = []
            for n in range(args.primary):
                started = time.perf_counter()
                made_pip = client.primary_ips.create(type="ipv4", name=f"bench-{n}", location=fsn1)
                made_primary.append(time.perf_counter() - started)
                assert made_pip.primary_ip.ip and made_pip.action is not None and made_pip.action.status == "success"
            p50, p99 = percentiles(made_primary)
            print(f"(d) {args.primary} primary IPs created one at a time (answered with their address):")
            print(f"    create-to-ready                                 p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")

            for fip in client.floating_ips.get_all():
                client.floating_ips.delete(fip)
            for pip in client.primary_ips.get_all():
                with contextlib.suppress(APIException):  # a delete the client retried (it answers 404 then)
                    client.primary_ips.delete(pip)
            client.servers.delete(server)

        # (e) outside the worker: it would mirror the firewalls upstream meanwhile.
        with live_platform(identity_url, gateway_url, compute_url=compute_url, network_url=network_url) as platform:
            assert platform.network is not None
            network = platform.network
            with platform.identity.uow() as uow:
                owner = uow.users.by_email("bench@example.com")
            assert owner is not None
            for n in range(args.firewalls):
                firewalls.create(
                    firewalls.NewFirewall(
                        user_id=owner.id,
                        organization_id=None,
                        name=f"bench-{n}",
                        labels={"tenth": "yes" if n % 10 == 0 else "no", "n": str(n)},
                    ),
                    lambda *_: None,
                    network.uow(),
                    network.firewall_quotas,
                    network.compute,
                )
            client = Client(token=token, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.01)
            print(f"(e) GET /v1/firewalls with {args.firewalls} firewalls of the tenant, {args.lists} calls each:")
            lists: tuple[tuple[str, Callable[[], object]], ...] = (
                ("page of 25", lambda: client.firewalls.get_list(page=1, per_page=25)),
                ("page of 25, label selector", lambda: client.firewalls.get_list(label_selector="tenth=yes")),
                (
                    "page of 50, label selector",
                    lambda: client.firewalls.get_list(label_selector="tenth=yes", per_page=50),
                ),
                (
                    "page of 25, selector tenth=no,n!=3",
                    lambda: client.firewalls.get_list(label_selector="tenth=no,n!=3"),
                ),
            )
            for what, listing in lists:
                samples = [timed(listing) for _ in range(args.lists)]
                p50, p99 = percentiles(samples)
                print(f"    {what:<44}p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")


if __name__ == "__main__":
    main()
