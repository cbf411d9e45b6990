"""Compute benchmark: create-to-running latency and ListServers latency, on real parts.

- the Hetzner simulator as a PROCESS (``python -m hetzner_sim``) with actions finishing at
  once (``CP_HETZNER_SIM_ACTION_SECONDS=0``) and its rate limit and server limit lifted;
- compute's provisioning worker(s) as PROCESSES (``python -m compute_service.entrypoints.worker``),
  talking to the simulator over HTTP through hcloud, on a scratch compute database;
- compute's gRPC server (the real servicers, interceptors and principal checks) and identity's
  gRPC server (the server quota is reserved there on every create), each on its own event loop
  in a thread of this process, on scratch databases of the local MariaDB.

(a) create-to-running, one at a time: ``CreateServer`` answered → the server seen ``running``
    in compute's database (the worker finished; a poller reads the servers table every 5 ms);
    each create waits for the previous server;
(b) the same for a burst: the rest of the servers (up to ``--total``) created back to back
    while the workers work them off; latency then includes the queue; servers/s reported;
(c) ``ListServers`` with ``--total`` servers of one tenant in the table: a page of 25, a page
    of 50, and a page of 25 with a label selector (half the servers match), each beside a bare
    gRPC call (``ServiceInfoService/GetServiceInfo``) on the same server in the same run.

``make bench-compute`` runs it (MariaDB from ``cloudctl up --infra-only``; no stack port used).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets as secrets_module
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from cloudctl.infra.mariadb import MariaDB  # noqa: E402
from cloudctl.paths import LocalPaths  # noqa: E402
from cloudplatform.compute.v1 import compute_service_pb2 as cpb  # noqa: E402
from cloudplatform.compute.v1 import server_service_pb2 as pb  # noqa: E402
from cloudplatform.compute.v1 import server_service_pb2_grpc as pb_grpc  # noqa: E402
from cloudplatform.ops.v1 import service_info_pb2, service_info_pb2_grpc  # noqa: E402
from compute_service.adapters.quotas import IdentityQuotas  # noqa: E402
from compute_service.adapters.upstream import HcloudCatalog  # noqa: E402
from compute_service.bootstrap import Compute  # noqa: E402
from compute_service.entrypoints.grpc_server import add_servicers as add_compute_servicers  # noqa: E402
from compute_service.service_layer import catalog  # noqa: E402
from cpshared.auth.principal import TrustedKeys, generate_private_key, private_key_pem, sign, user_principal  # noqa: E402
from cpshared.db import make_engine  # noqa: E402
from cpshared.logging import configure_logging  # noqa: E402
from cpshared.migrations import migrations_dir, upgrade  # noqa: E402
from identity_service.domain import commands  # noqa: E402
from identity_service.domain.model import QuotaOwner, UserRole, UserStatus  # noqa: E402
from identity_service.service_layer import staff, users  # noqa: E402
from tests.integration.live import free_port, grpc_in_thread, identity_in_thread  # noqa: E402

SIM_TOKEN = "bench-sim-token"  # noqa: S105 - the throwaway simulator's token
LIST_CALLS = 300
BARE_CALLS = 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


@contextlib.contextmanager
def simulator() -> Iterator[str]:
    """The simulator process on a free loopback port; yields its API endpoint (with /v1)."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CP_HETZNER_SIM_HOST": "127.0.0.1",
        "CP_HETZNER_SIM_PORT": str(port),
        "CP_HETZNER_SIM_TOKEN": SIM_TOKEN,
        "CP_HETZNER_SIM_ACTION_SECONDS": "0",
        "CP_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "hetzner_sim"], env=env)
    control = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{control}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.1)
        # No 429 and no project limit in the way: the benchmark measures the platform.
        httpx.patch(
            f"{control}/_sim/config",
            json={"max_servers": 100_000, "rate_limit": 10_000_000, "rate_refill_per_second": 1_000_000},
            timeout=5,
        ).raise_for_status()
        yield f"{control}/v1"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def workers(
    count: int, compute_url: str, endpoint: str, token_file: str, identity: str, key_file: str, poll: float
) -> Iterator[None]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CP_SERVICE_NAME": "compute",
        "CP_METRICS_PORT": "0",
        "CP_LOG_LEVEL": "WARNING",
        "CP_DATABASE_URL": compute_url,
        "CP_HCLOUD_ENDPOINT": endpoint,
        "CP_HCLOUD_TOKEN_FILE": token_file,
        "CP_IDENTITY_GRPC_ADDR": identity,
        "CP_PRINCIPAL_SERVICE_KEY_FILE": key_file,
        "CP_WORKER_POLL_INTERVAL": str(poll),
        "CP_WORKER_SWEEP_INTERVAL": "3600",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "compute_service.entrypoints.worker"], env=env, stdout=subprocess.DEVNULL
        )
        for _ in range(count)
    ]
    try:
        time.sleep(3)  # imports and the database check
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError("a worker exited at start")
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(15)


