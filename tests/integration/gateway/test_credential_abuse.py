"""A sign-in flood against the real gateway (its default credential throttle) in front of a real
identity service (its default bounded password pool) on MariaDB: 300 unauthenticated logins
for unknown emails over 16 connections, each from an address of its own (a botnet: the
per-address budget does not stop it), while a signed-in user keeps reading ``/v1/me``.

What must hold: no answer >= 500 (before, identity's threads filled and the gateway answered
504s), the refusals are 429s with ``Retry-After`` in the error format, and the reader's
answers stay 200 and quick. The figures are printed (``-s``); the only timed assertion is a
generous bound, well under the gateway's 2 s deadline towards identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from cpshared.clock import ManualClock
from cpshared.db import make_engine
from gateway_service.app import create_app
from gateway_service.config import BACKENDS, Settings
from identity_service.bootstrap import Identity
from tests.integration.gateway import conftest as gateway_conftest
from tests.integration.gateway.test_auth import identity_address, unique_email  # noqa: F401
from tests.integration.identity.support import PASSWORD, make_user

LOGINS, CONNECTIONS = 300, 16
READER_BOUND_SECONDS = 3.0
"""Generous: the reader shares two cores with 16 flooding connections, the gateway and identity
(one process here); what must hold is that every read is answered 200, none times out."""


@pytest.fixture
def base_url(gateway_url: str, clock: ManualClock, identity_address: str) -> Iterator[str]:  # noqa: F811
    """The gateway with its default credential throttle; loopback is its trusted proxy."""
    settings = Settings.model_validate(
        {
            "service_name": "gateway",
            "metrics_port": 0,
            "database_url": gateway_url,
            **{f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS},
            "identity_grpc_addr": identity_address,
        }
    )
    engine = make_engine(gateway_url, pool_size=5)
    try:
        serve = contextlib.contextmanager(gateway_conftest.serve)
        with serve(create_app(settings, engine, clock=clock), trusted_proxies="127.0.0.1") as url:
            yield url
    finally:
        engine.dispose()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def read_me(client: httpx.AsyncClient, token: str) -> tuple[int, float]:
    started = time.perf_counter()
    answer = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, time.perf_counter() - started


async def test_a_login_flood_degrades_to_429s_and_a_signed_in_users_reads_hold(
    base_url: str, identity: Identity
) -> None:
    email = unique_email("reader")
    make_user(identity, email=email)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as reader:
        signed_in = await reader.post(
            "/v1/auth/login", json={"email": email, "password": PASSWORD}, headers={"X-Forwarded-For": "198.51.100.1"}
        )
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["access_token"]
        idle = []
        for _ in range(40):
            status, took = await read_me(reader, token)
            assert status == 200
            idle.append(took)
            await asyncio.sleep(0.02)

        answers: list[httpx.Response] = []
        pending = list(range(LOGINS))
        flooding = True

        async def attacker(client: httpx.AsyncClient) -> None:
            while pending:
                n = pending.pop()
                answers.append(
                    await client.post(
                        "/v1/auth/login",
                        json={"email": f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.com", "password": "guess"},
                        headers={"X-Forwarded-For": f"10.{n // 256}.{n % 256}.7"},
                    )
                )

        loaded: list[float] = []
        statuses: list[int] = []

        async def keep_reading() -> None:
            while flooding:
                status, took = await read_me(reader, token)
                statuses.append(status)
                loaded.append(took)
                await asyncio.sleep(0.02)

        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as flood:
            reading = asyncio.create_task(keep_reading())
            await asyncio.gather(*(attacker(flood) for _ in range(CONNECTIONS)))
            flooding = False
            await reading
        elapsed = time.perf_counter() - started

    by_status: dict[int, int] = {}
    for answer in answers:
        by_status[answer.status_code] = by_status.get(answer.status_code, 0) + 1
    print(
        f"\n{LOGINS} logins over {CONNECTIONS} connections in {elapsed:.1f} s: {dict(sorted(by_status.items()))}; "
        f"/v1/me idle p50 {statistics.median(idle) * 1000:.1f} ms p99 {p99(idle) * 1000:.1f} ms; "
        f"during the flood ({len(loaded)} reads) p50 {statistics.median(loaded) * 1000:.1f} ms "
        f"p99 {p99(loaded) * 1000:.1f} ms max {max(loaded) * 1000:.1f} ms"
    )
    assert len(answers) == LOGINS
    assert not [a for a in answers if a.status_code >= 500], by_status
    assert set(by_status) <= {401, 429}, by_status
    refused = [a for a in answers if a.status_code == 429]
    assert refused, "the flood was never throttled"
    for answer in refused:
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    assert set(statuses) == {200} and loaded
    assert p99(loaded) < READER_BOUND_SECONDS, f"the reader's p99 was {p99(loaded):.2f} s during the flood"
