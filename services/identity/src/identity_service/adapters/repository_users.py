"""Users in and out of MariaDB, on the unit of work's session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, insert_one, required_time, to_db
from identity_service.adapters.tables import users
from identity_service.domain.model import User, UserRole, UserStatus
from identity_service.domain.staff import ERASED_NAME, erased_email

# Erased columns of the users row: every one that holds personal data or a credential.
ERASED_TO_NULL = (
    "password",
    "two_factor_secret",
    "two_factor_recovery_codes",
    "two_factor_confirmed_at",
    "company_name",
    "tax_id",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "last_login_ip",
)


class UserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.seen: list[User] = []

    def add(self, name: str, email: str, password_hash: str, role: UserRole, status: UserStatus, now: datetime) -> User:
        """The new user; it joins :attr:`seen`."""
        user_id = insert_one(
            self._session,
            users.insert().values(
                name=name,
                email=email,
                password=password_hash,
                role=role.value,
                status=status.value,
                created_at=to_db(now),
                updated_at=to_db(now),
            ),
        )
        user = User(id=user_id, name=name, email=email, role=role, status=status, created_at=now)
        self.seen.append(user)
        return user

    def save_status(self, user: User, now: datetime) -> None:
        """Its status and version; it joins :attr:`seen`."""
        self.seen.append(user)
        self._session.execute(
            users.update()
            .where(users.c.id == user.id)
            .values(status=user.status.value, version=user.version, updated_at=to_db(now))
        )

    def save_erased(self, user: User, now: datetime) -> None:
        """Remove the account's personal data and credentials; the id and role stay. It joins :attr:`seen`."""
        self.seen.append(user)
        values: dict[str, Any] = {column: None for column in ERASED_TO_NULL}
        values |= {
            "name": ERASED_NAME,
            "email": erased_email(user.id),
            "status": UserStatus.BANNED.value,
            "deleted_at": to_db(now),
            "updated_at": to_db(now),
            "version": user.version,
        }
        self._session.execute(users.update().where(users.c.id == user.id).values(**values))
        # Columns of the seed's users table that tables.py does not map (migration 0003 has them).
        self._session.execute(
            sa.text("UPDATE users SET workos_id = NULL, remember_token = NULL WHERE id = :id"), {"id": user.id}
        )

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        query = users.select().where(users.c.id == user_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self.user_from_row(row)

    def by_email(self, email: str, *, for_update: bool = False) -> User | None:
        query = users.select().where(users.c.email == email)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self.user_from_row(row)

    def save_login(self, user: User, now: datetime, *, succeeded_from: str | None, password_hash: str | None) -> None:
        """The user's lockout state and version after an attempt; on success also when and from
        where. The user joins :attr:`seen`, whose events the unit of work collects on commit."""
        self.seen.append(user)
        values: dict[str, Any] = {
            "failed_logins": user.failed_logins,
            "locked_until": to_db(user.locked_until),
            "version": user.version,
            "updated_at": to_db(now),
        }
        if succeeded_from is not None:
            values |= {"last_login_at": to_db(now), "last_login_ip": succeeded_from}
        if password_hash is not None:
            values["password"] = password_hash
        self._session.execute(users.update().where(users.c.id == user.id).values(**values))

    def set_password_hash(self, user_id: int, password_hash: str, now: datetime) -> None:
        self._session.execute(
            users.update().where(users.c.id == user_id).values(password=password_hash, updated_at=to_db(now))
        )

    def admin_exists(self) -> bool:
        query = sa.select(users.c.id).where(users.c.role == UserRole.ADMIN.value, users.c.deleted_at.is_(None))
        return self._session.execute(query.limit(1)).first() is not None

    @staticmethod
    def user_from_row(row: Row[Any]) -> User:
        return User(
            id=int(row.id),
            name=row.name,
            email=row.email,
            role=UserRole(row.role),
            status=UserStatus(row.status),
            created_at=required_time(row.created_at),
            password_hash=row.password,
            version=int(row.version),
            failed_logins=int(row.failed_logins),
            locked_until=from_db(row.locked_until),
            last_login_at=from_db(row.last_login_at),
        )
