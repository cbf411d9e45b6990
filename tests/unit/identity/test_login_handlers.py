"""Sign-in and lockout in the service layer, on in-memory fakes of identity's ports: every
attempt recorded, failures counted per (email, address) with a growing wait, the lock of an
address lifted, the owner never locked out from elsewhere, the events committed before the refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from google.protobuf.message import Message

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import ManualClock, set_clock
from cpshared.errors import Forbidden, RateLimited, Unauthenticated
from identity_service.domain import commands
from identity_service.domain.model import (
    LOGIN_LOCKOUT_MINUTES_SETTING,
    LOGIN_MAX_FAILURES_SETTING,
    LoginFailure,
    SettingType,
    UserRole,
    UserStatus,
)
from identity_service.service_layer import credential_failures, logins
from tests.unit.identity.fakes import FakePasswordHasher, FakeUnitOfWork

M = TypeVar("M", bound=Message)
START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
EMAIL, PASSWORD, IP = "ada@example.com", "correct horse battery staple", "203.0.113.10"
OTHER_IP = "198.51.100.20"
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


def attempt(uow: FakeUnitOfWork, password: str, email: str = EMAIL, ip: str = IP) -> None:
    logins.login(commands.Login(email, password, ip, "pytest/1.0"), uow)


def fail_until_locked(uow: FakeUnitOfWork, clock: ManualClock, times: int = 3) -> None:
    """``times`` wrong passwords from IP, each after the wait the previous one brought."""
    for _ in range(times):
        with pytest.raises(Unauthenticated):
            attempt(uow, "wrong password")
        wait = uow.login_activity.failures(next(iter(uow.login_activity.pairs))[0], IP).retry_after(clock.now())
        if _ < times - 1:
            clock.advance(timedelta(seconds=wait or 0))


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
    assert [(a.user_id, a.failure_reason) for a in uow.login_activity.attempts] == [(ada, LoginFailure.WRONG_PASSWORD)]
    (counted,) = uow.login_activity.pairs.values()
    assert (counted.ip, counted.failures, counted.blocked_until) == (IP, 1, START)


def test_an_unknown_email_is_recorded_without_a_user_or_an_event_and_counted_like_a_known_one(
    clock: ManualClock, password_hash: str
) -> None:
    uow = FakeUnitOfWork({**POLICY, LOGIN_MAX_FAILURES_SETTING: (SettingType.INTEGER, "5")})
    uow.users.add("Ada", EMAIL, password_hash, UserRole.CLIENT, UserStatus.ACTIVE, START)

    refusals = {}
    for email, password in (("nobody@example.com", PASSWORD), (EMAIL, "wrong password")):
        for _ in range(3):
            with pytest.raises(Unauthenticated, match="the email or the password is wrong"):
                attempt(uow, password, email=email)
        with pytest.raises(RateLimited) as waiting:
            attempt(uow, PASSWORD, email=email)
        refusals[email] = (waiting.value.message, waiting.value.retry_after)

    # The same waits and answers: the throttle tells nobody which emails have an account.
    assert refusals["nobody@example.com"] == refusals[EMAIL]
    assert refusals[EMAIL][1] == 1
    assert uow.committed_types() == ["user.login_failed"] * 4
    assert [(a.user_id, a.failure_reason) for a in uow.login_activity.attempts][:4] == [
        (None, LoginFailure.UNKNOWN_EMAIL),
    ] * 3 + [(None, LoginFailure.LOCKED)]


def test_each_failure_of_an_address_waits_longer_and_the_limit_locks_that_address_only(
    clock: ManualClock, password_hash: str
) -> None:
    uow, ada = uow_with_ada(password_hash)

    fail_until_locked(uow, clock)

    assert uow.committed_types() == ["user.login_failed"] * 3 + ["user.locked"]
    locked = payload(uow, 3, ev.UserLocked)
    assert (locked.user_id, locked.reason, locked.failed_logins, locked.ip) == (ada, "too_many_failed_logins", 3, IP)
    assert locked.locked_until.ToDatetime(tzinfo=UTC) == clock.now() + timedelta(minutes=10)
    user = uow.users.rows[ada]
    assert (user.failed_logins, user.locked_until) == (0, None)
    # The right password from the locked address is not even checked...
    checked = len(uow.passwords.checked)
    with pytest.raises(RateLimited) as refused:
        attempt(uow, PASSWORD)
    assert refused.value.retry_after == 600 and len(uow.passwords.checked) == checked
    assert uow.login_activity.attempts[-1].failure_reason is LoginFailure.LOCKED
    # ...while the owner signs in from another address at once.
    signed_in = logins.login(commands.Login(EMAIL, PASSWORD, OTHER_IP, "pytest/1.0"), uow)
    assert signed_in.id == ada and uow.committed_types()[-1] == "user.login_succeeded"


def test_a_locked_address_may_sign_in_again_once_the_lock_ends(clock: ManualClock, password_hash: str) -> None:
    uow, ada = uow_with_ada(password_hash)
    fail_until_locked(uow, clock)

    clock.advance(timedelta(minutes=9, seconds=59))
    with pytest.raises(RateLimited, match="retry after 1 s"):
        attempt(uow, PASSWORD)
    assert payload(uow, -1, ev.UserLoginFailed).reason == "locked"

    clock.advance(timedelta(seconds=1))
    signed_in = logins.login(commands.Login(EMAIL, PASSWORD, IP, "pytest/1.0"), uow)

    assert (signed_in.id, signed_in.password_hash) == (ada, None)
    assert uow.committed_types()[-1] == "user.login_succeeded"
    assert payload(uow, -1, ev.UserLoginSucceeded).user_id == ada
    assert uow.users.rows[ada].last_login_at == clock.now()
    assert uow.login_activity.pairs == {}


def test_a_success_starts_the_count_of_its_address_afresh(clock: ManualClock, password_hash: str) -> None:
    uow, _ = uow_with_ada(password_hash)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            attempt(uow, "wrong password")

    attempt(uow, PASSWORD)
    with pytest.raises(Unauthenticated):
        attempt(uow, "wrong password")

    assert [p.failures for p in uow.login_activity.pairs.values()] == [1]
    assert "user.locked" not in uow.committed_types()


def test_a_pending_account_with_the_right_password_is_told_to_verify_and_not_counted(
    clock: ManualClock, password_hash: str
) -> None:
    uow, _ = uow_with_ada(password_hash, UserStatus.PENDING)

    for _ in range(4):
        with pytest.raises(Forbidden, match="not verified yet"):
            attempt(uow, PASSWORD)

    assert uow.login_activity.pairs == {}
    assert {a.failure_reason for a in uow.login_activity.attempts} == {LoginFailure.PENDING}


@pytest.mark.parametrize("stored", ["0", "-3", "many"])
def test_an_unusable_lockout_setting_falls_back_to_the_default_policy(stored: str) -> None:
    kind = SettingType.INTEGER if stored != "many" else SettingType.STRING
    uow = FakeUnitOfWork({LOGIN_MAX_FAILURES_SETTING: (kind, stored), LOGIN_LOCKOUT_MINUTES_SETTING: (kind, stored)})

    policy = credential_failures.lockout_policy(uow)

    assert (policy.max_failures, policy.lockout) == (5, timedelta(minutes=15))


def test_an_unknown_email_still_pays_for_one_password_check(clock: ManualClock, password_hash: str) -> None:
    uow, _ = uow_with_ada(password_hash)

    with pytest.raises(Unauthenticated):
        attempt(uow, PASSWORD, email="nobody@example.com")

    # Checked against no hash: as slow as a wrong password, so the time tells no address.
    assert uow.passwords.checked == [None]
