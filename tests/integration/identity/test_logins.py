"""Sign-in on the real MariaDB: a login_activity row per attempt, failures counted per (email,
address) with a growing wait and a lock of that address only, refused statuses."""

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
from cpshared.errors import Forbidden, InvalidInput, NotFound, RateLimited, Unauthenticated
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import LoginFailure, User, UserStatus
from identity_service.service_layer import logins, settings, users
from tests.integration.identity.support import PASSWORD, event_types, make_user, outbox_events

M = TypeVar("M", bound=Message)
IP = "203.0.113.10"
OWNER_IP = "198.51.100.23"
START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def login(identity: Identity, password: str = PASSWORD, email: str = "ada@example.com", ip: str = IP) -> User:
    return logins.login(commands.Login(email, password, ip, "pytest/1.0"), identity.uow())


def guess(identity: Identity, clock: ManualClock, times: int) -> None:
    """``times`` wrong passwords from IP, each once the wait the previous one brought is over."""
    for _ in range(times):
        try:
            login(identity, "wrong password")
        except Unauthenticated:
            pass
        else:  # pragma: no cover - a wrong password never signs in
            raise AssertionError("signed in with a wrong password")
        waits = pair_rows(identity.engine)
        blocked_until = max((until for _, _, until in waits if until is not None), default=None)
        if blocked_until is not None and blocked_until.replace(tzinfo=UTC) > clock.now() and _ < times - 1:
            clock.advance(blocked_until.replace(tzinfo=UTC) - clock.now())


def pair_rows(engine: sa.Engine) -> list[tuple[str, int, datetime | None]]:
    """(address, failures, blocked until) of every (email, address) pair with failures."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT ip_address, failures, blocked_until FROM sign_in_failures WHERE failures > 0")
        ).all()
    return [(str(r[0]), int(r[1]), r[2]) for r in rows]


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


def test_five_wrong_passwords_lock_the_address_for_fifteen_minutes_while_the_owner_signs_in_elsewhere(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    user = make_user(identity)
    guess(identity, clock, 5)
    locked_at = clock.now()
    ((ip, failures, blocked_until),) = pair_rows(engine)
    assert (ip, failures, blocked_until) == (IP, 5, (locked_at + timedelta(minutes=15)).replace(tzinfo=None))
    assert event_types(engine)[-2:] == ["user.login_failed", "user.locked"]
    locked = last_payload(engine, ev.UserLocked)
    assert (locked.user_id, locked.failed_logins, locked.reason, locked.ip) == (
        user.id,
        5,
        "too_many_failed_logins",
        IP,
    )
    # The account itself is not locked.
    assert (user_row(engine, user.id).failed_logins, user_row(engine, user.id).locked_until) == (0, None)

    clock.advance(timedelta(minutes=14))
    with pytest.raises(RateLimited, match="retry after 60 s"):
        login(identity)  # even the right password, from the guessing address
    assert activity(engine)[-1] == (user.id, False, "locked")
    assert login(identity, ip=OWNER_IP).id == user.id  # the owner, from elsewhere

    clock.advance(timedelta(minutes=1))
    assert login(identity).id == user.id
    assert pair_rows(engine) == []
    reasons = [r for _, _, r in activity(engine)]
    assert reasons == [LoginFailure.WRONG_PASSWORD.value] * 5 + ["locked", None, None]


def test_a_hundred_wrong_passwords_from_one_address_then_the_owner_signs_in_from_another_at_once(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    """An attacker hammering one account from one address gets few guesses checked and never
    locks the owner out: identity's half of the abuse test (the gateway's is test_credential_abuse)."""
    user = make_user(identity)
    answers: dict[str, int] = {}
    for n in range(100):
        try:
            login(identity, f"guess number {n}")
        except (Unauthenticated, RateLimited) as refused:
            answers[type(refused).__name__] = answers.get(type(refused).__name__, 0) + 1
    # Two free mistakes and one that brought the first wait: 3 passwords checked, 97 refused unchecked.
    assert answers == {"Unauthenticated": 3, "RateLimited": 97}
    assert login(identity, ip=OWNER_IP).id == user.id
    with pytest.raises(RateLimited):
        login(identity)  # the right password from the attacker's address is still not checked


def test_a_success_resets_the_count_of_wrong_passwords(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    user = make_user(identity)
    for _ in range(2):
        guess(identity, clock, 4)
        clock.advance(timedelta(seconds=2))
        login(identity)
        assert pair_rows(engine) == []
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
    with pytest.raises(RateLimited, match="retry after 60 s"):
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


def test_ten_concurrent_wrong_passwords_of_one_address_queue_and_only_three_are_checked(
    identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    make_user(identity)

    def attempt(_: int) -> str:
        try:
            login(identity, "wrong password")
        except (Unauthenticated, RateLimited) as refused:
            return type(refused).__name__
        return "signed in"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(attempt, range(10)))
    # The pair's row is locked per attempt: each sees the count the previous one committed.
    assert sorted(outcomes) == ["RateLimited"] * 7 + ["Unauthenticated"] * 3
    assert sorted(r or "" for _, _, r in activity(engine)) == ["locked"] * 7 + ["wrong_password"] * 3
    assert [(ip, failures) for ip, failures, _ in pair_rows(engine)] == [(IP, 3)]
