"""Sign-in on the real MariaDB: a login_activity row per attempt, lockout, refused statuses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import bcrypt
import pytest
import sqlalchemy as sa
from google.protobuf.message import Message

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import ManualClock, set_clock
from cpshared.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import LoginFailure, User, UserStatus
from identity_service.service_layer import logins, settings, users
from tests.integration.identity.support import PASSWORD, event_types, make_user, outbox_events

M = TypeVar("M", bound=Message)
IP = "203.0.113.10"
START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def login(identity: Identity, password: str = PASSWORD, email: str = "ada@example.com") -> User:
    return logins.login(commands.Login(email, password, IP, "pytest/1.0"), identity.uow())


def last_payload(engine: sa.Engine, kind: type[M]) -> M:
    payload = outbox_events(engine)[-1].payload
    assert isinstance(payload, kind)
    return payload


def activity(engine: sa.Engine) -> list[tuple[int | None, bool, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT user_id, success, failure_reason FROM login_activity ORDER BY id")).all()
    return [(r[0], bool(r[1]), r[2]) for r in rows]


def user_row(engine: sa.Engine, user_id: int) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT last_login_at, last_login_ip, failed_logins, locked_until FROM users WHERE id = :id"),
            {"id": user_id},
        ).one()


def test_a_successful_login_is_recorded_with_its_time_and_ip_and_an_event(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    user = make_user(identity)
    signed_in = login(identity)
    assert signed_in.id == user.id and signed_in.password_hash is None
    assert activity(engine) == [(user.id, True, None)]
    row = user_row(engine, user.id)
    assert (row.last_login_at, row.last_login_ip, row.failed_logins) == (START.replace(tzinfo=None), IP, 0)
    event = outbox_events(engine)[-1]
    assert event.event_type == "user.login_succeeded" and event.envelope.aggregate_version == 2
    succeeded = last_payload(engine, ev.UserLoginSucceeded)
    assert succeeded.user_id == user.id and succeeded.ip == IP
    assert PASSWORD not in str(event.envelope)


def test_unknown_emails_and_wrong_passwords_fail_alike_and_each_attempt_is_a_row(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    user = make_user(identity)
    for email, password in (("nobody@example.com", PASSWORD), ("not an email", PASSWORD), ("ada@example.com", "x")):
        with pytest.raises(Unauthenticated, match=r"^the email or the password is wrong$"):
            login(identity, password, email)
    assert activity(engine) == [
        (None, False, "unknown_email"),
        (None, False, "unknown_email"),
        (user.id, False, "wrong_password"),
    ]
    # An unknown email has no aggregate to speak of: login_activity only, no event.
    assert event_types(engine) == ["user.created", "user.login_failed"]
    failed = last_payload(engine, ev.UserLoginFailed)
    assert failed == ev.UserLoginFailed(
        user_id=user.id, login_activity_id=failed.login_activity_id, ip=IP, reason="wrong_password", failed_logins=1
    )


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes_then_it_opens_again(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    user = make_user(identity)
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            login(identity, "wrong password")
    assert user_row(engine, user.id).locked_until == (START + timedelta(minutes=15)).replace(tzinfo=None)
    assert event_types(engine)[-2:] == ["user.login_failed", "user.locked"]
    locked = last_payload(engine, ev.UserLocked)
    assert (locked.user_id, locked.failed_logins, locked.reason) == (user.id, 5, "too_many_failed_logins")

    clock.advance(timedelta(minutes=14))
    with pytest.raises(Forbidden, match="locked until 2026-05-01 09:15 UTC"):
        login(identity)  # even the right password
    assert activity(engine)[-1] == (user.id, False, "locked")

    clock.advance(timedelta(minutes=1))
    assert login(identity).id == user.id
    row = user_row(engine, user.id)
    assert (row.failed_logins, row.locked_until) == (0, None)
    reasons = [r for _, _, r in activity(engine)]
    assert reasons == [LoginFailure.WRONG_PASSWORD.value] * 5 + ["locked", None]


def test_a_success_resets_the_count_of_wrong_passwords(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    user = make_user(identity)
    for _ in range(2):
        for _ in range(4):
            with pytest.raises(Unauthenticated):
                login(identity, "wrong password")
        login(identity)
    row = user_row(engine, user.id)
    assert (row.failed_logins, row.locked_until) == (0, None)
    assert "user.locked" not in event_types(engine)


def test_the_lockout_policy_is_read_from_the_system_settings(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    make_user(identity)
    settings.set_setting(commands.SetSetting("login_max_failures", 2), identity.uow())
    settings.set_setting(commands.SetSetting("login_lockout_minutes", 1), identity.uow())
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            login(identity, "wrong password")
    with pytest.raises(Forbidden):
        login(identity)
    clock.advance(timedelta(minutes=1))
    login(identity)


@pytest.mark.parametrize("status", [UserStatus.SUSPENDED, UserStatus.BANNED, UserStatus.PENDING])
def test_suspended_banned_and_pending_accounts_are_refused_with_the_right_password_only(
    identity: Identity, engine: sa.Engine, clock: ManualClock, status: UserStatus
) -> None:
    user = users.create_user(commands.CreateUser("Ada", "ada@example.com", PASSWORD, status=status), identity.uow())
    with pytest.raises(Unauthenticated):
        login(identity, "wrong password")
    told = "the email address is not verified yet" if status is UserStatus.PENDING else f"the account is {status.value}"
    with pytest.raises(Forbidden, match=told):
        login(identity)
    assert activity(engine) == [(user.id, False, "wrong_password"), (user.id, False, status.value)]
    assert user_row(engine, user.id).last_login_at is None
    assert last_payload(engine, ev.UserLoginFailed).reason == status.value


def test_a_legacy_bcrypt_password_signs_in_and_is_rehashed(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    user = make_user(identity)
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET password = :p WHERE id = :id"), {"p": legacy, "id": user.id})
    login(identity)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password FROM users WHERE id = :id"), {"id": user.id}).scalar_one()
    assert stored.startswith("$argon2id$")


def test_an_attempt_without_a_valid_ip_is_refused_and_not_recorded(identity: Identity, engine: sa.Engine) -> None:
    make_user(identity)
    with pytest.raises(InvalidInput, match="IPv4 or IPv6"):
        logins.login(commands.Login("ada@example.com", PASSWORD, "somewhere"), identity.uow())
    assert activity(engine) == []


def test_login_activity_is_listed_newest_first_a_page_at_a_time(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    user = make_user(identity)
    make_user(identity, email="other@example.com")
    for password in ("wrong password", PASSWORD, "wrong password"):
        clock.advance(timedelta(seconds=1))
        with contextlib.suppress(Unauthenticated):
            login(identity, password)
    login(identity, PASSWORD, "other@example.com")

    first, page, per_page, total = logins.list_login_activity(user.id, 0, 2, identity.uow())
    second, *_ = logins.list_login_activity(user.id, 2, 2, identity.uow())
    assert (page, per_page, total) == (1, 2, 3)
    assert [a.success for a in first + second] == [False, True, False]
    assert first[0].created_at > first[1].created_at > second[0].created_at
    assert first[0].user_agent == "pytest/1.0" and first[0].failure_reason is LoginFailure.WRONG_PASSWORD
    with pytest.raises(InvalidInput):
        logins.list_login_activity(user.id, 1, 51, identity.uow())
    with pytest.raises(NotFound):
        logins.list_login_activity(999_999, 1, 10, identity.uow())


def test_ten_concurrent_wrong_passwords_count_five_and_lock_once(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    make_user(identity)

    def attempt(_: int) -> str:
        try:
            login(identity, "wrong password")
        except (Unauthenticated, Forbidden) as refused:
            return type(refused).__name__
        return "signed in"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(attempt, range(10)))
    assert sorted(outcomes) == ["Forbidden"] * 5 + ["Unauthenticated"] * 5
    assert sorted(r or "" for _, _, r in activity(engine)) == ["locked"] * 5 + ["wrong_password"] * 5
    assert event_types(engine).count("user.locked") == 1
