"""Sign-in and lockout in the service layer, on in-memory fakes of identity's ports: every
attempt recorded, the lockout counted and lifted, the events committed before the refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from google.protobuf.message import Message

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import ManualClock, set_clock
from cpshared.errors import Forbidden, Unauthenticated
from identity_service.domain import commands
from identity_service.domain.model import (
    LOGIN_LOCKOUT_MINUTES_SETTING,
    LOGIN_MAX_FAILURES_SETTING,
    LoginFailure,
    SettingType,
    UserRole,
    UserStatus,
)
from identity_service.service_layer import logins
from tests.unit.identity.fakes import FakePasswordHasher, FakeUnitOfWork

M = TypeVar("M", bound=Message)
START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
EMAIL, PASSWORD, IP = "ada@example.com", "correct horse battery staple", "203.0.113.10"
POLICY = {
    LOGIN_MAX_FAILURES_SETTING: (SettingType.INTEGER, "3"),
    LOGIN_LOCKOUT_MINUTES_SETTING: (SettingType.INTEGER, "10"),
}


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


@pytest.fixture(scope="module")
def password_hash() -> str:
    return FakePasswordHasher().hash(PASSWORD)


def uow_with_ada(password_hash: str, status: UserStatus = UserStatus.ACTIVE) -> tuple[FakeUnitOfWork, int]:
    uow = FakeUnitOfWork(POLICY)
    user_id = uow.users.add("Ada", EMAIL, password_hash, UserRole.CLIENT, status, START).id
    return uow, user_id


def attempt(uow: FakeUnitOfWork, password: str, email: str = EMAIL) -> None:
    logins.login(commands.Login(email, password, IP, "pytest/1.0"), uow)


def payload(uow: FakeUnitOfWork, index: int, kind: type[M]) -> M:
    message = kind()
    assert uow.committed[index].envelope.payload.Unpack(message)
    return message


def test_a_wrong_password_is_refused_counted_and_committed_before_the_refusal(
    clock: ManualClock, password_hash: str
) -> None:
    uow, ada = uow_with_ada(password_hash)

    with pytest.raises(Unauthenticated, match="the email or the password is wrong"):
        attempt(uow, "wrong password")

    assert uow.commits == 1
    assert uow.committed_types() == ["user.login_failed"]
    failed = payload(uow, 0, ev.UserLoginFailed)
    assert (failed.user_id, failed.reason, failed.failed_logins, failed.ip) == (ada, "wrong_password", 1, IP)
    assert uow.committed[0].envelope.aggregate_version == 2
    user = uow.users.rows[ada]
    assert (user.failed_logins, user.locked_until, user.version) == (1, None, 2)
    assert [(a.user_id, a.failure_reason) for a in uow.login_activity.attempts] == [(ada, LoginFailure.WRONG_PASSWORD)]


def test_an_unknown_email_is_recorded_without_a_user_or_an_event(clock: ManualClock, password_hash: str) -> None:
    uow, _ = uow_with_ada(password_hash)

    with pytest.raises(Unauthenticated, match="the email or the password is wrong"):
        attempt(uow, PASSWORD, email="nobody@example.com")

    assert uow.committed == []
    assert [(a.user_id, a.failure_reason) for a in uow.login_activity.attempts] == [(None, LoginFailure.UNKNOWN_EMAIL)]


def test_the_wrong_password_that_reaches_the_limit_locks_the_account_for_the_policy_time(
    clock: ManualClock, password_hash: str
) -> None:
    uow, ada = uow_with_ada(password_hash)

    for _ in range(3):
        with pytest.raises(Unauthenticated):
            attempt(uow, "wrong password")

    assert uow.committed_types() == ["user.login_failed"] * 3 + ["user.locked"]
    locked = payload(uow, 3, ev.UserLocked)
    assert (locked.user_id, locked.reason, locked.failed_logins) == (ada, "too_many_failed_logins", 3)
    assert locked.locked_until.ToDatetime(tzinfo=UTC) == START + timedelta(minutes=10)
    assert [e.envelope.aggregate_version for e in uow.committed] == [2, 3, 4, 5]
    user = uow.users.rows[ada]
    assert (user.failed_logins, user.locked_until, user.version) == (0, START + timedelta(minutes=10), 5)


def test_a_locked_account_refuses_even_the_right_password_until_the_lock_ends(
    clock: ManualClock, password_hash: str
) -> None:
    uow, ada = uow_with_ada(password_hash)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            attempt(uow, "wrong password")

    clock.advance(timedelta(minutes=9, seconds=59))
    with pytest.raises(Forbidden, match="locked until 2026-05-01 09:10 UTC"):
        attempt(uow, PASSWORD)
    assert uow.login_activity.attempts[-1].failure_reason is LoginFailure.LOCKED
    assert payload(uow, -1, ev.UserLoginFailed).reason == "locked"

    clock.advance(timedelta(seconds=1))
    signed_in = logins.login(commands.Login(EMAIL, PASSWORD, IP, "pytest/1.0"), uow)

    assert (signed_in.id, signed_in.failed_logins, signed_in.locked_until, signed_in.password_hash) == (
        ada,
        0,
        None,
        None,
    )
    assert uow.committed_types()[-1] == "user.login_succeeded"
    assert payload(uow, -1, ev.UserLoginSucceeded).user_id == ada
    assert uow.users.rows[ada].last_login_at == clock.now()


def test_a_success_starts_the_count_afresh(clock: ManualClock, password_hash: str) -> None:
    uow, ada = uow_with_ada(password_hash)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            attempt(uow, "wrong password")

    attempt(uow, PASSWORD)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            attempt(uow, "wrong password")

    assert uow.users.rows[ada].failed_logins == 2
    assert uow.users.rows[ada].locked_until is None
    assert "user.locked" not in uow.committed_types()


def test_a_pending_account_with_the_right_password_is_told_to_verify_and_not_counted(
    clock: ManualClock, password_hash: str
) -> None:
    uow, ada = uow_with_ada(password_hash, UserStatus.PENDING)

    for _ in range(4):
        with pytest.raises(Forbidden, match="not verified yet"):
            attempt(uow, PASSWORD)

    assert uow.users.rows[ada].failed_logins == 0
    assert uow.users.rows[ada].locked_until is None
    assert {a.failure_reason for a in uow.login_activity.attempts} == {LoginFailure.PENDING}


@pytest.mark.parametrize("stored", ["0", "-3", "many"])
def test_an_unusable_lockout_setting_falls_back_to_the_default_policy(stored: str) -> None:
    kind = SettingType.INTEGER if stored != "many" else SettingType.STRING
    uow = FakeUnitOfWork({LOGIN_MAX_FAILURES_SETTING: (kind, stored), LOGIN_LOCKOUT_MINUTES_SETTING: (kind, stored)})

    policy = logins.lockout_policy(uow)

    assert (policy.max_failures, policy.lockout) == (5, timedelta(minutes=15))


def test_an_unknown_email_still_pays_for_one_password_check(clock: ManualClock, password_hash: str) -> None:
    uow, _ = uow_with_ada(password_hash)

    with pytest.raises(Unauthenticated):
        attempt(uow, PASSWORD, email="nobody@example.com")

    # Checked against no hash: as slow as a wrong password, so the time tells no address.
    assert uow.passwords.checked == [None]
