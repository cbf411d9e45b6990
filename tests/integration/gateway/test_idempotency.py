"""Idempotency-Key on POST, through the real gateway app on a real uvicorn server and MariaDB."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from cpshared.clock import ManualClock
from cpshared.errors import Conflict
from gateway_service.app import create_app
from gateway_service.config import BACKENDS, Settings
from gateway_service.idempotency.store import idempotency_keys
from tests.integration.gateway.conftest import serve


class NewThing(BaseModel):
    name: str


class Probe:
    """What the test routes did, and the gate that holds the slow one."""

    def __init__(self) -> None:
        self.runs = 0
        self.crashes_left = 0
        self.entered = threading.Event()
        self.gate = threading.Event()


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def base_url(gateway_url: str, engine: sa.Engine, clock: ManualClock, probe: Probe) -> Iterator[str]:
    settings = Settings.model_validate(
        {
            "service_name": "gateway",
            "metrics_port": 0,
            "database_url": gateway_url,
            **{f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS},  # never dialled here
        }
    )
    app = create_app(settings, engine, clock=clock)

    @app.post("/v1/things", status_code=201)
    async def create_thing(thing: NewThing) -> dict[str, Any]:
        probe.runs += 1
        if probe.crashes_left:
            probe.crashes_left -= 1
            raise RuntimeError("the handler crashed")
        return {"thing": {"id": probe.runs, "name": thing.name}}

    @app.post("/v1/slow_things", status_code=201)
    async def create_slow_thing(thing: NewThing) -> dict[str, Any]:
        probe.runs += 1
        probe.entered.set()
        await anyio.to_thread.run_sync(probe.gate.wait, 10)
        return {"thing": {"id": probe.runs, "name": thing.name}}

    @app.post("/v1/conflicting_things")
    async def create_conflicting_thing(thing: NewThing) -> None:
        probe.runs += 1
        raise Conflict(f"{thing.name} is being changed; retry")

    yield from serve(app)


def post(base_url: str, path: str, body: dict[str, Any], key: str | None, caller: str = "carol") -> httpx.Response:
    headers = {"Authorization": f"Bearer {caller}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(f"{base_url}{path}", json=body, headers=headers, timeout=10)


def rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(idempotency_keys)).all())


def test_second_create_with_same_idempotency_key_returns_first_answer(base_url: str, probe: Probe) -> None:
    first = post(base_url, "/v1/things", {"name": "web"}, key="k-1")
    second = post(base_url, "/v1/things", {"name": "web"}, key="k-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() == {"thing": {"id": 1, "name": "web"}}
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["content-type"] == "application/json"
    assert second.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert probe.runs == 1


def test_without_a_key_every_post_runs(base_url: str, probe: Probe) -> None:
    post(base_url, "/v1/things", {"name": "web"}, key=None)
    post(base_url, "/v1/things", {"name": "web"}, key=None)
    assert probe.runs == 2


def test_same_key_with_another_body_is_422_and_runs_nothing(base_url: str, probe: Probe) -> None:
    post(base_url, "/v1/things", {"name": "web"}, key="k-2")
    reused = post(base_url, "/v1/things", {"name": "db"}, key="k-2")

    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert "different request" in reused.json()["error"]["message"]
    assert probe.runs == 1


def test_keys_belong_to_their_caller(base_url: str, probe: Probe) -> None:
    mine = post(base_url, "/v1/things", {"name": "web"}, key="k-3", caller="alice")
    theirs = post(base_url, "/v1/things", {"name": "web"}, key="k-3", caller="bob")
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json() != theirs.json()
    assert probe.runs == 2


def test_a_concurrent_request_with_the_key_in_flight_is_409(base_url: str, engine: sa.Engine, probe: Probe) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(post, base_url, "/v1/slow_things", {"name": "web"}, "k-4")
        assert probe.entered.wait(10), "the first request never reached its handler"
        assert [row.state for row in rows(engine)] == ["in_flight"]

        second = post(base_url, "/v1/slow_things", {"name": "web"}, key="k-4")
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "conflict"

        probe.gate.set()
        assert first.result(timeout=10).status_code == 201

    third = post(base_url, "/v1/slow_things", {"name": "web"}, key="k-4")
    assert third.headers["Idempotent-Replayed"] == "true"
    assert third.json() == {"thing": {"id": 1, "name": "web"}}
    assert probe.runs == 1


def test_a_crashed_request_releases_its_key_so_the_retry_runs(base_url: str, engine: sa.Engine, probe: Probe) -> None:
    probe.crashes_left = 1
    crashed = post(base_url, "/v1/things", {"name": "web"}, key="k-5")
    assert crashed.status_code == 500
    assert crashed.json()["error"]["code"] == "service_error"
    assert rows(engine) == []

    retried = post(base_url, "/v1/things", {"name": "web"}, key="k-5")
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert probe.runs == 2


def test_a_domain_error_answer_is_stored_and_replayed(base_url: str, probe: Probe) -> None:
    first = post(base_url, "/v1/conflicting_things", {"name": "web"}, key="k-6")
    again = post(base_url, "/v1/conflicting_things", {"name": "web"}, key="k-6")
    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert probe.runs == 1


def test_after_24_hours_the_key_is_new_again_and_expired_rows_are_pruned(
    base_url: str, engine: sa.Engine, clock: ManualClock, probe: Probe
) -> None:
    post(base_url, "/v1/things", {"name": "web"}, key="k-7")
    post(base_url, "/v1/things", {"name": "old"}, key="k-8")
    clock.advance(timedelta(hours=23, minutes=59))
    assert post(base_url, "/v1/things", {"name": "web"}, key="k-7").headers["Idempotent-Replayed"] == "true"

    clock.advance(timedelta(minutes=2))
    fresh = post(base_url, "/v1/things", {"name": "other body"}, key="k-7")
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh.headers
    # k-8 expired too and nobody asked for it again: the opportunistic prune removed it.
    assert [row.idempotency_key for row in rows(engine)] == ["k-7"]
    assert probe.runs == 3


def test_a_key_left_in_flight_by_a_dead_gateway_is_taken_over_after_its_lease(
    base_url: str, engine: sa.Engine, clock: ManualClock, probe: Probe
) -> None:
    now = clock.now().replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            idempotency_keys.insert().values(
                scope="anonymous",
                idempotency_key="k-9",
                fingerprint="0" * 64,
                state="in_flight",
                created_at=now,
                expires_at=now + timedelta(hours=24),
            )
        )
    body = {"name": "web"}
    headers = {"Idempotency-Key": "k-9"}
    assert httpx.post(f"{base_url}/v1/things", json=body, headers=headers).status_code == 422

    clock.advance(timedelta(minutes=6))
    taken_over = httpx.post(f"{base_url}/v1/things", json=body, headers=headers)
    assert taken_over.status_code == 201
    assert probe.runs == 1


def test_an_unusable_key_is_invalid_input(base_url: str, probe: Probe) -> None:
    response = post(base_url, "/v1/things", {"name": "web"}, key="x" * 256)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert probe.runs == 0
