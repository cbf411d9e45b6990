"""Authentication, authorization, rate limits and /v1/api_keys: the real gateway on uvicorn,
over a scratch gateway database, talking gRPC to a real identity service on a scratch one."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cpshared.auth.principal import generate_private_key
from cpshared.clock import ManualClock
from cpshared.db import make_engine
from cpshared.grpc.server import ServiceIdentity, serve
from gateway_service.app import create_app
from gateway_service.auth.authentication import CACHE_TTL
from gateway_service.config import BACKENDS, Settings
from gateway_service.idempotency.store import idempotency_keys
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import UserRole
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.service_layer import api_keys
from tests.integration.gateway import conftest as gateway_conftest
from tests.integration.identity.support import make_user


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def identity_address(identity: Identity) -> AsyncIterator[str]:
    """Identity's gRPC API on a loopback port, served by this test's event loop."""
    address = f"127.0.0.1:{_free_port()}"
    stop, started = asyncio.Event(), asyncio.Event()

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            # Identity with a signing key: the gateway exchanges each API key for an assertion.
            lambda server: add_identity_servicer(server, Identity(identity.engine, generate_private_key())),
            grace=0.5,
            on_started=on_started,
            stop_event=stop,
        )
    )
    await asyncio.wait_for(started.wait(), timeout=10)
    yield address
    stop.set()
    await asyncio.wait_for(task, timeout=10)


Start = Callable[[], str]


@pytest.fixture
def start_gateway(gateway_url: str, clock: ManualClock, identity_address: str) -> Iterator[Start]:
    """Starts a gateway replica (its own app, engine and uvicorn) on the shared gateway database."""
    settings = Settings.model_validate(
        {
            "service_name": "gateway",
            "metrics_port": 0,
            "database_url": gateway_url,
            **{f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS},
            "identity_grpc_addr": identity_address,
        }
    )
    with contextlib.ExitStack() as stack:

        def start() -> str:
            engine = make_engine(gateway_url, pool_size=5)
            stack.callback(engine.dispose)
            app = create_app(settings, engine, clock=clock)
            return stack.enter_context(contextlib.contextmanager(gateway_conftest.serve)(app))

        yield start


@pytest.fixture
def base_url(start_gateway: Start) -> str:
    return start_gateway()


def new_key(
    identity: Identity, user_id: int, scopes: tuple[str, ...] = ("api_keys:read", "api_keys:write"), rate_limit: int = 0
) -> tuple[int, str]:
    key, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user_id, name=f"key {len(scopes)}", scopes=scopes, rate_limit=rate_limit),
        identity.uow(),
    )
    return key.id, secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def call(
    base_url: str, method: str, path: str, secret: str | None, json: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    all_headers = {**(bearer(secret) if secret else {}), **(headers or {})}
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        return await client.request(method, path, json=json, headers=all_headers)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_requests_without_a_valid_api_key_answer_401_unauthorized(base_url: str, identity: Identity) -> None:
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id)
    for headers in ({}, {"Authorization": f"Basic {secret}"}, {"Authorization": "Bearer"}, bearer("not-a-key")):
        response = await call(base_url, "GET", "/v1/api_keys", None, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert "RateLimit-Limit" not in response.headers
    ok = await call(base_url, "GET", "/v1/api_keys", secret)
    assert ok.status_code == 200, ok.text


async def test_an_expired_key_answers_401(base_url: str, identity: Identity) -> None:
    ada = make_user(identity)
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(
            user_id=ada.id,
            name="short",
            scopes=("api_keys:read",),
            expires_at=datetime.now(UTC) + timedelta(seconds=1),
        ),
        identity.uow(),
    )
    await asyncio.sleep(1.1)
    assert_error(await call(base_url, "GET", "/v1/api_keys", secret), 401, "unauthorized")


async def test_another_tenants_key_answers_404_and_stays_untouched(base_url: str, identity: Identity) -> None:
    ada, bob = make_user(identity, "ada@example.com"), make_user(identity, "bob@example.com")
    ada_key, ada_secret = new_key(identity, ada.id)
    bob_key, bob_secret = new_key(identity, bob.id)

    own = await call(base_url, "GET", f"/v1/api_keys/{ada_key}", ada_secret)
    assert own.status_code == 200
    assert own.json()["api_key"]["id"] == ada_key
    assert_error(await call(base_url, "GET", f"/v1/api_keys/{bob_key}", ada_secret), 404, "not_found")
    assert_error(await call(base_url, "DELETE", f"/v1/api_keys/{bob_key}", ada_secret), 404, "not_found")
    listed = await call(base_url, "GET", "/v1/api_keys", ada_secret)
    assert [key["id"] for key in listed.json()["api_keys"]] == [ada_key]
    assert (await call(base_url, "GET", f"/v1/api_keys/{bob_key}", bob_secret)).status_code == 200


async def test_an_admin_may_revoke_another_users_key(base_url: str, identity: Identity, clock: ManualClock) -> None:
    admin, bob = make_user(identity, "root@example.com", UserRole.ADMIN), make_user(identity, "bob@example.com")
    _, admin_secret = new_key(identity, admin.id, ("*:read", "*:write"))
    bob_key, bob_secret = new_key(identity, bob.id)
    assert (await call(base_url, "DELETE", f"/v1/api_keys/{bob_key}", admin_secret)).status_code == 204
    clock.advance(CACHE_TTL)
    assert_error(await call(base_url, "GET", "/v1/api_keys", bob_secret), 401, "unauthorized")


async def test_a_key_without_the_scope_answers_403_forbidden(base_url: str, identity: Identity) -> None:
    ada = make_user(identity)
    _, servers_only = new_key(identity, ada.id, ("servers:read",))
    _, read_only = new_key(identity, ada.id, ("api_keys:read",))
    assert_error(await call(base_url, "GET", "/v1/api_keys", servers_only), 403, "forbidden")
    body = {"name": "ci", "scopes": ["api_keys:read"]}
    assert_error(await call(base_url, "POST", "/v1/api_keys", read_only, json=body), 403, "forbidden")
    assert (await call(base_url, "GET", "/v1/api_keys", read_only)).status_code == 200


async def test_a_key_cannot_create_a_key_with_more_rights_or_budget(base_url: str, identity: Identity) -> None:
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id, rate_limit=100)
    wider = {"name": "wider", "scopes": ["*:write"]}
    assert_error(await call(base_url, "POST", "/v1/api_keys", secret, json=wider), 403, "forbidden")
    bigger = {"name": "bigger", "scopes": ["api_keys:read"], "rate_limit": 101}
    assert_error(await call(base_url, "POST", "/v1/api_keys", secret, json=bigger), 403, "forbidden")


async def test_create_shows_the_secret_once_and_never_again(
    base_url: str, identity: Identity, engine: sa.Engine
) -> None:
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id)
    body = {"name": "deploy", "scopes": ["api_keys:read"], "rate_limit": 50}
    headers = {"Idempotency-Key": "create-deploy-key"}

    created = await call(base_url, "POST", "/v1/api_keys", secret, json=body, headers=headers)
    assert created.status_code == 201, created.text
    new_secret = created.json()["secret"]
    api_key = created.json()["api_key"]
    assert new_secret and api_key["last_four"] == new_secret[-4:]
    assert api_key["scopes"] == ["api_keys:read"] and api_key["rate_limit"] == 50
    assert "X-Idempotency-Redact" not in created.headers
    unkeyed = await call(base_url, "POST", "/v1/api_keys", secret, json={**body, "name": "unkeyed"})
    assert unkeyed.status_code == 201 and "X-Idempotency-Redact" not in unkeyed.headers

    replay = await call(base_url, "POST", "/v1/api_keys", secret, json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == {"api_key": api_key, "secret": None}

    listed = await call(base_url, "GET", "/v1/api_keys", new_secret)
    assert listed.status_code == 200
    assert new_secret not in listed.text and secret not in listed.text
    assert all("secret" not in key for key in listed.json()["api_keys"])
    with engine.connect() as conn:
        stored = conn.execute(sa.select(idempotency_keys.c.response_body)).scalars().all()
    assert stored and all(new_secret.encode() not in bytes(body) for body in stored)


async def test_bad_input_to_create_answers_invalid_input(base_url: str, identity: Identity) -> None:
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id)
    for body in ({"scopes": ["api_keys:read"]}, {"name": "x", "scopes": ["nonsense"]}, {"name": "x", "scopes": []}):
        assert_error(await call(base_url, "POST", "/v1/api_keys", secret, json=body), 400, "invalid_input")
    listed = await call(base_url, "GET", "/v1/api_keys", secret)
    assert len(listed.json()["api_keys"]) == 1


async def test_a_revoked_key_stops_working_within_the_cache_ttl(
    base_url: str, identity: Identity, clock: ManualClock
) -> None:
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id)
    doomed_id, doomed = new_key(identity, ada.id, ("api_keys:read",))
    assert (await call(base_url, "GET", "/v1/api_keys", doomed)).status_code == 200

    assert (await call(base_url, "DELETE", f"/v1/api_keys/{doomed_id}", secret)).status_code == 204
    clock.advance(CACHE_TTL)
    assert_error(await call(base_url, "GET", "/v1/api_keys", doomed), 401, "unauthorized")
    assert_error(await call(base_url, "GET", f"/v1/api_keys/{doomed_id}", secret), 404, "not_found")
    listed = await call(base_url, "GET", "/v1/api_keys", secret)
    assert doomed_id not in [key["id"] for key in listed.json()["api_keys"]]


async def test_a_key_is_renamed_and_rescoped_never_beyond_the_callers_rights(
    base_url: str, identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    ada, bob = make_user(identity, "ada@example.com"), make_user(identity, "bob@example.com")
    _, secret = new_key(identity, ada.id, rate_limit=100)
    target_id, target = new_key(identity, ada.id, ("api_keys:read", "api_keys:write"), rate_limit=50)
    bob_key, _ = new_key(identity, bob.id)

    renamed = await call(
        base_url, "PUT", f"/v1/api_keys/{target_id}", secret, json={"name": "ci deploy", "scopes": ["api_keys:read"]}
    )
    assert renamed.status_code == 200, renamed.text
    assert (
        renamed.json()["api_key"] | {"name": "ci deploy", "scopes": ["api_keys:read"], "rate_limit": 50}
        == (renamed.json()["api_key"])
    )
    clock.advance(CACHE_TTL)
    body = {"name": "x", "scopes": ["api_keys:read"]}
    assert_error(await call(base_url, "POST", "/v1/api_keys", target, json=body), 403, "forbidden")

    for change, status, code in (
        ({"scopes": ["*:write"]}, 403, "forbidden"),
        ({"rate_limit": 101}, 403, "forbidden"),
        ({"name": ""}, 400, "invalid_input"),
        ({"scopes": []}, 400, "invalid_input"),
        ({"scopes": ["nonsense"]}, 400, "invalid_input"),
        ({"rate_limit": 0}, 400, "invalid_input"),
        ({"owner": 1}, 400, "invalid_input"),
    ):
        answer = await call(base_url, "PUT", f"/v1/api_keys/{target_id}", secret, json=change)
        assert_error(answer, status, code)
    assert_error(
        await call(base_url, "PUT", f"/v1/api_keys/{bob_key}", secret, json={"name": "mine"}), 404, "not_found"
    )
    unchanged = (await call(base_url, "GET", f"/v1/api_keys/{target_id}", secret)).json()["api_key"]
    assert (unchanged["name"], unchanged["scopes"], unchanged["rate_limit"]) == ("ci deploy", ["api_keys:read"], 50)


async def test_rotation_shows_a_new_secret_once_and_the_old_one_stops_after_the_grace(
    base_url: str, identity: Identity, clock: ManualClock
) -> None:
    ada = make_user(identity)
    old_id, old = new_key(identity, ada.id)
    for grace in (-1, 604801, "soon"):
        body = {"grace_period_seconds": grace}
        assert_error(
            await call(base_url, "POST", f"/v1/api_keys/{old_id}/actions/rotate", old, json=body),
            400,
            ("invalid_input"),
        )

    rotated = await call(
        base_url, "POST", f"/v1/api_keys/{old_id}/actions/rotate", old, json={"grace_period_seconds": 1}
    )
    assert rotated.status_code == 201, rotated.text
    answer = rotated.json()
    new, successor, previous = answer["secret"], answer["api_key"], answer["previous"]
    assert new and new != old and successor["last_four"] == new[-4:]
    assert successor["name"] == previous["name"] and successor["scopes"] == previous["scopes"]
    assert previous["id"] == old_id and previous["expires_at"] is not None

    assert (await call(base_url, "GET", "/v1/api_keys", old)).status_code == 200  # within the grace
    await asyncio.sleep(1.1)
    clock.advance(CACHE_TTL)
    assert_error(await call(base_url, "GET", "/v1/api_keys", old), 401, "unauthorized")
    listed = await call(base_url, "GET", "/v1/api_keys", new)
    assert listed.status_code == 200 and new not in listed.text
    expired = await call(base_url, "POST", f"/v1/api_keys/{old_id}/actions/rotate", new, json={})
    assert_error(expired, 412, "precondition_failed")  # an expired key has nothing left to rotate

    at_once = await call(
        base_url, "POST", f"/v1/api_keys/{successor['id']}/actions/rotate", new, json={"grace_period_seconds": 0}
    )
    assert at_once.status_code == 201, at_once.text
    clock.advance(CACHE_TTL)
    assert_error(await call(base_url, "GET", "/v1/api_keys", new), 401, "unauthorized")
    assert (await call(base_url, "GET", "/v1/api_keys", at_once.json()["secret"])).status_code == 200


async def test_the_list_is_paginated_and_sorted_hetzner_style(base_url: str, identity: Identity) -> None:
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id)
    for name in ("b", "c", "a"):
        body = {"name": name, "scopes": ["api_keys:read"]}
        response = await call(base_url, "POST", "/v1/api_keys", secret, json=body)
        assert response.status_code == 201

    first = await call(base_url, "GET", "/v1/api_keys?per_page=2&sort=name:asc", secret)
    assert [key["name"] for key in first.json()["api_keys"]] == ["a", "b"]
    assert first.json()["meta"]["pagination"] == {
        "page": 1,
        "per_page": 2,
        "previous_page": None,
        "next_page": 2,
        "last_page": 2,
        "total_entries": 4,
    }
    assert 'rel="next"' in first.headers["Link"] and "sort=name%3Aasc" in first.headers["Link"]
    second = await call(base_url, "GET", "/v1/api_keys?per_page=2&page=2&sort=name:asc", secret)
    assert [key["name"] for key in second.json()["api_keys"]] == ["c", "key 2"]
    assert_error(await call(base_url, "GET", "/v1/api_keys?sort=secret", secret), 400, "invalid_input")
    assert_error(await call(base_url, "GET", "/v1/api_keys?label_selector=a", secret), 400, "invalid_input")


def reset_after(clock: ManualClock, seconds: int) -> str:
    """``RateLimit-Reset``: the UNIX time the bucket is full again (rounded up to the second)."""
    return str(math.ceil((clock.now() + timedelta(seconds=seconds)).timestamp()))


async def test_the_sixth_request_of_a_5_per_hour_key_answers_429_with_the_headers(
    base_url: str, identity: Identity, clock: ManualClock
) -> None:
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id, rate_limit=5)  # one request refills every 12 minutes
    for used, remaining in enumerate((4, 3, 2, 1, 0), start=1):
        response = await call(base_url, "GET", "/v1/api_keys", secret)
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "5"
        assert response.headers["RateLimit-Remaining"] == str(remaining)
        assert response.headers["RateLimit-Reset"] == reset_after(clock, used * 720)
        assert "Retry-After" not in response.headers

    refused = await call(base_url, "GET", "/v1/api_keys", secret)
    assert_error(refused, 429, "rate_limit_exceeded")
    assert refused.headers["RateLimit-Limit"] == "5"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == reset_after(clock, 3600)
    assert refused.headers["Retry-After"] == "720"  # until one request has refilled

    # Errors of an authenticated request carry the headers too; the bucket refills by itself.
    clock.advance(timedelta(minutes=11))
    assert (await call(base_url, "GET", "/v1/api_keys", secret)).headers["Retry-After"] == "60"
    clock.advance(timedelta(minutes=1))
    missing = await call(base_url, "GET", "/v1/api_keys/999999", secret)
    assert_error(missing, 404, "not_found")
    assert missing.headers["RateLimit-Remaining"] == "0"
    assert missing.headers["RateLimit-Reset"] == reset_after(clock, 3600)
    clock.advance(timedelta(hours=2))  # full again: the capacity, never more
    full = await call(base_url, "GET", "/v1/api_keys", secret)
    assert full.headers["RateLimit-Remaining"] == "4"
    assert full.headers["RateLimit-Reset"] == reset_after(clock, 720)


async def test_two_gateway_replicas_share_one_budget(start_gateway: Start, identity: Identity) -> None:
    first, second = start_gateway(), start_gateway()
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id, rate_limit=5)
    answers = [await call(url, "GET", "/v1/api_keys", secret) for url in (first, second, first, second, first)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0"]
    assert_error(await call(second, "GET", "/v1/api_keys", secret), 429, "rate_limit_exceeded")
    assert_error(await call(first, "GET", "/v1/api_keys", secret), 429, "rate_limit_exceeded")


async def test_concurrent_requests_on_two_replicas_never_exceed_the_budget(
    start_gateway: Start, identity: Identity
) -> None:
    first, second = start_gateway(), start_gateway()
    ada = make_user(identity)
    _, secret = new_key(identity, ada.id, rate_limit=10)
    answers = await asyncio.gather(*(call(url, "GET", "/v1/api_keys", secret) for url in [first, second] * 15))
    assert sorted(a.status_code for a in answers) == [200] * 10 + [429] * 20


async def test_the_openapi_document_is_served_with_the_error_answers_documented(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        document = (await client.get("/v1/openapi.json")).json()
    listing = document["paths"]["/v1/api_keys"]["get"]["responses"]
    for status in ("401", "403", "404", "429"):
        schema = listing[status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorAnswer"), (status, schema)
    assert "rate_limit_exceeded" in listing["429"]["description"]
    error = document["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"code", "message", "details"}
    assert "/v1/api_keys/{api_key_id}" in document["paths"]
