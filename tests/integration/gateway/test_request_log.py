"""The request log: every answer of the real gateway (on uvicorn, over a scratch gateway
database and a real identity service) leaves one request.completed event in its outbox."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import sqlalchemy as sa

from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from cloudplatform.gateway.v1.events_pb2 import RequestCompleted
from cpshared.events.tables import outbox
from cpshared.topics import SERVICE_STREAMS
from identity_service.bootstrap import Identity
from tests.integration.gateway.test_api_keys import (  # noqa: F401 (fixtures)
    base_url,
    bearer,
    identity_address,
    new_key,
    start_gateway,
)
from tests.integration.identity.support import make_user

USER_AGENT = "request-log-test/1.0"


@dataclass(frozen=True)
class Expected:
    method: str
    route: str
    path: str
    status: int
    authenticated: bool
    replay: bool = False
    rate_limited: bool = False


def _logged(engine: sa.Engine) -> list[tuple[str, str, str, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.topic, outbox.c.event_type, outbox.c.message_key, outbox.c.envelope).order_by(
                outbox.c.id
            )
        ).all()
    return [(r.topic, r.event_type, r.message_key, bytes(r.envelope)) for r in rows]


def _wait_for_rows(engine: sa.Engine, count: int) -> list[tuple[str, str, str, bytes]]:
    # The event is written just after the answer went out: give the last one a moment.
    deadline = time.monotonic() + 10
    while len(_logged(engine)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # and nothing more comes
    return _logged(engine)


async def test_every_answer_is_logged_once_with_route_status_and_principal_and_no_secret(
    base_url: str,  # noqa: F811
    engine: sa.Engine,
    identity: Identity,
) -> None:
    ada = make_user(identity)
    key_id, secret = new_key(identity, ada.id, rate_limit=3)
    create = {"name": "logged", "scopes": ["api_keys:read"]}
    idem = {"Idempotency-Key": "request-log-1"}
    answers: list[httpx.Response] = []
    expected: list[Expected] = []

    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers={"User-Agent": USER_AGENT}) as client:

        async def send(method: str, path: str, auth: bool, exp: Expected, **kwargs: object) -> httpx.Response:
            headers = {**(bearer(secret) if auth else {}), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
            answer = await client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
            assert answer.status_code == exp.status, answer.text
            answers.append(answer)
            expected.append(exp)
            return answer

        await send("GET", "/v1/api_keys", False, Expected("GET", "/v1/api_keys", "/v1/api_keys", 401, False))
        await send("GET", "/v1/api_keys", True, Expected("GET", "/v1/api_keys", "/v1/api_keys", 200, True))
        await send(
            "GET",
            "/v1/api_keys/999999?label_selector=x",
            True,
            Expected("GET", "/v1/api_keys/{api_key_id}", "/v1/api_keys/999999", 404, True),
        )
        created = await send(
            "POST",
            "/v1/api_keys",
            True,
            Expected("POST", "/v1/api_keys", "/v1/api_keys", 201, True),
            json=create,
            headers=idem,
        )
        new_secret = created.json()["secret"]
        assert new_secret
        replay = await send(
            "POST",
            "/v1/api_keys",
            True,
            # A replay is answered before authentication: it names no principal.
            Expected("POST", "/v1/api_keys", "/v1/api_keys", 201, False, replay=True),
            json=create,
            headers=idem,
        )
        assert replay.headers["Idempotent-Replayed"] == "true"
        await send(
            "POST",
            "/v1/api_keys",
            True,
            Expected("POST", "/v1/api_keys", "/v1/api_keys", 422, False),
            json={**create, "name": "another"},
            headers=idem,
        )
        await send("GET", "/v1/nowhere", True, Expected("GET", "", "/v1/nowhere", 404, False))
        assert (await client.get("/healthz")).status_code == 200  # not logged
        await send(
            "GET",
            "/v1/api_keys",
            True,
            Expected("GET", "/v1/api_keys", "/v1/api_keys", 429, True, rate_limited=True),
            headers={"X-Request-Id": "caller-chosen-id"},
        )

    rows = await asyncio.to_thread(_wait_for_rows, engine, len(expected))
    assert len(rows) == len(expected)
    assert answers[-1].headers["X-Request-Id"] == "caller-chosen-id"
    # Each event is written as its answer goes out: the rows need not be in request order.
    by_request = {key: (topic, event_type, raw) for topic, event_type, key, raw in rows}
    assert sorted(by_request) == sorted(answer.headers["X-Request-Id"] for answer in answers)
    for answer, exp in zip(answers, expected, strict=True):
        request_id = answer.headers["X-Request-Id"]
        topic, event_type, raw = by_request[request_id]
        for forbidden in (secret, new_secret, f"Bearer {secret}", "label_selector"):
            assert forbidden.encode() not in raw, (exp, forbidden)
        assert topic == SERVICE_STREAMS["gateway"].name
        assert event_type == "request.completed"
        envelope = EventEnvelope.FromString(raw)
        assert envelope.producer == "gateway"
        assert envelope.aggregate_type == "request"
        assert envelope.aggregate_id == request_id
        assert envelope.correlation_id == request_id
        event = RequestCompleted()
        assert envelope.payload.Unpack(event)
        got = (event.method, event.route, event.path, event.status, event.idempotent_replay, event.rate_limited)
        assert got == (exp.method, exp.route, exp.path, exp.status, exp.replay, exp.rate_limited)
        assert event.request_id == request_id
        assert event.duration_ms >= 0
        assert (event.ip, event.user_agent) == ("127.0.0.1", USER_AGENT)
        principal = (ada.id, key_id) if exp.authenticated else (0, 0)
        assert (event.user_id, event.api_key_id) == principal
        assert (envelope.actor.user_id, envelope.actor.api_key_id) == principal
        assert envelope.actor.organization_id == event.organization_id == 0
        assert (envelope.actor.ip, envelope.actor.user_agent) == ("127.0.0.1", USER_AGENT)
        assert envelope.actor.request_id == request_id
