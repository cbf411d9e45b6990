"""Storage benchmark: volumes through the gateway with the real ``hcloud`` client.

The platform as the integration tests serve it (tests/integration/live.py): identity, compute
(its catalog synced), storage and the gateway on loopback ports over scratch databases of the
local MariaDB, storage's worker (its entrypoint's loop) in a thread, the Hetzner simulator
in-process with zero action delay (``action_seconds`` 0: upstream's actions finish at once). Every
request goes client → gateway (HTTP) → storage (gRPC) → MariaDB, and upstream work through hcloud
to the simulator (HTTP).

(a) create-to-ready, one at a time: ``POST /v1/volumes`` (10 GB in fsn1) and its
    ``create_volume`` action waited for (``wait_until_finished`` polling ``/v1/actions/{id}``
    every 10 ms) until storage's worker has made it upstream;
(b) attach and detach to a server: the action's start to its end as the client sees it.

The worker waits ``--poll`` seconds when it found no action (the stack's default is 0.5 s,
``CP_WORKER_POLL_INTERVAL``): the figures include up to one such wait, so they are given for the
poll interval used. ``make bench-storage`` runs it (MariaDB from ``cloudctl up --infra-only``;
no stack port used).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from hcloud import Client  # noqa: E402
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
from storage_service.config import WorkerSettings  # noqa: E402
from storage_service.entrypoints import worker as storage_worker  # noqa: E402
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    q = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


PASSWORD = "bench password, throwaway"  # noqa: S105 - scratch users of a scratch database


def tenant(platform: LivePlatform, volumes: int) -> str:
    """A client user with an API key (its secret) and room for ``volumes`` volumes of 10 GB."""
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
    for resource_type, limit in (("volume", volumes), ("volume_gb", volumes * 10), ("server", 10)):
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
    parser.add_argument("--sequential", type=int, default=100, help="volumes created one at a time (a)")
    parser.add_argument("--actions", type=int, default=50, help="attach/detach pairs (b)")
    parser.add_argument("--poll", type=float, default=0.01, help="the worker's poll interval when idle, seconds")
    args = parser.parse_args()
    configure_logging("storage-bench", level="WARNING")
    mariadb = MariaDB(LocalPaths().root)
    with (
        mariadb.scratch_database("cp_bench_st_id") as identity_url,
        mariadb.scratch_database("cp_bench_st_gw") as gateway_url,
        mariadb.scratch_database("cp_bench_st_cp") as compute_url,
        mariadb.scratch_database("cp_bench_st_st") as storage_url,
    ):
        for service, url in (
            ("identity", identity_url),
            ("gateway", gateway_url),
            ("compute", compute_url),
            ("storage", storage_url),
        ):
            upgrade(service, migrations_dir(service), url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, storage_url=storage_url) as platform:
            assert platform.simulator is not None and platform.compute is not None and platform.storage is not None
            control = platform.simulator.removesuffix("/v1")
            config = {"action_seconds": 0, "max_volumes": 100_000, "rate_limit": 10_000_000}
            httpx.patch(f"{control}/_sim/config", json=config, timeout=5).raise_for_status()
            settings = WorkerSettings.model_construct(
                worker_poll_interval=args.poll, worker_sweep_interval=3600.0, upstream_retry_initial_seconds=0.05
            )
            stop = threading.Event()
            worker = threading.Thread(
                target=storage_worker.run, args=(platform.storage.provisioner(), settings, stop), daemon=True
            )
            worker.start()
            try:
                client = Client(
                    token=tenant(platform, args.sequential + 10),
                    api_endpoint=f"{platform.gateway}/v1",
                    poll_interval=0.01,
                )
                fsn1 = Location(name="fsn1")
                # A server to attach to (compute's worker run here, one round at a time).
                made = client.servers.create(
                    name="bench", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"), location=fsn1
                )
                upstream = HcloudServers(platform.simulator, SIMULATOR_TOKEN, retry=RetryPolicy(attempts=3))
                provisioner = Provisioner(platform.compute.uow, upstream, platform.compute.quotas)
                while provisioner.run_once() is not None:
                    pass
                server = client.servers.get_by_id(made.server.id or 0)

                created: list[float] = []
                volumes = []
                for n in range(args.sequential):
                    started = time.perf_counter()
                    answer = client.volumes.create(size=10, name=f"bench-{n}", location=fsn1)
                    answer.action.wait_until_finished(max_retries=10_000)
                    created.append(time.perf_counter() - started)
                    volumes.append(answer.volume)
                c50, c99 = percentiles(created)
                print(f"storage worker poll interval {args.poll * 1000:.0f} ms; simulator action delay 0")
                print(f"(a) {args.sequential} volumes created one at a time (POST, then its action to success):")
                print(f"    create-to-ready                                 p50 {c50:7.1f} ms  p99 {c99:7.1f} ms")

                attached: list[float] = []
                detached: list[float] = []
                for n in range(args.actions):
                    volume = volumes[n % len(volumes)]
                    started = time.perf_counter()
                    client.volumes.attach(volume, server).wait_until_finished(max_retries=10_000)
                    attached.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    client.volumes.detach(volume).wait_until_finished(max_retries=10_000)
                    detached.append(time.perf_counter() - started)
                a50, a99 = percentiles(attached)
                d50, d99 = percentiles(detached)
                print(f"(b) {args.actions} attach/detach pairs (start to success, polled every 10 ms):")
                print(f"    attach                                          p50 {a50:7.1f} ms  p99 {a99:7.1f} ms")
                print(f"    detach                                          p50 {d50:7.1f} ms  p99 {d99:7.1f} ms")

                for volume in volumes:
                    client.volumes.delete(volume)
                client.servers.delete(server)
            finally:
                stop.set()
                worker.join(15)


if __name__ == "__main__":
    main()
