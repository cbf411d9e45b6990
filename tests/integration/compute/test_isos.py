"""ISOs read through from upstream (the simulator, over HTTP with the real hcloud client):
fetched once per TTL, a stale list served while upstream fails, UNAVAILABLE only when cold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from compute_service.adapters.upstream import HcloudCatalog
from compute_service.service_layer.isos import IsoCatalog
from cpshared.errors import Unavailable


@pytest.fixture
def sim_control(simulator: str) -> Iterator[str]:
    control = simulator.removesuffix("/v1") + "/_sim"
    yield control
    requests.delete(f"{control}/faults", timeout=5).raise_for_status()


def _fail_isos(control: str) -> None:
    rule: dict[str, str | int] = {
        "method": "GET",
        "path": "/v1/isos",
        "kind": "error",
        "status": 503,
        "code": "unavailable",
    }
    requests.post(f"{control}/faults", json=rule, timeout=5).raise_for_status()


def test_isos_are_read_through_cached_and_served_stale_while_upstream_fails(
    simulator: str, token_file: str, sim_control: str
) -> None:
    now = [0.0]
    fetches = [0]

    def source() -> HcloudCatalog:
        fetches[0] += 1
        return HcloudCatalog.from_settings(simulator, token_file)

    isos = IsoCatalog(source, ttl_seconds=60, monotonic=lambda: now[0])
    listed = isos.list()
    assert [(i.hetzner_id, i.name, i.architecture) for i in listed] == [
        (2001, "virtio-win-0.1.248.iso", None),
        (2002, "FreeBSD-14.1-RELEASE-amd64-dvd1", "x86"),
        (2003, "FreeBSD-14.1-RELEASE-arm64-dvd1", "arm"),
    ]
    assert {i.type for i in listed} == {"public"}
    now[0] = 59
    assert isos.list() == listed and fetches[0] == 1  # within the TTL: no upstream call
    _fail_isos(sim_control)
    now[0] = 61
    assert isos.list() == listed and fetches[0] == 2  # upstream failed: the stale list
    cold = IsoCatalog(source, ttl_seconds=60, monotonic=lambda: now[0])
    with pytest.raises(Unavailable, match="ISO list"):
        cold.list()
