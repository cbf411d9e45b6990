"""Identity's retention of the sign-in history on a controlled clock: attempts older than the
retention are deleted in batches (each its own transaction), every newer one is kept, and the
shared retention counts the rows removed; the operator's command runs the same retention."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from cpshared.errors import Unauthenticated
from cpshared.retention import ROWS_REMOVED, run_retention
from identity_service.bootstrap import Identity
from identity_service.config import RetentionSettings
from identity_service.domain import commands
from identity_service.domain.model import UserStatus
from identity_service.entrypoints.retention_keeper import login_activity_retention, sign_in_failures_retention
from identity_service.service_layer import logins, users
from identity_service.service_layer.retention import prune_login_activity
from tests.clocks import installed_clock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
INSERT_ATTEMPT = (
    "INSERT INTO login_activity (user_id, ip_address, success, created_at) VALUES (NULL, '192.0.2.1', 0, :at)"
)


def _attempts(engine: sa.Engine) -> list[datetime]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT created_at FROM login_activity ORDER BY created_at")).scalars())


def _sign_in(identity: Identity, email: str, password: str) -> None:
    with contextlib.suppress(Unauthenticated):
        logins.login(commands.Login(email=email, password=password, ip="192.0.2.7", user_agent="test"), identity.uow())


def test_attempts_older_than_the_retention_are_deleted_and_newer_ones_kept(identity: Identity) -> None:
    with installed_clock(START) as clock:
        users.create_user(
            commands.CreateUser(
                name="Ann", email="ann@example.com", password="a long password", status=UserStatus.ACTIVE
            ),
            identity.uow(),
        )
        for _ in range(10):  # one good and one wrong attempt every ten days, 1 Jan to 11 April
            _sign_in(identity, "ann@example.com", "a long password")
            _sign_in(identity, "ann@example.com", "not the password")
            clock.advance(timedelta(days=10))
        assert len(_attempts(identity.engine)) == 20
        # Now 2026-04-11 09:00: kept from 2026-01-11 09:00, so 1 January's two attempts go.
        assert clock.now() == START + timedelta(days=100)
        before = ROWS_REMOVED.labels("identity", "login_activity")._value.get()
        removed = run_retention(identity.engine, login_activity_retention(identity, RetentionSettings()))
    assert removed == 2
    assert ROWS_REMOVED.labels("identity", "login_activity")._value.get() - before == 2
    kept = _attempts(identity.engine)
    assert len(kept) == 18 and min(kept) == (START + timedelta(days=10)).replace(tzinfo=None)


def test_a_long_history_goes_in_batches(identity: Identity) -> None:
    with identity.engine.begin() as conn:
        conn.execute(
            sa.text(INSERT_ATTEMPT),
            [{"at": (START - timedelta(days=200, minutes=n)).replace(tzinfo=None)} for n in range(25)],
        )
    assert prune_login_activity(START, 90, identity.uow, batch=10) == 25
    assert _attempts(identity.engine) == []


def test_the_operators_command_deletes_what_is_too_old(identity: Identity, identity_url: str) -> None:
    with identity.engine.begin() as conn:
        conn.execute(
            sa.text(INSERT_ATTEMPT),
            [{"at": datetime(2000, 1, 1)}, {"at": datetime(2999, 1, 1)}],
        )
    env = os.environ | {"CP_DATABASE_URL": identity_url, "CP_LOGIN_ACTIVITY_RETENTION_DAYS": "90"}
    done = subprocess.run(
        [sys.executable, "-m", "identity_service.entrypoints.cli", "retention"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"table": "login_activity", "rows_removed": 1, "kept_days": 90}
    assert _attempts(identity.engine) == [datetime(2999, 1, 1)]


def test_failure_counts_are_forgotten_a_day_after_their_last_wait(identity: Identity) -> None:
    with installed_clock(START) as clock:
        _sign_in(identity, "old@example.com", "not the password")
        clock.advance(timedelta(hours=23))
        _sign_in(identity, "new@example.com", "not the password")
        clock.advance(timedelta(hours=2))
        # Now: the first count's last wait ended 25 h ago, the second's 2 h ago.
        removed = run_retention(identity.engine, sign_in_failures_retention(identity))
    assert removed == 1
    with identity.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM sign_in_failures")).scalar_one() == 1
