"""Sign-up, verification, sessions and /v1/me: the real gateway on uvicorn over a scratch
database, talking gRPC to a real identity service (with a signing key) on a scratch one, and
mail through the local SMTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cloudctl.infra.mailsink import MailSink
from cloudctl.paths import LocalPaths
from cpshared.auth.principal import generate_private_key
from cpshared.clock import ManualClock, set_clock
from cpshared.db import make_engine
from cpshared.grpc.server import ServiceIdentity, serve
from gateway_service.app import create_app
from gateway_service.auth.authentication import CACHE_TTL
from gateway_service.config import BACKENDS, Settings
from gateway_service.rate_limit.store import USER_BUCKET_BASE, rate_limit_buckets
from identity_service.bootstrap import Identity
from identity_service.entrypoints.grpc_accounts import add_account_servicer
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from tests.integration.gateway import conftest as gateway_conftest
from tests.integration.gateway.test_api_keys import _free_port, assert_error, new_key
from tests.integration.identity.support import PASSWORD, make_user

TOKEN_IN_MAIL = re.compile(r"/v1/auth/verify\?token=([A-Za-z0-9_\-]+)")


def unique_email(name: str = "ada") -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
async def identity_address(identity: Identity) -> AsyncIterator[str]:
    address = f"127.0.0.1:{_free_port()}"
    stop, started = asyncio.Event(), asyncio.Event()
    signing = Identity(identity.engine, generate_private_key(), identity.mail)

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, signing) + add_account_servicer(server, signing),
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
            "session_rate_limit": 50,
        }
    )
    engine = make_engine(gateway_url, pool_size=5)
    try:
        # Loopback is the test's proxy: X-Forwarded-For names the client (the per-address throttles).
        serve = contextlib.contextmanager(gateway_conftest.serve)
        with serve(create_app(settings, engine, clock=clock), trusted_proxies="127.0.0.1") as url:
            yield url
    finally:
        engine.dispose()


async def call(
    base_url: str, method: str, path: str, token: str | None = None, json: Any = None, **headers: str
) -> httpx.Response:
    all_headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **headers}
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as client:
        return await client.request(method, path, json=json, headers=all_headers)


async def login(base_url: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await call(base_url, "POST", "/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_sign_up_verify_login_refresh_logout_through_the_gateway(
    base_url: str, paths: LocalPaths, clock: ManualClock
) -> None:
    email = unique_email()
    signed_up = await call(
        base_url, "POST", "/v1/auth/signup", json={"name": "Ada", "email": email, "password": PASSWORD}
    )
    assert signed_up.status_code == 202, signed_up.text
    assert "check your mail" in signed_up.json()["message"]

    mail = MailSink(paths.root).wait_for(email, "Verify your email address")
    found = TOKEN_IN_MAIL.search(mail.body)
    assert found, mail.body
    verified = await call(base_url, "POST", "/v1/auth/verify", json={"token": found.group(1)})
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["status"] == "active" and verified.json()["user"]["email_verified"]

    tokens = await login(base_url, email)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    assert tokens["refresh_expires_in"] == 30 * 24 * 3600
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    me = await call(base_url, "GET", "/v1/me", access)
    assert me.status_code == 200, me.text
    assert me.json()["user"]["email"] == email
    assert me.headers["RateLimit-Limit"] == "50"

    renewed = await call(base_url, "POST", "/v1/auth/refresh", json={"refresh_token": refresh})
    assert renewed.status_code == 200, renewed.text
    new_access, new_refresh = renewed.json()["access_token"], renewed.json()["refresh_token"]
    assert new_refresh != refresh
    old = await call(base_url, "POST", "/v1/auth/refresh", json={"refresh_token": refresh})
    assert_error(old, 401, "unauthorized")
    # Reusing the rotated token ended the session: the new refresh token is refused too.
    after_reuse = await call(base_url, "POST", "/v1/auth/refresh", json={"refresh_token": new_refresh})
    assert_error(after_reuse, 401, "unauthorized")
    clock.advance(CACHE_TTL)
    assert_error(await call(base_url, "GET", "/v1/me", new_access), 401, "unauthorized")

    # A fresh session, then logout: its access token stops working once the cache entry is gone.
    second = await login(base_url, email)
    assert (await call(base_url, "GET", "/v1/me", second["access_token"])).status_code == 200
    out = await call(base_url, "POST", "/v1/auth/logout", second["access_token"])
    assert out.status_code == 204, out.text
    clock.advance(CACHE_TTL)
    assert_error(await call(base_url, "GET", "/v1/me", second["access_token"]), 401, "unauthorized")


async def test_sign_up_answers_403_when_closed(base_url: str, identity: Identity) -> None:
    with identity.engine.begin() as conn:
        conn.execute(sa.text("UPDATE system_settings SET value = 'false' WHERE `key` = 'signup_enabled'"))
    response = await call(
        base_url, "POST", "/v1/auth/signup", json={"name": "Ada", "email": unique_email(), "password": PASSWORD}
    )
    assert_error(response, 403, "forbidden")
    assert "sign-up is closed" in response.json()["error"]["message"]


async def test_resend_answers_202_whatever_the_email(base_url: str) -> None:
    response = await call(base_url, "POST", "/v1/auth/verify/resend", json={"email": unique_email("nobody")})
    assert response.status_code == 202, response.text


async def test_sign_up_with_an_email_that_has_an_account_answers_the_same_202(
    base_url: str, identity: Identity, paths: LocalPaths
) -> None:
    email = unique_email()
    make_user(identity, email=email)
    new = await call(
        base_url, "POST", "/v1/auth/signup", json={"name": "Ada", "email": unique_email(), "password": PASSWORD}
    )
    existing = await call(
        base_url, "POST", "/v1/auth/signup", json={"name": "Eve", "email": email, "password": "an entirely new one"}
    )
    assert (new.status_code, existing.status_code) == (202, 202), existing.text
    assert new.json() == existing.json()
    assert "already have an account" in MailSink(paths.root).wait_for(email, "You already have an account").body.lower()
    weak = await call(
        base_url, "POST", "/v1/auth/signup", json={"name": "Ada", "email": unique_email(), "password": "password1"}
    )
    assert_error(weak, 400, "invalid_input")
    assert "common" in weak.json()["error"]["message"]


@pytest.fixture
def identity_time() -> Iterator[ManualClock]:
    """Identity's time (process-wide) held still: the waits it hands out do not pass meanwhile."""
    manual = ManualClock()
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