class RunningWatch:
    """Polls the servers table every 5 ms; remembers when each server was first seen running."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, pool_size=1)
        self.seen: dict[int, float] = {}
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        floor = 0  # every server below it has been seen running
        query = sa.text("SELECT id FROM servers WHERE status = 'running' AND id > :floor")
        while not self.stop.is_set():
            with self.engine.connect() as conn:
                found = [int(i) for i in conn.execute(query, {"floor": floor}).scalars()]
            now = time.perf_counter()
            fresh = [i for i in found if i not in self.seen]
            if fresh:
                with self.changed:
                    for server_id in fresh:
                        self.seen[server_id] = now
                    self.changed.notify_all()
                while floor + 1 in self.seen:
                    floor += 1
            self.stop.wait(0.005)

    def wait_for(self, server_ids: list[int], limit: float = 600) -> None:
        deadline = time.monotonic() + limit
        with self.changed:
            while not all(i in self.seen for i in server_ids):
                if time.monotonic() > deadline:
                    missing = [i for i in server_ids if i not in self.seen]
                    raise RuntimeError(f"{len(missing)} servers never ran (first: {missing[:5]})")
                self.changed.wait(1)

    def __enter__(self) -> RunningWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.engine.dispose()


def timed(call: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=200, help="servers created one at a time (a)")
    parser.add_argument("--total", type=int, default=1000, help="servers in the table for (b) and (c)")
    parser.add_argument(
        "--running",
        type=int,
        default=500,
        help="servers provisioned in (a) and (b); the simulator's IPv4 pools (two /24s) hold about 508",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--poll", type=float, default=0.5, help="the workers' idle poll interval (the stack's default is 0.5 s)"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each figure as it comes
    configure_logging("compute-bench", "WARNING", json=False)  # the figures, not the services' chatter

    mariadb = MariaDB(LocalPaths().root)
    with (
        tempfile.TemporaryDirectory() as secrets,
        mariadb.scratch_database("cp_bench_id") as identity_url,
        mariadb.scratch_database("cp_bench_cp") as compute_url,
        simulator() as endpoint,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        token_file = Path(secrets) / "hcloud-token"
        token_file.write_text(SIM_TOKEN + "\n")
        compute_key = generate_private_key()
        key_file = Path(secrets) / "compute.key"
        key_file.write_text(private_key_pem(compute_key))
        os.chmod(key_file, 0o600)
        identity_engine = make_engine(identity_url, pool_size=5)
        compute_engine = make_engine(compute_url, pool_size=10)
        with identity_in_thread(identity_engine, generate_private_key().public_key(), compute_key.public_key()) as (
            identity_address,
            identity,
        ):
            assert identity.signing_key is not None
            quotas = IdentityQuotas(identity_address, str(key_file))
            compute = Compute(
                compute_engine, lambda: HcloudCatalog.from_settings(endpoint, str(token_file)), quotas=quotas
            )
            catalog.sync_catalog(compute.catalog_source(), compute.uow())
            admin = users.create_user(
                commands.CreateUser(
                    name="admin",
                    email="bench-admin@example.com",
                    password=secrets_module.token_urlsafe(24),
                    role=UserRole.ADMIN,
                    status=UserStatus.ACTIVE,
                ),
                identity.uow(),
            )
            user = users.create_user(
                commands.CreateUser(
                    name="bench",
                    email="bench@example.com",
                    password=secrets_module.token_urlsafe(24),
                    status=UserStatus.ACTIVE,
                ),
                identity.uow(),
            )
            staff.set_quota_limit(
                staff.SetQuotaLimit(
                    acting_user_id=admin.id,
                    owner=QuotaOwner(user_id=user.id),
                    resource_type="server",
                    quota_limit=args.total + 10,
                ),
                identity.uow,
            )
            trusted = TrustedKeys(issuer=identity.signing_key.public_key())
            principal = user_principal(user_id=user.id, role="client", organizations={})
            metadata = (("x-principal", sign(principal, identity.signing_key)),)
            with (
                grpc_in_thread("compute", lambda server: add_compute_servicers(server, compute), trusted) as address,
                grpc.insecure_channel(address) as channel,
                contextlib.ExitStack() as provisioning,
            ):
                provisioning.enter_context(
                    workers(
                        args.workers,
                        compute_url,
                        endpoint,
                        str(token_file),
                        identity_address,
                        str(key_file),
                        args.poll,
                    )
                )
                watch = provisioning.enter_context(RunningWatch(compute_url))
                stub = pb_grpc.ServerServiceStub(channel)
                info = service_info_pb2_grpc.ServiceInfoServiceStub(channel)

                def create(n: int) -> tuple[int, float]:
                    request = pb.CreateServerRequest(
                        user_id=user.id,
                        name=f"bench-{n}",
                        server_type="cx22",
                        image="ubuntu-24.04",
                        datacenter="fsn1",
                        labels={"env": "prod" if n % 2 else "dev", "n": str(n)},
                    )
                    start = time.perf_counter()
                    answer = stub.CreateServer(request, metadata=metadata)
                    return answer.server.id, time.perf_counter() - start

                print(
                    f"compute benchmark: simulator at zero action delay, {args.workers} worker process(es) "
                    f"polling every {args.poll} s when idle, MariaDB scratch databases",
                    flush=True,
                )
                # (a) one at a time
                create_calls, to_running = [], []
                for n in range(args.sequential):
                    server_id, call_seconds = create(n)
                    answered = time.perf_counter()
                    watch.wait_for([server_id])
                    create_calls.append(call_seconds)
                    to_running.append(watch.seen[server_id] - answered)
                c50, c99 = percentiles(create_calls)
                r50, r99 = percentiles(to_running)
                print(f"(a) {args.sequential} servers one at a time:")
                print(f"    CreateServer call (quota at identity, outbox)  p50 {c50:7.1f} ms  p99 {c99:7.1f} ms")
                print(f"    answered → running (worker, upstream)          p50 {r50:7.1f} ms  p99 {r99:7.1f} ms")

                # (b) a burst
                burst = min(args.running, args.total) - args.sequential
                if burst > 0:
                    answered_at: dict[int, float] = {}
                    start = time.perf_counter()
                    for n in range(args.sequential, args.sequential + burst):
                        server_id, _ = create(n)
                        answered_at[server_id] = time.perf_counter()
                    submitted = time.perf_counter() - start
                    watch.wait_for(list(answered_at))
                    elapsed = max(watch.seen[i] for i in answered_at) - start
                    b50, b99 = percentiles([watch.seen[i] - t for i, t in answered_at.items()])
                    print(f"(b) a burst of {burst} creates (submitted in {submitted:.1f} s):")
                    print(f"    answered → running, queue included            p50 {b50:7.1f} ms  p99 {b99:7.1f} ms")
                    print(f"    provisioned {burst / elapsed:7.1f} servers/s with {args.workers} worker(s)")

                # The rest of the table, created through the API with the workers and the poller
                # stopped (they would compete with the lists): these stay provisioning.
                provisioning.close()
                for n in range(args.sequential + max(burst, 0), args.total):
                    create(n)

                # (c) lists with every server in the table

                def bare() -> object:
                    return info.GetServiceInfo(service_info_pb2.GetServiceInfoRequest())

                def listing(per_page: int, selector: bool = False) -> Callable[[], object]:
                    labels = [cpb.LabelRequirement(key="env", operator="=", values=["prod"])] if selector else []
                    matching = total // 2 if selector else total
                    page = max(1, matching // per_page // 2)  # a full page from the middle
                    request = pb.ListServersRequest(
                        user_id=user.id, per_page=per_page, page=page, label_selector=labels
                    )

                    def call() -> object:
                        answer = stub.ListServers(request, metadata=metadata)
                        assert len(answer.servers) == per_page, len(answer.servers)
                        return answer

                    return call

                total = stub.ListServers(pb.ListServersRequest(user_id=user.id), metadata=metadata).total_entries
                timed(bare, 100)  # warm up
                bare50, bare99 = percentiles(timed(bare, BARE_CALLS))
                running = stub.ListServers(
                    pb.ListServersRequest(user_id=user.id, status=["running"]), metadata=metadata
                ).total_entries
                print(
                    f"(c) ListServers with {total} servers of the tenant in the table ({running} running, the rest "
                    f"provisioning), {LIST_CALLS} calls each:"
                )
                print(f"    bare gRPC call (GetServiceInfo)                p50 {bare50:7.2f} ms  p99 {bare99:7.2f} ms")
                for label, call in (
                    ("page of 25", listing(25)),
                    ("page of 50", listing(50)),
                    ("page of 25, label_selector env=prod", listing(25, True)),
                ):
                    timed(call, 20)
                    l50, l99 = percentiles(timed(call, LIST_CALLS))
                    print(
                        f"    {label:<38} p50 {l50:7.2f} ms  p99 {l99:7.2f} ms"
                        f"  ({l50 / bare50:4.1f}x the bare call at p50)"
                    )
            compute.close()
        identity_engine.dispose()


if __name__ == "__main__":
    main()
