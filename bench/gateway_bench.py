"""Gateway benchmark: an authenticated ``GET /v1/api_keys`` beside a bare uvicorn hello-world.

Runs against the local stack (``make up``; ``make bench-gateway`` starts it). Measured in the
same run, with the same load generator (bench/loadgen, a small Go program built here with the
standard library only, so the client costs little of the 2 cores the servers share):

1. **bare**: a plain ASGI app answering ``{"hello": "world"}``, served by uvicorn with the same
   options as the gateway (one process, no access log), at ``--concurrency`` connections as
   fast as it answers;
2. **gateway**: ``GET /v1/api_keys`` with an API key made for the run (its budget large enough
   not to be the limit): authentication through identity (cached for a second), the rate-limit
   hit in MariaDB, the identity call listing the keys, the request log row in the outbox;
3. **gateway at half its maximum rate** (open loop): p50/p99 latency where it is not saturated;
4. the gateway process's resident memory, sampled every half second through all three runs.

Targets (issue 4): gateway >= 0.3 x bare, p99 < 50 ms at half the maximum rate, memory flat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from cloudctl.paths import LocalPaths
from cloudctl.proc import read_pid
from cloudctl.stack import gateway_url

ROOT = Path(__file__).resolve().parents[1]
LOADGEN_SOURCE = ROOT / "bench" / "loadgen"

HELLO_APP = """
import json
BODY = json.dumps({"hello": "world"}).encode()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
"""


def build_loadgen(paths: LocalPaths) -> Path:
    binary = paths.local / "bin" / "loadgen"
    sources = [*LOADGEN_SOURCE.glob("*.go"), LOADGEN_SOURCE / "go.mod"]
    if binary.exists() and binary.stat().st_mtime >= max(s.stat().st_mtime for s in sources):
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=LOADGEN_SOURCE, check=True, env=env)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hello(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    module = workdir / "bench_hello_app.py"
    module.write_text(HELLO_APP)
    command = [
        sys.executable, "-m", "uvicorn", "bench_hello_app:app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=workdir)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the hello-world server did not start")


def run_load(loadgen: Path, url: str, concurrency: int, seconds: float, rate: float = 0, token: str = "") -> Any:
    command = [str(loadgen), "-url", url, "-c", str(concurrency), "-d", f"{seconds}s", "-warmup", "2s"]
    if rate:
        command += ["-rate", f"{rate:.1f}"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


class MemorySampler:
    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_key(base: str, admin_token: str) -> str:
    answer = httpx.post(
        f"{base}/v1/api_keys",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"name": f"bench-gateway-{int(time.time())}", "scopes": ["api_keys:read"], "rate_limit": 1_000_000},
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["secret"])


def revoke(base: str, admin_token: str, token: str) -> None:
    me = httpx.get(f"{base}/v1/api_keys", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    for key in me.get("api_keys", []):
        if key["name"].startswith("bench-gateway-") and token.endswith(key["last_four"]):
            httpx.delete(f"{base}/v1/api_keys/{key['id']}", headers={"Authorization": f"Bearer {admin_token}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    paths = LocalPaths()
    base = gateway_url()
    gateway_pid = read_pid(paths.pid_file("gateway-http"))
    if gateway_pid is None:
        raise SystemExit("the gateway is not running: `make up` first (make bench-gateway does)")
    admin_token = (paths.local / "admin-token").read_text().strip()
    loadgen = build_loadgen(paths)
    token = bench_key(base, admin_token)

    hello_port = free_port()
    hello = start_hello(hello_port, paths.run)
    try:
        with MemorySampler(gateway_pid) as memory:
            bare = run_load(loadgen, f"http://127.0.0.1:{hello_port}/", args.concurrency, args.seconds)
            gateway = run_load(loadgen, f"{base}/v1/api_keys", args.concurrency, args.seconds, token=token)
            half = run_load(
                loadgen, f"{base}/v1/api_keys", args.concurrency, args.seconds,
                rate=gateway["requests_per_second"] / 2, token=token,
            )  # fmt: skip
    finally:
        hello.terminate()
        hello.wait(10)
        revoke(base, admin_token, token)

    ratio = gateway["requests_per_second"] / bare["requests_per_second"]
    mib = [s / 2**20 for s in memory.samples]
    quarter = max(1, len(mib) // 4)
    first, last = sum(mib[:quarter]) / quarter, sum(mib[-quarter:]) / quarter
    rows = [
        ("bare uvicorn hello-world", bare),
        ("gateway GET /v1/api_keys", gateway),
        ("gateway at half its max rate", half),
    ]
    print(f"\nconcurrency {args.concurrency}, {args.seconds:.0f} s per run, 2 s warm-up each")
    print(
        f"{'run':32} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-2xx':>8} {'errors':>7}"
    )
    for name, r in rows:
        print(
            f"{name:32} {r['requests_per_second']:8.0f} {r['p50_ms']:8.2f} {r['p90_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['max_ms']:8.1f} {r['non_2xx']:8d} {r['errors']:7d}"
        )
    print(f"\ngateway / bare: {ratio:.2f} (target >= 0.3: {'met' if ratio >= 0.3 else 'MISSED'})")
    print(
        f"p99 at half max rate: {half['p99_ms']:.1f} ms (target < 50 ms: {'met' if half['p99_ms'] < 50 else 'MISSED'})"
    )
    print(
        f"gateway RSS: first quarter {first:.0f} MiB, last quarter {last:.0f} MiB, peak {max(mib):.0f} MiB "
        f"over {len(mib)} samples (growth {last - first:+.1f} MiB)"
    )
    failed = gateway["non_2xx"] + gateway["errors"] + half["non_2xx"] + half["errors"]
    if failed:
        raise SystemExit(f"{failed} gateway requests failed: the figures above are not valid")


if __name__ == "__main__":
    main()
