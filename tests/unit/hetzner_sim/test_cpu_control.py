"""The simulator's CPU control (``PUT /_sim/servers/{id}/cpu``): a server's cpu series follows
the level set from its instant on, back to the wave with null; bad input is a 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hcloud import Client

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import create


def _cpu(client: Client, server_id: int | None, start: datetime, minutes: int) -> list[float]:
    assert server_id is not None
    server = client.servers.get_by_id(server_id)
    answer = server.get_metrics(type=["cpu"], start=start, end=start + timedelta(minutes=minutes), step=60)
    return [float(value) for _, value in answer.metrics.time_series["cpu"]["values"]]


def test_the_cpu_follows_the_level_set_from_its_instant_and_returns_to_the_wave(sim: Sim, client: Client) -> None:
    server = create(client, "busy")
    start = datetime.fromtimestamp(sim.clock.now(), UTC).replace(second=0, microsecond=0)
    wave = _cpu(client, server.id, start, 10)
    assert max(wave) <= 50.0
    rise = start + timedelta(minutes=3)
    answer = sim.control("PUT", f"servers/{server.id}/cpu", {"cpu": 95, "from": rise.isoformat()})
    assert [level["cpu"] for level in answer["cpu_levels"]] == [95.0]
    fall = start + timedelta(minutes=7)
    sim.control("PUT", f"servers/{server.id}/cpu", {"cpu": None, "from": fall.isoformat()})
    assert _cpu(client, server.id, start, 10) == wave[:3] + [95.0] * 4 + wave[7:]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("servers/999999/cpu", {"cpu": 50}, 404),
        ("servers/{id}/cpu", {"cpu": -1}, 400),
        ("servers/{id}/cpu", {"cpu": 250}, 400),
        ("servers/{id}/cpu", {"cpu": 50, "from": "2026-05-04T08:00:00"}, 400),
        ("servers/{id}/cpu", {"percent": 50}, 400),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    sim: Sim, client: Client, path: str, body: dict[str, Any], status: int
) -> None:
    server = create(client, "idle")  # cx22: two cores, 200 % at most
    response = requests.put(f"{sim.url}/_sim/{path.format(id=server.id)}", json=body, timeout=5)
    assert response.status_code == status, response.text
    start = datetime.fromtimestamp(sim.clock.now(), UTC)
    assert max(_cpu(client, server.id, start, 3)) <= 50.0