async def test_wrong_passwords_slow_and_lock_the_guessing_address_while_the_owner_signs_in_from_another(
    base_url: str, identity: Identity, identity_time: ManualClock
) -> None:
    email = unique_email()
    make_user(identity, email=email)
    unknown = unique_email("nobody")
    answers: dict[str, list[httpx.Response]] = {}
    for who in (email, unknown):
        answers[who] = [
            await call(
                base_url,
                "POST",
                "/v1/auth/login",
                json={"email": who, "password": "wrong password"},
                **{"X-Forwarded-For": "203.0.113.9"},
            )
            for _ in range(4)
        ]
    for who in (email, unknown):
        assert [a.status_code for a in answers[who]] == [401, 401, 401, 429], answers[who][-1].text
        waiting = answers[who][-1]
        assert_error(waiting, 429, "rate_limit_exceeded")
        assert waiting.headers["Retry-After"] == "1" and waiting.json()["error"]["details"] == {"retry_after": 1}
    # An unknown email answers exactly like a known one: nobody learns which emails have an account.
    assert [a.json() for a in answers[email]] == [a.json() for a in answers[unknown]]
    owner = await call(
        base_url,
        "POST",
        "/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        **{"X-Forwarded-For": "198.51.100.4"},
    )
    assert owner.status_code == 200, owner.text


async def test_an_address_spends_its_credential_budget_and_gets_429_with_retry_after(
    base_url: str, identity: Identity
) -> None:
    email = unique_email()
    make_user(identity, email=email)
    statuses = []
    for n in range(30):
        answer = await call(
            base_url,
            "POST",
            "/v1/auth/login",
            json={"email": unique_email(f"n{n}"), "password": "wrong password"},
            **{"X-Forwarded-For": "203.0.113.77"},
        )
        statuses.append(answer.status_code)
    # 20 at once, then one every 3 s (CP_CREDENTIAL_ADDRESS_PER_MINUTE): the rest are refused.
    assert statuses[:20] == [401] * 20 and statuses.count(429) >= 5, statuses
    assert_error(answer, 429, "rate_limit_exceeded")
    assert int(answer.headers["Retry-After"]) >= 1
    # API keys that fail to authenticate: 20 asked of identity, then 429 without asking.
    keys = [
        await call(base_url, "GET", "/v1/me", f"cpk_{uuid.uuid4().hex}", **{"X-Forwarded-For": "203.0.113.78"})
        for _ in range(25)
    ]
    assert [k.status_code for k in keys[:20]] == [401] * 20 and keys[-1].status_code == 429
    assert "Retry-After" in keys[-1].headers
    # Other addresses are not held back.
    fine = await call(
        base_url,
        "POST",
        "/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        **{"X-Forwarded-For": "198.51.100.5"},
    )
    assert fine.status_code == 200, fine.text


