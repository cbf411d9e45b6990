"""Repositories of accounts: verification rows, sessions, and the profile columns of users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, insert_one, required_time, to_db
from identity_service.adapters.tables import email_verifications, password_resets, user_sessions, users
from identity_service.domain.accounts import (
    PROFILE_FIELDS,
    EmailVerification,
    PasswordResetToken,
    Profile,
    UserSession,
)
from identity_service.domain.model import UserRole, UserStatus


class AccountRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.seen: list[UserSession | Profile] = []

    # -- profile --------------------------------------------------------------------------

    def profile(self, user_id: int, *, for_update: bool = False) -> Profile | None:
        """The user's account and profile; with ``for_update`` the user row is locked."""
        query = users.select().where(users.c.id == user_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self._profile(row)

    def save_profile(self, profile: Profile, changes: dict[str, str], now: datetime) -> None:
        self.seen.append(profile)
        values: dict[str, Any] = {name: (value or None) if name != "name" else value for name, value in changes.items()}
        self._session.execute(
            users.update()
            .where(users.c.id == profile.id)
            .values(**values, version=profile.version, updated_at=to_db(now))
        )

    def mark_email_verified(self, profile: Profile, now: datetime) -> None:
        self.seen.append(profile)
        self._session.execute(
            users.update()
            .where(users.c.id == profile.id)
            .values(
                email_verified_at=to_db(profile.email_verified_at),
                status=profile.status.value,
                version=profile.version,
                updated_at=to_db(now),
            )
        )

    def save_password(self, profile: Profile, password_hash: str, now: datetime) -> None:
        self.seen.append(profile)
        self._session.execute(
            users.update()
            .where(users.c.id == profile.id)
            .values(password=password_hash, version=profile.version, updated_at=to_db(now))
        )

    def save_reset_password(self, profile: Profile, password_hash: str, now: datetime) -> None:
        """The new password, and no lockout left: the failure count and lock are cleared."""
        self.seen.append(profile)
        self._session.execute(
            users.update()
            .where(users.c.id == profile.id)
            .values(
                password=password_hash,
                failed_logins=0,
                locked_until=None,
                version=profile.version,
                updated_at=to_db(now),
            )
        )

    def locked_until(self, user_id: int) -> datetime | None:
        query = sa.select(users.c.locked_until).where(users.c.id == user_id)
        return from_db(self._session.execute(query).scalar_one_or_none())

    def password_hash(self, user_id: int) -> str | None:
        value = self._session.execute(sa.select(users.c.password).where(users.c.id == user_id)).scalar_one_or_none()
        return None if value is None else str(value)

    @staticmethod
    def _profile(row: Row[Any]) -> Profile:
        texts = {name: getattr(row, name) or "" for name in PROFILE_FIELDS if name != "name"}
        return Profile(
            id=int(row.id),
            name=row.name,
            email=row.email,
            role=UserRole(row.role),
            status=UserStatus(row.status),
            created_at=required_time(row.created_at),
            email_verified_at=from_db(row.email_verified_at),
            version=int(row.version),
            **texts,
        )

    # -- email verification ---------------------------------------------------------------

    def add_verification(
        self, user_id: int, email: str, token_hash: str, now: datetime, expires_at: datetime
    ) -> EmailVerification:
        verification_id = insert_one(
            self._session,
            email_verifications.insert().values(
                user_id=user_id,
                token_hash=token_hash,
                email=email,
                created_at=to_db(now),
                expires_at=to_db(expires_at),
            ),
        )
        return EmailVerification(
            id=verification_id, user_id=user_id, email=email, created_at=now, expires_at=expires_at, used_at=None
        )

    def verification_by_hash(self, token_hash: str) -> EmailVerification | None:
        query = email_verifications.select().where(email_verifications.c.token_hash == token_hash).with_for_update()
        row = self._session.execute(query).first()
        return None if row is None else self._verification(row)

    def latest_verification_sent(self, user_id: int) -> datetime | None:
        query = sa.select(sa.func.max(email_verifications.c.created_at)).where(email_verifications.c.user_id == user_id)
        return from_db(self._session.execute(query).scalar_one_or_none())

    def mark_verification_used(self, verification_id: int, now: datetime) -> None:
        self._session.execute(
            email_verifications.update().where(email_verifications.c.id == verification_id).values(used_at=to_db(now))
        )

    @staticmethod
    def _verification(row: Row[Any]) -> EmailVerification:
        return EmailVerification(
            id=int(row.id),
            user_id=int(row.user_id),
            email=row.email,
            created_at=required_time(row.created_at),
            expires_at=required_time(row.expires_at),
            used_at=from_db(row.used_at),
        )

    # -- password reset -------------------------------------------------------------------

    def add_password_reset(
        self, user_id: int, token_hash: str, now: datetime, expires_at: datetime
    ) -> PasswordResetToken:
        reset_id = insert_one(
            self._session,
            password_resets.insert().values(
                user_id=user_id, token_hash=token_hash, created_at=to_db(now), expires_at=to_db(expires_at)
            ),
        )
        return PasswordResetToken(id=reset_id, user_id=user_id, created_at=now, expires_at=expires_at, used_at=None)

    def password_reset_by_hash(self, token_hash: str) -> PasswordResetToken | None:
        """The reset row of a token, locked: of two confirmations with one token only the first gets it unused."""
        query = password_resets.select().where(password_resets.c.token_hash == token_hash).with_for_update()
        row = self._session.execute(query).first()
        if row is None:
            return None
        return PasswordResetToken(
            id=int(row.id),
            user_id=int(row.user_id),
            created_at=required_time(row.created_at),
            expires_at=required_time(row.expires_at),
            used_at=from_db(row.used_at),
        )

    def latest_password_reset_sent(self, user_id: int) -> datetime | None:
        query = sa.select(sa.func.max(password_resets.c.created_at)).where(password_resets.c.user_id == user_id)
        return from_db(self._session.execute(query).scalar_one_or_none())

    def end_password_resets(self, user_id: int, now: datetime) -> None:
        """Every open reset token of the user stops working (used, or replaced by a newer one)."""
        self._session.execute(
            password_resets.update()
            .where(password_resets.c.user_id == user_id, password_resets.c.used_at.is_(None))
            .values(used_at=to_db(now))
        )

    # -- sessions -------------------------------------------------------------------------

    def add_session(
        self, user_id: int, placeholder_hash: str, ip: str, user_agent: str, now: datetime, expires_at: datetime
    ) -> UserSession:
        """A new session row; its refresh hash is set by :meth:`rotate` once its id is known
        (the refresh token names the session)."""
        session_id = insert_one(
            self._session,
            user_sessions.insert().values(
                user_id=user_id,
                refresh_hash=placeholder_hash,
                ip_address=ip,
                user_agent=user_agent or None,
                created_at=to_db(now),
                expires_at=to_db(expires_at),
                version=1,
            ),
        )
        session = UserSession(
            id=session_id, user_id=user_id, ip_address=ip, user_agent=user_agent, created_at=now, expires_at=expires_at
        )
        self.seen.append(session)
        return session

    def session(self, session_id: int, *, for_update: bool = False) -> UserSession | None:
        query = user_sessions.select().where(user_sessions.c.id == session_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else self._user_session(row)

    def session_by_refresh_hash(self, refresh_hash: str) -> UserSession | None:
        query = user_sessions.select().where(user_sessions.c.refresh_hash == refresh_hash).with_for_update()
        row = self._session.execute(query).first()
        return None if row is None else self._user_session(row)

    def set_refresh_hash(self, session_id: int, refresh_hash: str) -> None:
        self._session.execute(
            user_sessions.update().where(user_sessions.c.id == session_id).values(refresh_hash=refresh_hash)
        )

    def save_refresh(self, session: UserSession, refresh_hash: str) -> None:
        self.seen.append(session)
        self._session.execute(
            user_sessions.update()
            .where(user_sessions.c.id == session.id)
            .values(
                refresh_hash=refresh_hash,
                ip_address=session.ip_address,
                user_agent=session.user_agent or None,
                refreshed_at=to_db(session.refreshed_at),
                version=session.version,
            )
        )

    def save_revoked(self, session: UserSession) -> None:
        self.seen.append(session)
        self._session.execute(
            user_sessions.update()
            .where(user_sessions.c.id == session.id)
            .values(revoked_at=to_db(session.revoked_at), version=session.version)
        )

    def live_sessions(self, user_id: int, now: datetime, *, for_update: bool = False) -> list[UserSession]:
        query = (
            user_sessions.select()
            .where(
                user_sessions.c.user_id == user_id,
                user_sessions.c.revoked_at.is_(None),
                user_sessions.c.expires_at > to_db(now),
            )
            .order_by(user_sessions.c.id.desc())
        )
        rows = self._session.execute(query.with_for_update() if for_update else query)
        return [self._user_session(row) for row in rows]

    @staticmethod
    def _user_session(row: Row[Any]) -> UserSession:
        return UserSession(
            id=int(row.id),
            user_id=int(row.user_id),
            ip_address=row.ip_address,
            user_agent=row.user_agent or "",
            created_at=required_time(row.created_at),
            expires_at=required_time(row.expires_at),
            refreshed_at=from_db(row.refreshed_at),
            revoked_at=from_db(row.revoked_at),
            version=int(row.version),
        )
