"""/v1/me/two_factor: the real gateway on uvicorn, talking gRPC to a real identity service
(with a data encryption key) on a scratch database."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
import sqlalchemy as sa

from cpshared.auth.principal import generate_private_key
from cpshared.clock import ManualClock, set_clock
from cpshared.db import make_engine
from cpshared.grpc.server import ServiceIdentity, serve
from gateway_service.app import create_app
from gateway_service.config import BACKENDS, Settings
from gateway_service.idempotency.store import idempotency_keys
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.two_factor import SecretBox
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.entrypoints.grpc_two_factor import add_two_factor_servicer
from identity_service.service_layer import api_keys
from tests.integration.gateway import conftest as gateway_conftest
from tests.integration.gateway.test_api_keys import assert_error, call
from tests.integration.identity.conftest import _free_port
from tests.integration.identity.support import PASSWORD, make_user

SCOPES = ("two_factor:read", "two_factor:write")


@pytest.fixture
async def identity_address(identity: Identity) -> AsyncIterator[str]:
    """Identity's gRPC API (both services) with a signing key and a data encryption key."""
    address = f"127.0.0.1:{_free_port()}"
    keyed = Identity(identity.engine, generate_private_key(), secret_box=SecretBox(os.urandom(32)))
    stop, started = asyncio.Event(), asyncio.Event()

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, keyed) + add_two_factor_servicer(server, keyed),
            grace=0.5,
            on_started=on_started,
            stop_event=stop,
        )
    )
    await asyncio.wait_for(started.wait(), timeout=10)
    yield address
    stop.set()
    await asyncio.wait_for(task, timeout=10)


@pytest.fixture
def base_url(gateway_url: str, clock: ManualClock, identity_address: str) -> Iterator[str]:
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
        with contextlib.contextmanager(gateway_conftest.serve)(create_app(settings, engine, clock=clock)) as url:
            yield url
    finally:
        engine.dispose()


def new_key(identity: Identity, user_id: int, scopes: tuple[str, ...] = SCOPES) -> str:
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user_id, name="2fa", scopes=scopes), identity.uow()
    )
    return secret


