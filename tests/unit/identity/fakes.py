"""In-memory fakes of identity's ports: the service layer runs on them with no database.

They keep what a test looks at (users, sign-in attempts, settings, the events committed) and
model the one transactional rule the use cases rely on: events reach the outbox only through
a commit, and a rollback drops the ones not committed yet.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Self

from cpshared.events.envelope import PendingEvent
from identity_service.domain.model import (
    LoginAttempt,
    LoginFailure,
    Setting,
    SettingType,
    User,
    UserRole,
    UserStatus,
)
from identity_service.domain.two_factor import TwoFactor
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


class FakeUserRepository:
    def __init__(self) -> None:
        self.rows: dict[int, User] = {}
        self.seen: list[User] = []

    def add(self, name: str, email: str, password_hash: str, role: UserRole, status: UserStatus, now: datetime) -> int:
        user_id = len(self.rows) + 1
        self.rows[user_id] = User(user_id, name, email, role, status, now, password_hash=password_hash)
        return user_id

    def get(self, user_id: int) -> User | None:
        found = self.rows.get(user_id)
        return None if found is None else replace(found)

    def by_email(self, email: str, *, for_update: bool = False) -> User | None:
        """A copy, as a database read gives: the aggregate changes only through save_login."""
        found = next((u for u in self.rows.values() if u.email == email), None)
        return None if found is None else replace(found)

    def save_login(self, user: User, now: datetime, *, succeeded_from: str | None, password_hash: str | None) -> None:
        self.seen.append(user)
        stored = self.rows[user.id]
        self.rows[user.id] = replace(
            stored,
            version=user.version,
            failed_logins=user.failed_logins,
            locked_until=user.locked_until,
            last_login_at=now if succeeded_from is not None else stored.last_login_at,
            password_hash=password_hash or stored.password_hash,
        )

    def set_password_hash(self, user_id: int, password_hash: str, now: datetime) -> None:
        self.rows[user_id] = replace(self.rows[user_id], password_hash=password_hash)

    def admin_exists(self) -> bool:
        return any(u.role is UserRole.ADMIN for u in self.rows.values())


class FakeLoginActivityRepository:
    def __init__(self) -> None:
        self.attempts: list[LoginAttempt] = []

    def add(
        self, user_id: int | None, ip_address: str, user_agent: str, failure: LoginFailure | None, now: datetime
    ) -> LoginAttempt:
        attempt = LoginAttempt(len(self.attempts) + 1, user_id, ip_address, user_agent, failure is None, failure, now)
        self.attempts.append(attempt)
        return attempt

    def of_user(self, user_id: int, *, offset: int, limit: int) -> tuple[list[LoginAttempt], int]:
        mine = [a for a in reversed(self.attempts) if a.user_id == user_id]
        return mine[offset : offset + limit], len(mine)


class FakeSettingRepository:
    def __init__(self, values: dict[str, tuple[SettingType, str]]) -> None:
        self.rows = {key: Setting(key, kind, text, "", 1, None) for key, (kind, text) in values.items()}

    def get(self, key: str, *, for_update: bool = False) -> Setting | None:
        return self.rows.get(key)

    def update(self, setting: Setting) -> None:
        self.rows[setting.key] = setting


class FakeTwoFactorRepository:
    """Nobody has two-factor authentication on: the sign-ins here are password ones."""

    def get(self, user_id: int, *, for_update: bool = False) -> tuple[TwoFactor, int, str] | None:
        return None

    def save(self, user_id: int, state: TwoFactor, now: datetime, *, version: int | None = None) -> None:
        raise AssertionError("no two-factor state changes in a password sign-in")


class FakeUnitOfWork(IdentityUnitOfWork):
    users: FakeUserRepository
    login_activity: FakeLoginActivityRepository
    settings: FakeSettingRepository
    two_factor: FakeTwoFactorRepository

    def __init__(self, settings: dict[str, tuple[SettingType, str]] | None = None) -> None:
        self.users = FakeUserRepository()
        self.login_activity = FakeLoginActivityRepository()
        self.settings = FakeSettingRepository(settings or {})
        self.two_factor = FakeTwoFactorRepository()
        self.secret_box = None
        self.pending: list[PendingEvent] = []
        self.committed: list[PendingEvent] = []
        self.commits = 0

    def __enter__(self) -> Self:
        self.pending = []
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    def record(self, event: PendingEvent) -> None:
        self.pending.append(event)

    def commit(self) -> None:
        self.collect_events()
        self.committed += self.pending
        self.pending = []
        self.commits += 1

    def rollback(self) -> None:
        self.pending = []

    def committed_types(self) -> list[str]:
        return [e.envelope.event_type for e in self.committed]