async def test_a_password_change_ends_the_other_sessions(base_url: str, identity: Identity, clock: ManualClock) -> None:
    email = unique_email()
    make_user(identity, email=email)
    kept, other = await login(base_url, email), await login(base_url, email)
    changed = await call(
        base_url,
        "POST",
        "/v1/me/password",
        kept["access_token"],
        json={"current_password": PASSWORD, "new_password": "a brand new password"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"revoked_sessions": 1}
    clock.advance(CACHE_TTL)
    assert_error(await call(base_url, "GET", "/v1/me", other["access_token"]), 401, "unauthorized")
    listed = await call(base_url, "GET", "/v1/me/sessions", kept["access_token"])
    assert listed.status_code == 200, listed.text
    assert [(s["id"], s["current"]) for s in listed.json()["sessions"]] == [(kept["session"]["id"], True)]
    assert listed.json()["meta"]["pagination"]["total_entries"] == 1
    wrong = await call(
        base_url,
        "POST",
        "/v1/me/password",
        kept["access_token"],
        json={"current_password": "not the password", "new_password": "another new password"},
    )
    assert_error(wrong, 400, "invalid_input")


async def test_another_users_session_answers_404(base_url: str, identity: Identity) -> None:
    ada_email, bob_email = unique_email("ada"), unique_email("bob")
    make_user(identity, email=ada_email)
    make_user(identity, email=bob_email)
    ada, bob = await login(base_url, ada_email), await login(base_url, bob_email)
    response = await call(base_url, "DELETE", f"/v1/me/sessions/{ada['session']['id']}", bob["access_token"])
    assert_error(response, 404, "not_found")
    still = await call(base_url, "GET", "/v1/me", ada["access_token"])
    assert still.status_code == 200
    own = await call(base_url, "DELETE", f"/v1/me/sessions/{bob['session']['id']}", bob["access_token"])
    assert own.status_code == 204, own.text


async def test_profile_patch_sets_and_clears_fields(base_url: str, identity: Identity) -> None:
    email = unique_email()
    make_user(identity, email=email)
    access = (await login(base_url, email))["access_token"]
    patched = await call(
        base_url, "PATCH", "/v1/me", access, json={"city": "Berlin", "country": "DE", "timezone": "Europe/Berlin"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["user"]["city"] == "Berlin"
    cleared = await call(base_url, "PATCH", "/v1/me", access, json={"city": None})
    assert cleared.json()["user"]["city"] is None and cleared.json()["user"]["country"] == "DE"
    bad = await call(base_url, "PATCH", "/v1/me", access, json={"timezone": "Nowhere/Else"})
    assert_error(bad, 400, "invalid_input")


async def test_logout_with_an_api_key_answers_422_and_api_keys_still_reach_me(
    base_url: str, identity: Identity
) -> None:
    ada = make_user(identity, email=unique_email())
    _, secret = new_key(identity, ada.id, scopes=("account:read",))
    refused = await call(base_url, "POST", "/v1/auth/logout", secret)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_input"
    assert "DELETE /v1/api_keys" in refused.json()["error"]["message"]
    assert (await call(base_url, "GET", "/v1/me", secret)).status_code == 200
    assert_error(await call(base_url, "PATCH", "/v1/me", secret, json={"city": "Rome"}), 403, "forbidden")


async def test_session_requests_count_against_the_users_own_budget(
    base_url: str, identity: Identity, engine: sa.Engine
) -> None:
    email = unique_email()
    ada = make_user(identity, email=email)
    access = (await login(base_url, email))["access_token"]
    for _ in range(3):
        me = await call(base_url, "GET", "/v1/me", access)
        assert me.status_code == 200
    with engine.connect() as conn:
        rows = conn.execute(sa.select(rate_limit_buckets.c.bucket_id)).scalars().all()
    assert [int(r) for r in rows] == [USER_BUCKET_BASE + ada.id]
    assert me.headers["RateLimit-Remaining"] == "47"  # 50 an hour (session_rate_limit), 3 taken


async def test_token_answers_are_replayed_without_the_tokens(base_url: str, identity: Identity) -> None:
    email = unique_email()
    make_user(identity, email=email)
    body = {"email": email, "password": PASSWORD}
    first = await call(base_url, "POST", "/v1/auth/login", json=body, **{"Idempotency-Key": "login-1"})
    again = await call(base_url, "POST", "/v1/auth/login", json=body, **{"Idempotency-Key": "login-1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["access_token"] and first.json()["refresh_token"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["access_token"] is None and again.json()["refresh_token"] is None
    assert again.json()["session"]["id"] == first.json()["session"]["id"]


async def test_the_openapi_document_describes_the_auth_and_me_routes(base_url: str) -> None:
    document = (await call(base_url, "GET", "/v1/openapi.json")).json()
    for path in ("/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh", "/v1/me", "/v1/me/sessions/{session_id}"):
        assert path in document["paths"], path
    assert "TokensAnswer" in document["components"]["schemas"]