@pytest.fixture
def identity_clock() -> Iterator[ManualClock]:
    """Identity's time (process-wide), moved a time step at a time instead of sleeping: identity
    accepts each TOTP time step once."""
    manual = ManualClock(datetime.now(UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def next_code(totp: pyotp.TOTP, clock: ManualClock) -> str:
    """The code of the next time step."""
    return totp.at(clock.advance(timedelta(seconds=30)))


async def test_enrol_confirm_regenerate_and_disable_over_http(
    base_url: str, identity: Identity, engine: sa.Engine, identity_clock: ManualClock
) -> None:
    ada = make_user(identity)
    secret = new_key(identity, ada.id)

    off = await call(base_url, "GET", "/v1/me/two_factor", secret)
    assert off.status_code == 200, off.text
    assert off.json() == {
        "two_factor": {"enabled": False, "pending": False, "confirmed_at": None, "recovery_codes_left": 0}
    }

    replay_headers = {"Idempotency-Key": "enrol-ada"}
    enrolled = await call(base_url, "POST", "/v1/me/two_factor", secret, headers=replay_headers)
    assert enrolled.status_code == 201, enrolled.text
    totp_secret, uri = enrolled.json()["secret"], enrolled.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/Cloud%20Platform:ada%40example.com?") and totp_secret in uri
    # The replay answers the same, without the secret; the gateway's database never held it.
    replayed = await call(base_url, "POST", "/v1/me/two_factor", secret, headers=replay_headers)
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == {"secret": None, "otpauth_uri": None}
    with engine.connect() as conn:
        stored = b"".join(conn.execute(sa.select(idempotency_keys.c.response_body)).scalars().all())
    assert totp_secret.encode() not in stored

    totp = pyotp.TOTP(totp_secret)
    confirm_code = next_code(totp, identity_clock)
    assert_error(
        await call(base_url, "POST", "/v1/me/two_factor/confirm", secret, json={"code": "12345"}), 400, "invalid_input"
    )
    confirmed = await call(
        base_url,
        "POST",
        "/v1/me/two_factor/confirm",
        secret,
        json={"code": confirm_code},
        headers={"Idempotency-Key": "confirm-ada"},
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and confirmed.json()["two_factor"]["enabled"] is True
    again = await call(
        base_url,
        "POST",
        "/v1/me/two_factor/confirm",
        secret,
        json={"code": confirm_code},
        headers={"Idempotency-Key": "confirm-ada"},
    )
    assert again.json()["recovery_codes"] is None and again.json()["two_factor"]["enabled"] is True
    assert_error(await call(base_url, "POST", "/v1/me/two_factor", secret), 412, "precondition_failed")

    status = await call(base_url, "GET", "/v1/me/two_factor", secret)
    assert status.json()["two_factor"]["recovery_codes_left"] == 10

    regenerated = await call(
        base_url, "POST", "/v1/me/two_factor/recovery_codes", secret, json={"code": next_code(totp, identity_clock)}
    )
    assert regenerated.status_code == 200, regenerated.text
    new_codes = regenerated.json()["recovery_codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    with engine.connect() as conn:
        stored = b"".join(conn.execute(sa.select(idempotency_keys.c.response_body)).scalars().all())
    assert not any(code.encode() in stored for code in codes)

    both = {"password": PASSWORD, "code": "123456", "recovery_code": new_codes[0]}
    assert_error(await call(base_url, "POST", "/v1/me/two_factor/disable", secret, json=both), 400, "invalid_input")
    wrong = {"password": "not the password", "recovery_code": new_codes[0]}
    assert_error(await call(base_url, "POST", "/v1/me/two_factor/disable", secret, json=wrong), 400, "invalid_input")
    old = {"password": PASSWORD, "recovery_code": codes[0]}
    assert_error(await call(base_url, "POST", "/v1/me/two_factor/disable", secret, json=old), 400, "invalid_input")
    right = {"password": PASSWORD, "recovery_code": new_codes[0]}
    disabled = await call(base_url, "POST", "/v1/me/two_factor/disable", secret, json=right)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["two_factor"]["enabled"] is False


async def test_a_key_without_the_two_factor_scope_answers_403_and_no_key_401(base_url: str, identity: Identity) -> None:
    ada = make_user(identity)
    read_only = new_key(identity, ada.id, ("two_factor:read",))
    other = new_key(identity, ada.id, ("api_keys:read",))
    assert (await call(base_url, "GET", "/v1/me/two_factor", read_only)).status_code == 200
    assert_error(await call(base_url, "POST", "/v1/me/two_factor", read_only), 403, "forbidden")
    assert_error(await call(base_url, "GET", "/v1/me/two_factor", other), 403, "forbidden")
    assert_error(await call(base_url, "GET", "/v1/me/two_factor", None), 401, "unauthorized")


async def test_each_caller_sees_only_its_own_two_factor(base_url: str, identity: Identity) -> None:
    ada, bob = make_user(identity), make_user(identity, "bob@example.com")
    ada_secret, bob_secret = new_key(identity, ada.id), new_key(identity, bob.id)
    assert (await call(base_url, "POST", "/v1/me/two_factor", ada_secret)).status_code == 201
    bobs = await call(base_url, "GET", "/v1/me/two_factor", bob_secret)
    assert bobs.json()["two_factor"]["pending"] is False
    adas = await call(base_url, "GET", "/v1/me/two_factor", ada_secret)
    assert adas.json()["two_factor"]["pending"] is True


async def test_the_openapi_document_describes_the_two_factor_endpoints(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        document = (await client.get("/v1/openapi.json")).json()
    paths = document["paths"]
    for path in ("/v1/me/two_factor", "/v1/me/two_factor/confirm", "/v1/me/two_factor/disable"):
        assert path in paths
    assert "/v1/me/two_factor/recovery_codes" in paths
    schemas = document["components"]["schemas"]
    assert {"Enrolment", "RecoveryCodes", "TwoFactorAnswer", "DisableBody"} <= set(schemas)
