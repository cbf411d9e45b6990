"""Two-factor authentication through real gRPC on the real database: enrol, confirm, sign in
with codes and recovery codes, regenerate, disable; the secret and the codes never in clear."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pyotp
import pytest
import sqlalchemy as sa
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cloudplatform.identity.v1 import two_factor_service_pb2 as tf
from cloudplatform.identity.v1 import two_factor_service_pb2_grpc as tf_grpc
from cpshared.auth.principal import TrustedKeys, generate_private_key, sign, user_principal
from cpshared.clock import ManualClock, set_clock
from cpshared.context import PRINCIPAL_HEADER
from cpshared.grpc.server import ServiceIdentity, serve
from identity_service.bootstrap import Identity
from identity_service.domain.model import UserRole, sign_in_subject
from identity_service.domain.two_factor import SecretBox, new_data_key_text
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.entrypoints.grpc_two_factor import add_two_factor_servicer
from identity_service.service_layer import accounts
from tests.integration.identity.conftest import _free_port
from tests.integration.identity.support import PASSWORD, event_types, make_user, outbox_events

START = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
STEP = timedelta(seconds=30)
LOGIN_IP = "203.0.113.5"


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


@pytest.fixture
def secret_box(tmp_path: Path) -> SecretBox:
    """A data encryption key from a key file, read as the server process reads it."""
    path = tmp_path / "data-encryption.key"
    path.write_text(new_data_key_text())
    path.chmod(0o600)
    return SecretBox.from_base64(path.read_text())


@dataclass
class Stubs:
    identity: pb_grpc.IdentityServiceAsyncStub
    two_factor: tf_grpc.TwoFactorServiceAsyncStub


async def _serve(identity: Identity, trusted: TrustedKeys | None = None) -> AsyncIterator[Stubs]:
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, identity) + add_two_factor_servicer(server, identity),
            grace=0.5,
            stop_event=stop,
            trusted=trusted,
        )
    )
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        yield Stubs(pb_grpc.IdentityServiceStub(channel), tf_grpc.TwoFactorServiceStub(channel))
    stop.set()
    await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def stubs(identity: Identity, secret_box: SecretBox) -> AsyncIterator[Stubs]:
    keyed = Identity(identity.engine, secret_box=secret_box)
    async for served in _serve(keyed):
        yield served


async def refused(call: object, code: grpc.StatusCode, details: str = "") -> str:
    with pytest.raises(aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    assert failed.value.code() == code, failed.value.details()
    text = failed.value.details() or ""
    assert text.startswith(details), text
    return text


def login(stubs: Stubs, totp_code: str = "", recovery_code: str = "") -> object:
    return stubs.identity.Login(
        pb.LoginRequest(
            email="ada@example.com",
            password=PASSWORD,
            ip=LOGIN_IP,
            totp_code=totp_code,
            recovery_code=recovery_code,
        )
    )


def failed_logins(engine: sa.Engine, user_id: int) -> int:
    """The failures counted for (the user's email, the address ``login`` signs in from)."""
    with engine.connect() as conn:
        email = conn.execute(sa.text("SELECT email FROM users WHERE id = :id"), {"id": user_id}).scalar_one()
        failures = conn.execute(
            sa.text("SELECT failures FROM sign_in_failures WHERE subject = :subject AND ip_address = :ip"),
            {"subject": sign_in_subject(email), "ip": LOGIN_IP},
        ).scalar()
    return int(failures or 0)


def reasons(engine: sa.Engine, user_id: int) -> list[str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT failure_reason FROM login_activity WHERE user_id = :id ORDER BY id"), {"id": user_id}
        )
        return [row[0] for row in rows]


async def enable(stubs: Stubs, user_id: int, clock: ManualClock) -> tuple[pyotp.TOTP, list[str]]:
    enrolled = await stubs.two_factor.EnrolTwoFactor(tf.EnrolTwoFactorRequest(user_id=user_id))
    totp = pyotp.TOTP(enrolled.secret)
    confirmed = await stubs.two_factor.ConfirmTwoFactor(
        tf.ConfirmTwoFactorRequest(user_id=user_id, code=totp.at(clock.now()))
    )
    return totp, list(confirmed.recovery_codes)


async def test_the_whole_two_factor_flow(
    stubs: Stubs, identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    ada = make_user(identity)
    status = await stubs.two_factor.GetTwoFactorStatus(tf.GetTwoFactorStatusRequest(user_id=ada.id))
    assert not status.status.enabled and not status.status.pending

    # Enrol; enrolling again before confirming replaces the secret.
    first = await stubs.two_factor.EnrolTwoFactor(tf.EnrolTwoFactorRequest(user_id=ada.id))
    enrolled = await stubs.two_factor.EnrolTwoFactor(tf.EnrolTwoFactorRequest(user_id=ada.id))
    assert enrolled.secret != first.secret
    assert enrolled.otpauth_uri.startswith("otpauth://totp/Cloud%20Platform:ada%40example.com?")
    assert f"secret={enrolled.secret}" in enrolled.otpauth_uri
    totp = pyotp.TOTP(enrolled.secret)
    await refused(
        stubs.two_factor.ConfirmTwoFactor(
            tf.ConfirmTwoFactorRequest(user_id=ada.id, code=pyotp.TOTP(first.secret).at(clock.now()))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    pending = await stubs.two_factor.GetTwoFactorStatus(tf.GetTwoFactorStatusRequest(user_id=ada.id))
    assert pending.status.pending and not pending.status.enabled
    # Not on yet: signing in needs no code.
    await login(stubs)  # type: ignore[misc]

    confirm_code = totp.at(clock.now())
    confirmed = await stubs.two_factor.ConfirmTwoFactor(tf.ConfirmTwoFactorRequest(user_id=ada.id, code=confirm_code))
    codes = list(confirmed.recovery_codes)
    assert len(codes) == 10 == len(set(codes)) == confirmed.status.recovery_codes_left
    assert confirmed.status.enabled and confirmed.status.confirmed_at.ToDatetime(tzinfo=UTC) == clock.now()
    await refused(
        stubs.two_factor.EnrolTwoFactor(tf.EnrolTwoFactorRequest(user_id=ada.id)), grpc.StatusCode.FAILED_PRECONDITION
    )

    # No code: a distinct refusal, recorded, not counted towards the lockout.
    await refused(login(stubs), grpc.StatusCode.UNAUTHENTICATED, "two_factor_required: ")
    assert failed_logins(engine, ada.id) == 0
    assert reasons(engine, ada.id)[-1] == "two_factor_required"

    # The code that confirmed is used up (its time step); a wrong code counts like a wrong password.
    await refused(login(stubs, totp_code=confirm_code), grpc.StatusCode.UNAUTHENTICATED, "unauthorized: ")
    assert failed_logins(engine, ada.id) == 1
    clock.advance(STEP)
    wrong = f"{(int(totp.at(clock.now())) + 1) % 1_000_000:06d}"
    await refused(login(stubs, totp_code=wrong), grpc.StatusCode.UNAUTHENTICATED, "unauthorized: ")
    assert failed_logins(engine, ada.id) == 2
    assert reasons(engine, ada.id)[-2:] == ["wrong_two_factor_code"] * 2

    # The right code signs in (and resets the count); the same code, the same step, never again.
    code = totp.at(clock.now())
    signed_in = await login(stubs, totp_code=code)  # type: ignore[misc]
    assert signed_in.user.id == ada.id and failed_logins(engine, ada.id) == 0
    await refused(login(stubs, totp_code=code), grpc.StatusCode.UNAUTHENTICATED)

    # A recovery code signs in once.
    await login(stubs, recovery_code=codes[0])  # type: ignore[misc]
    await refused(login(stubs, recovery_code=codes[0]), grpc.StatusCode.UNAUTHENTICATED)
    left = await stubs.two_factor.GetTwoFactorStatus(tf.GetTwoFactorStatusRequest(user_id=ada.id))
    assert left.status.recovery_codes_left == 9

    activity = await stubs.identity.ListLoginActivity(pb.ListLoginActivityRequest(user_id=ada.id, per_page=50))
    assert {a.failure_reason for a in activity.login_activity} >= {
        pb.LOGIN_FAILURE_REASON_TWO_FACTOR_REQUIRED,
        pb.LOGIN_FAILURE_REASON_WRONG_TWO_FACTOR_CODE,
    }

    # Regenerate: a new set; the earlier codes stop working.
    clock.advance(STEP)
    regenerated = await stubs.two_factor.RegenerateRecoveryCodes(
        tf.RegenerateRecoveryCodesRequest(user_id=ada.id, code=totp.at(clock.now()))
    )
    new_codes = list(regenerated.recovery_codes)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    await refused(login(stubs, recovery_code=codes[1]), grpc.StatusCode.UNAUTHENTICATED)
    await login(stubs, recovery_code=new_codes[0])  # type: ignore[misc]

    # Nothing in clear: not the secret, not a recovery code, in the user row or in the events.
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM users WHERE id = :id"), {"id": ada.id}).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    assert row["two_factor_secret"].startswith("v1:")
    for clear in [enrolled.secret, *codes, *new_codes]:
        assert clear not in stored
        assert clear.replace("-", "") not in stored
    envelopes = b"".join(e.payload.SerializeToString() for e in outbox_events(engine))
    assert all(clear.encode() not in envelopes for clear in [enrolled.secret, *codes, *new_codes])

    # Disable: the password and a second factor, both right.
    bad = tf.DisableTwoFactorRequest(user_id=ada.id, password="wrong password", recovery_code=new_codes[1])
    await refused(stubs.two_factor.DisableTwoFactor(bad), grpc.StatusCode.INVALID_ARGUMENT)
    disabled = await stubs.two_factor.DisableTwoFactor(
        tf.DisableTwoFactorRequest(user_id=ada.id, password=PASSWORD, recovery_code=new_codes[1])
    )
    assert not disabled.status.enabled and not disabled.status.pending
    with engine.connect() as conn:
        cleared = conn.execute(
            sa.text(
                "SELECT two_factor_secret, two_factor_recovery_codes, two_factor_confirmed_at FROM users WHERE id = :id"
            ),
            {"id": ada.id},
        ).one()
    assert tuple(cleared) == (None, None, None)
    await login(stubs)  # type: ignore[misc]

    types = event_types(engine)
    assert [t for t in types if "two_factor" in t or "recovery" in t] == [
        "user.two_factor_enabled",
        "user.recovery_codes_regenerated",
        "user.two_factor_disabled",
    ]


async def test_wrong_codes_lock_the_address_like_wrong_passwords(
    stubs: Stubs, identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    ada = make_user(identity)
    totp, _ = await enable(stubs, ada.id, clock)
    clock.advance(STEP)
    wrong = f"{(int(totp.at(clock.now())) + 7) % 1_000_000:06d}"
    for wait in (0, 0, 1, 2, 0):
        await refused(login(stubs, totp_code=wrong), grpc.StatusCode.UNAUTHENTICATED)
        clock.advance(timedelta(seconds=wait))
    # The address is locked now: even the right code is not checked until the lockout ends.
    await refused(
        login(stubs, totp_code=totp.at(clock.now())), grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limit_exceeded: "
    )
    assert "user.locked" in event_types(engine)
    clock.advance(timedelta(minutes=15))
    await login(stubs, totp_code=totp.at(clock.now()))  # type: ignore[misc]


async def test_disabling_with_a_code_and_the_checks_of_wrong_requests(
    stubs: Stubs, identity: Identity, clock: ManualClock
) -> None:
    ada = make_user(identity)
    await refused(
        stubs.two_factor.ConfirmTwoFactor(tf.ConfirmTwoFactorRequest(user_id=ada.id, code="123456")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await refused(
        stubs.two_factor.RegenerateRecoveryCodes(tf.RegenerateRecoveryCodesRequest(user_id=ada.id, code="123456")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await refused(
        stubs.two_factor.GetTwoFactorStatus(tf.GetTwoFactorStatusRequest(user_id=999_999)), grpc.StatusCode.NOT_FOUND
    )
    totp, _ = await enable(stubs, ada.id, clock)
    clock.advance(STEP)
    both = tf.DisableTwoFactorRequest(user_id=ada.id, password=PASSWORD, code=totp.at(clock.now()))
    neither = tf.DisableTwoFactorRequest(user_id=ada.id, password=PASSWORD)
    await refused(stubs.two_factor.DisableTwoFactor(neither), grpc.StatusCode.INVALID_ARGUMENT)
    done = await stubs.two_factor.DisableTwoFactor(both)
    assert not done.status.enabled
    await refused(stubs.two_factor.DisableTwoFactor(both), grpc.StatusCode.FAILED_PRECONDITION)


async def test_without_a_data_encryption_key_the_two_factor_calls_answer_unavailable(identity: Identity) -> None:
    ada = make_user(identity)
    async for served in _serve(identity):
        await refused(
            served.two_factor.EnrolTwoFactor(tf.EnrolTwoFactorRequest(user_id=ada.id)),
            grpc.StatusCode.UNAVAILABLE,
            "unavailable: two-factor authentication is not configured",
        )


async def test_a_user_manages_only_its_own_two_factor_and_an_admin_anyones(
    identity: Identity, clock: ManualClock
) -> None:
    issuer = generate_private_key()
    keyed = Identity(identity.engine, secret_box=SecretBox(os.urandom(32)))
    ada, bob = make_user(identity), make_user(identity, "bob@example.com")
    root = make_user(identity, "root@example.com", UserRole.ADMIN)

    def as_user(user_id: int, role: str = "client") -> tuple[tuple[str, str], ...]:
        return ((PRINCIPAL_HEADER, sign(user_principal(user_id=user_id, role=role, organizations={}), issuer)),)

    async for served in _serve(keyed, TrustedKeys(issuer=issuer.public_key(), services={})):
        own = await served.two_factor.EnrolTwoFactor(tf.EnrolTwoFactorRequest(user_id=ada.id), metadata=as_user(ada.id))
        assert own.secret
        await refused(
            served.two_factor.EnrolTwoFactor(tf.EnrolTwoFactorRequest(user_id=bob.id), metadata=as_user(ada.id)),
            grpc.StatusCode.NOT_FOUND,
        )
        await refused(
            served.two_factor.GetTwoFactorStatus(
                tf.GetTwoFactorStatusRequest(user_id=bob.id), metadata=as_user(ada.id)
            ),
            grpc.StatusCode.NOT_FOUND,
        )
        anyone = await served.two_factor.GetTwoFactorStatus(
            tf.GetTwoFactorStatusRequest(user_id=ada.id), metadata=as_user(root.id, "admin")
        )
        assert anyone.status.pending


async def test_enabling_two_factor_ends_every_other_session(
    stubs: Stubs, identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    ada = make_user(identity)
    signing = Identity(identity.engine, generate_private_key())
    opened = [
        accounts.create_session(
            accounts.CreateSession(email="ada@example.com", password=PASSWORD, ip=LOGIN_IP),
            signing.signing_key,
            signing.uow,
        )[0]
        for _ in range(3)
    ]
    enrolled = await stubs.two_factor.EnrolTwoFactor(tf.EnrolTwoFactorRequest(user_id=ada.id))
    code = pyotp.TOTP(enrolled.secret).at(clock.now())
    await stubs.two_factor.ConfirmTwoFactor(
        tf.ConfirmTwoFactorRequest(user_id=ada.id, code=code, keep_session_id=opened[0].id)
    )
    # The sessions opened without the second factor end; the caller's own stays.
    assert [s.id for s in accounts.list_sessions(ada.id, identity.uow())] == [opened[0].id]
    assert event_types(engine).count("user.session_revoked") == 2
