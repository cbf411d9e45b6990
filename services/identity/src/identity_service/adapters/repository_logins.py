"""The sign-in attempts (login_activity), on the unit of work's session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, insert_one, required_time, to_db
from identity_service.adapters.tables import login_activity, sign_in_failures
from identity_service.domain.model import LoginAttempt, LoginFailure, SignInFailures


class LoginActivityRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        user_id: int | None,
        ip_address: str,
        user_agent: str,
        failure: LoginFailure | None,
        now: datetime,
    ) -> LoginAttempt:
        attempt_id = insert_one(
            self._session,
            login_activity.insert().values(
                user_id=user_id,
                ip_address=ip_address,
                user_agent=user_agent or None,
                success=failure is None,
                failure_reason=None if failure is None else failure.value,
                created_at=to_db(now),
            ),
        )
        return LoginAttempt(
            id=attempt_id,
            user_id=user_id,
            ip_address=ip_address,
            user_agent=user_agent,
            success=failure is None,
            failure_reason=failure,
            created_at=now,
        )

    def of_user(self, user_id: int, *, offset: int, limit: int) -> tuple[list[LoginAttempt], int]:
        """One page of a user's attempts, newest first, and how many there are in all."""
        query = (
            login_activity.select()
            .where(login_activity.c.user_id == user_id)
            .order_by(login_activity.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        total = self._session.execute(
            sa.select(sa.func.count()).select_from(login_activity).where(login_activity.c.user_id == user_id)
        ).scalar_one()
        return [self._attempt(row) for row in self._session.execute(query)], int(total)

    def delete_before(self, cutoff: datetime, limit: int) -> int:
        """Oldest first, along idx_created, so a batch holds few locks and a long history goes in steps."""
        result = self._session.execute(
            sa.text("DELETE FROM login_activity WHERE created_at < :cutoff ORDER BY created_at LIMIT :limit"),
            {"cutoff": to_db(cutoff), "limit": limit},
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def failures(self, subject: str, ip_address: str) -> SignInFailures:
        """The pair's failures, its row locked until the transaction ends (made when missing, so
        that concurrent attempts of one pair queue on it, known email or not)."""
        self._session.execute(
            mysql.insert(sign_in_failures)
            .values(subject=subject, ip_address=ip_address, failures=0)
            .on_duplicate_key_update(failures=sign_in_failures.c.failures)
        )
        row = self._session.execute(
            sign_in_failures.select()
            .where(sign_in_failures.c.subject == subject, sign_in_failures.c.ip_address == ip_address)
            .with_for_update()
        ).one()
        return SignInFailures(
            subject=subject,
            ip=ip_address,
            failures=int(row.failures),
            last_failed_at=from_db(row.last_failed_at),
            blocked_until=from_db(row.blocked_until),
        )

    def save_failures(self, failures: SignInFailures) -> None:
        self._session.execute(
            sign_in_failures.update()
            .where(sign_in_failures.c.subject == failures.subject, sign_in_failures.c.ip_address == failures.ip)
            .values(
                failures=failures.failures,
                last_failed_at=to_db(failures.last_failed_at),
                blocked_until=to_db(failures.blocked_until),
            )
        )

    def clear_failures(self, subject: str, ip_address: str) -> None:
        self._session.execute(
            sign_in_failures.delete().where(
                sign_in_failures.c.subject == subject, sign_in_failures.c.ip_address == ip_address
            )
        )

    def clear_subject(self, subject: str, now: datetime) -> int:
        """Forget every address's failures of ``subject``; how many of those pairs were blocked."""
        blocked = self._session.execute(
            sa.select(sa.func.count())
            .select_from(sign_in_failures)
            .where(sign_in_failures.c.subject == subject, sign_in_failures.c.blocked_until > to_db(now))
        ).scalar_one()
        self._session.execute(sign_in_failures.delete().where(sign_in_failures.c.subject == subject))
        return int(blocked)

    def delete_failures_before(self, cutoff: datetime, limit: int) -> int:
        """Pairs whose last wait ended before ``cutoff`` (retention), at most ``limit``."""
        result = self._session.execute(
            sa.text("DELETE FROM sign_in_failures WHERE COALESCE(blocked_until, '1970-01-01') < :cutoff LIMIT :limit"),
            {"cutoff": to_db(cutoff), "limit": limit},
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def _attempt(row: Row[Any]) -> LoginAttempt:
        return LoginAttempt(
            id=int(row.id),
            user_id=None if row.user_id is None else int(row.user_id),
            ip_address=row.ip_address,
            user_agent=row.user_agent or "",
            success=bool(row.success),
            failure_reason=None if row.failure_reason is None else LoginFailure(row.failure_reason),
            created_at=required_time(row.created_at),
        )
