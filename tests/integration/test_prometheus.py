"""The platform watching itself: the alerting rules are valid (promtool), and the Prometheus
`cloudctl up` starts (Debian's package, installed by cloudctl when missing) loads them and
scrapes a /metrics target. Run on a scratch root and free ports, never the stack's."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, start_http_server

from cloudctl.infra.prometheus import RULES, Prometheus, ensure_installed

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return ensure_installed(tmp_path_factory.mktemp("apt") / "apt.log")


def test_the_rules_are_valid(binaries: tuple[str, str]) -> None:
    rules = yaml.safe_load((ROOT / RULES).read_text())
    names = [rule["alert"] for group in rules["groups"] for rule in group["rules"]]
    assert {
        "OutboxBacklog",
        "OutboxOldestUnpublished",
        "ConsumerLag",
        "DeadLetters",
        "UpstreamErrorRate",
        "GatewayServerErrors",
        "GatewayLatencyP99",
    } <= set(names)
    checked = subprocess.run([binaries[1], "check", "rules", str(ROOT / RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(names)} rules found" in checked.stdout


@pytest.fixture
def prometheus(binaries: tuple[str, str], tmp_path: Path) -> Iterator[Prometheus]:
    (tmp_path / RULES).parent.mkdir(parents=True)
    shutil.copy(ROOT / RULES, tmp_path / RULES)
    server = Prometheus(tmp_path, port=_free_port())
    try:
        yield server
    finally:
        server.stop()


def test_prometheus_scrapes_a_target_and_loads_the_rules(prometheus: Prometheus) -> None:
    registry = CollectorRegistry()
    Counter("gateway_http_requests", "answers", ["method", "code"], registry=registry).labels("GET", "200").inc(3)
    port = _free_port()
    start_http_server(port, addr="127.0.0.1", registry=registry)
    prometheus.up([f"127.0.0.1:{port}"], interval="1s")
    assert prometheus.status().healthy
    deadline = time.monotonic() + 60
    value = None
    while time.monotonic() < deadline:
        targets = httpx.get(f"{prometheus.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        answer = httpx.get(
            f"{prometheus.url}/api/v1/query", params={"query": "gateway_http_requests_total"}, timeout=5
        ).json()
        if targets and targets[0]["health"] == "up" and answer["data"]["result"]:
            value = answer["data"]["result"][0]["value"][1]
            break
        time.sleep(0.5)
    assert value == "3", f"no scrape of 127.0.0.1:{port} within 60 s: {targets}"
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert {rule["name"] for group in groups for rule in group["rules"]} >= {"GatewayServerErrors", "ConsumerLag"}
