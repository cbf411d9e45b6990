"""The user aggregate's sign-in rules: it counts, locks, bumps its version and records its events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from identity_service.domain.events import Locked, LoginFailed, LoginSucceeded, Recorded
from identity_service.domain.model import (
    LockoutPolicy,
    LoginFailure,
    SignInFailures,
    User,
    UserRole,
    UserStatus,
    sign_in_subject,
)

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=2, lockout=timedelta(minutes=10))
IP = "198.51.100.7"


def ada(failed_logins: int = 0, locked_until: datetime | None = None) -> User:
    return User(
        7,
        "Ada",
        "ada@example.com",
        UserRole.CLIENT,
        UserStatus.ACTIVE,
        NOW,
        version=3,
        failed_logins=failed_logins,
        locked_until=locked_until,
    )


def pair(failures: int = 0, blocked_until: datetime | None = None) -> SignInFailures:
    return SignInFailures(sign_in_subject("ada@example.com"), IP, failures, NOW, blocked_until)


def test_a_wrong_password_bumps_the_version_and_records_the_refusal_with_the_pairs_count() -> None:
    user = ada()

    user.sign_in_refused(11, IP, LoginFailure.WRONG_PASSWORD, POLICY, pair().failed(POLICY, NOW))

    # The account itself is never locked: the (account, address) pair is.
    assert (user.failed_logins, user.locked_until, user.version) == (0, None, 4)
    assert user.events == [Recorded(4, LoginFailed(7, 11, IP, "wrong_password", 1))]


def test_the_refusal_that_locks_the_pair_records_the_lock_after_the_refusal() -> None:
    user = ada()

    user.sign_in_refused(12, IP, LoginFailure.WRONG_TWO_FACTOR_CODE, POLICY, pair(1).failed(POLICY, NOW))

    until = NOW + timedelta(minutes=10)
    assert (user.failed_logins, user.locked_until, user.version) == (0, None, 5)
    assert user.events == [
        Recorded(4, LoginFailed(7, 12, IP, "wrong_two_factor_code", 2)),
        Recorded(5, Locked(7, IP, "too_many_failed_logins", 2, until)),
    ]


def test_refusals_that_are_not_guesses_record_the_count_as_it_is() -> None:
    blocked_until = NOW + timedelta(minutes=3)
    for reason in (LoginFailure.LOCKED, LoginFailure.PENDING, LoginFailure.TWO_FACTOR_REQUIRED):
        user = ada()

        user.sign_in_refused(13, IP, reason, POLICY, pair(2, blocked_until))

        assert user.version == 4
        assert user.events == [Recorded(4, LoginFailed(7, 13, IP, reason.value, 2))]


def test_a_sign_in_starts_the_count_afresh_and_the_events_are_collected_once() -> None:
    user = ada(failed_logins=1)

    user.signed_in(14, IP, NOW)

    assert (user.failed_logins, user.locked_until, user.last_login_at, user.version) == (0, None, NOW, 4)
    assert user.pop_events() == [Recorded(4, LoginSucceeded(7, 14, IP))]
    assert user.pop_events() == []
    assert replace(user).events == []
