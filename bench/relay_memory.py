"""Memory of the outbox relays: one ``relay_main`` process per database (docker compose,
Kubernetes) against one ``relay_main --all`` process for every database (the local stack).

Makes ``--databases`` scratch databases with the backbone's tables on the local MariaDB, starts
one single-database relay and then one ``--all`` relay over all of them, each on loopback with
/metrics on a free port, and prints their resident memory (RSS) once they have run for
``--settle`` seconds: N single relays cost N times the first figure, ``--all`` the second.
Needs MariaDB and Kafka (``cloudctl up --infra-only``); binds no port of the stack.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cloudctl.paths import LocalPaths  # noqa: E402
from tests.integration.backbone import KAFKA, scratch_database  # noqa: E402
from tests.integration.live import free_port  # noqa: E402


def rss_after(argv: list[str], env: dict[str, str], settle: float) -> int:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CP_")}
    process = subprocess.Popen(argv, cwd=ROOT, env=base | env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle)
        if process.poll() is not None:
            raise RuntimeError(f"{argv} exited with {process.returncode}")
        return int(psutil.Process(process.pid).memory_info().rss)
    finally:
        process.terminate()
        process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", type=int, default=9, help="service databases (the stack has 9)")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds each process runs before RSS is read")
    args = parser.parse_args()
    common = {"CP_ENVIRONMENT": "test", "CP_KAFKA_BOOTSTRAP": KAFKA, "CP_LOG_LEVEL": "WARNING"}
    with contextlib.ExitStack() as stack:
        databases = [
            stack.enter_context(contextlib.contextmanager(scratch_database)(LocalPaths()))
            for _ in range(args.databases)
        ]
        argv = [sys.executable, "-m", "cpshared.events.relay_main"]
        single = rss_after(
            argv,
            common
            | {"CP_SERVICE_NAME": "db0", "CP_METRICS_PORT": str(free_port()), "CP_DATABASE_URL": databases[0].url},
            args.settle,
        )
        urls = {f"db{n}": database.url for n, database in enumerate(databases)}
        combined = rss_after(
            [*argv, "--all"],
            common
            | {
                "CP_SERVICE_NAME": "relays",
                "CP_METRICS_PORT": str(free_port()),
                "CP_RELAY_DATABASE_URLS": json.dumps(urls),
            },
            args.settle,
        )
    mib = 1024 * 1024
    print(f"one relay process, one database:           {single / mib:7.1f} MiB")
    print(f"{args.databases} such processes (one per database):    {args.databases * single / mib:7.1f} MiB")
    print(f"one --all process, {args.databases} databases:           {combined / mib:7.1f} MiB")
    print(
        f"saved: {(args.databases * single - combined) / mib:.1f} MiB ({args.databases * single / combined:.1f}x less)"
    )


if __name__ == "__main__":
    main()
