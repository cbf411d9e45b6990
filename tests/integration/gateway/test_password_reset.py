"""Password reset through the gateway: the real gateway on uvicorn, talking gRPC to a real
identity service (with a signing key and a data encryption key) on a scratch database, the
token read from the mail in the local SMTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from cloudctl.infra.mailsink import MailSink
from cloudctl.paths import LocalPaths
from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.auth.principal import generate_private_key
from cpshared.clock import ManualClock, set_clock
from cpshared.db import make_engine
from cpshared.grpc.server import ServiceIdentity, serve
from gateway_service.app import create_app
from gateway_service.auth.authentication import CACHE_TTL
from gateway_service.config import BACKENDS, Settings
from identity_service.bootstrap import Identity
from identity_service.domain.two_factor import SecretBox
from identity_service.entrypoints.grpc_accounts import add_account_servicer
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.service_layer import two_factor
from tests.integration.gateway import conftest as gateway_conftest
from tests.integration.gateway.test_api_keys import _free_port, assert_error
from tests.integration.gateway.test_auth import call, login, unique_email
from tests.integration.identity.support import PASSWORD, make_user, outbox_events

TOKEN_IN_MAIL = re.compile(r"reset token: ([A-Za-z0-9_\-]+)")
NEW_PASSWORD = "a completely different passphrase"


@pytest.fixture
def identity_clock() -> Iterator[ManualClock]:
    """Identity's time (process-wide): moved instead of sleeping."""
    manual = ManualClock(datetime.now(UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


@pytest.fixture
def keyed(identity: Identity) -> Identity:
    return Identity(identity.engine, generate_private_key(), identity.mail, SecretBox(os.urandom(32)))


@pytest.fixture
async def identity_address(keyed: Identity) -> AsyncIterator[str]:
    address = f"127.0.0.1:{_free_port()}"
    stop, started = asyncio.Event(), asyncio.Event()

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, keyed) + add_account_servicer(server, keyed),
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


async def ask_for_reset(base_url: str, paths: LocalPaths, email: str) -> str:
    """Ask for a reset and read the token from the newest reset mail to ``email``."""
    before = {m.key for m in MailSink(paths.root).messages(email)}
    asked = await call(base_url, "POST", "/v1/auth/password_reset", json={"email": email})
    assert asked.status_code == 202, asked.text
    deadline = time.monotonic() + 30
    while True:
        fresh = [
            m
            for m in MailSink(paths.root).messages(email)
            if "Reset your password" in m.subject and m.key not in before
        ]
        if fresh:
            found = TOKEN_IN_MAIL.search(fresh[-1].body)
            assert found, fresh[-1].body
            return found.group(1)
        assert time.monotonic() < deadline, f"no reset mail to {email}"
        await asyncio.sleep(0.05)


async def test_a_reset_from_the_mail_sets_the_password_ends_every_session_and_lifts_the_lock(
    base_url: str, keyed: Identity, paths: LocalPaths, clock: ManualClock, identity_clock: ManualClock
) -> None:
    # Identity's clock stands still: the waits wrong passwords earn this address do not run out.
    email = unique_email()
    ada = make_user(keyed, email=email)
    first, second = await login(base_url, email), await login(base_url, email)
    answers = []
    for _ in range(5):
        wrong = await call(base_url, "POST", "/v1/auth/login", json={"email": email, "password": "wrong password"})
        answers.append(wrong.status_code)
    assert answers[0] == 401 and answers[-1] == 429, answers
    assert_error(
        await call(base_url, "POST", "/v1/auth/login", json={"email": email, "password": PASSWORD}),
        429,
        "rate_limit_exceeded",
    )

    token = await ask_for_reset(base_url, paths, email)
    too_long = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": "x" * 201, "password": NEW_PASSWORD}
    )
    assert_error(too_long, 400, "invalid_input")
    too_short = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": token, "password": "short"}
    )
    assert_error(too_short, 400, "invalid_input")
    unknown = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": "no-such-token", "password": NEW_PASSWORD}
    )
    assert_error(unknown, 400, "invalid_input")

    confirmed = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"revoked_sessions": 2}
    assert "Your password was reset" in MailSink(paths.root).wait_for(email, "Your password was reset").subject

    again = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": token, "password": "yet another password"}
    )
    assert_error(again, 400, "invalid_input")
    assert "used already" in again.json()["error"]["message"]

    # The old password is refused, the new one signs in at once: the lockout is lifted.
    old = await call(base_url, "POST", "/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert_error(old, 401, "unauthorized")
    fresh = await login(base_url, email, NEW_PASSWORD)
    assert (await call(base_url, "GET", "/v1/me", fresh["access_token"])).status_code == 200

    # Every session from before the reset is over, its access and refresh tokens alike.
    clock.advance(CACHE_TTL)
    for before in (first, second):
        assert_error(await call(base_url, "GET", "/v1/me", before["access_token"]), 401, "unauthorized")
        refreshed = await call(base_url, "POST", "/v1/auth/refresh", json={"refresh_token": before["refresh_token"]})
        assert_error(refreshed, 401, "unauthorized")

    events = outbox_events(keyed.engine)
    resets = [p for p in (e.payload for e in events) if isinstance(p, ev.UserPasswordReset)]
    assert [(p.user_id, p.revoked_sessions, p.unlocked) for p in resets] == [(ada.id, 2, True)]
    ended = [p for p in (e.payload for e in events) if isinstance(p, ev.UserSessionRevoked)]
    assert sorted(p.session_id for p in ended if p.reason == "password_reset") == sorted(
        [first["session"]["id"], second["session"]["id"]]
    )
    with keyed.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM password_resets WHERE user_id = :u"), {"u": ada.id})
        assert token not in {row.token_hash for row in stored}


async def test_two_factor_authentication_is_still_required_after_a_reset(
    base_url: str, keyed: Identity, paths: LocalPaths, identity_clock: ManualClock
) -> None:
    email = unique_email()
    ada = make_user(keyed, email=email)
    totp = pyotp.TOTP(two_factor.enrol(ada.id, keyed.uow()).secret)
    two_factor.confirm(ada.id, totp.at(identity_clock.advance(timedelta(seconds=30))), keyed.uow())

    token = await ask_for_reset(base_url, paths, email)
    confirmed = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text

    without_code = await call(base_url, "POST", "/v1/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert_error(without_code, 401, "two_factor_required")
    code = totp.at(identity_clock.advance(timedelta(seconds=30)))
    with_code = await call(
        base_url, "POST", "/v1/auth/login", json={"email": email, "password": NEW_PASSWORD, "totp_code": code}
    )
    assert with_code.status_code == 200, with_code.text


async def test_an_unknown_email_answers_the_same_and_nothing_is_mailed(
    base_url: str, keyed: Identity, paths: LocalPaths
) -> None:
    known, unknown = unique_email("ada"), unique_email("nobody")
    make_user(keyed, email=known)
    answers = [await call(base_url, "POST", "/v1/auth/password_reset", json={"email": e}) for e in (unknown, known)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    MailSink(paths.root).wait_for(known, "Reset your password")  # the mails of both requests had their time
    assert MailSink(paths.root).messages(unknown) == []
    with keyed.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM password_resets")).scalar_one() == 1


async def test_an_expired_or_replaced_token_is_refused_and_changes_nothing(
    base_url: str, keyed: Identity, paths: LocalPaths, identity_clock: ManualClock
) -> None:
    email = unique_email()
    make_user(keyed, email=email)
    with keyed.engine.begin() as conn:
        conn.execute(sa.text("UPDATE system_settings SET value = '5' WHERE `key` = 'password_reset_minutes'"))

    expiring = await ask_for_reset(base_url, paths, email)
    identity_clock.advance(timedelta(minutes=5, seconds=1))
    expired = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": expiring, "password": NEW_PASSWORD}
    )
    assert_error(expired, 400, "invalid_input")
    assert "expired" in expired.json()["error"]["message"]

    replaced = await ask_for_reset(base_url, paths, email)
    identity_clock.advance(timedelta(minutes=1))
    newest = await ask_for_reset(base_url, paths, email)
    refused = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": replaced, "password": NEW_PASSWORD}
    )
    assert_error(refused, 400, "invalid_input")
    # Nothing changed: the old password still signs in, and the newest token still works.
    await login(base_url, email, PASSWORD)
    confirmed = await call(
        base_url, "POST", "/v1/auth/password_reset/confirm", json={"token": newest, "password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
