"""The users.two_factor_* columns in and out of MariaDB, on the unit of work's session.

Stores what it is given: the secret arrives sealed (encrypted) and the recovery codes as
digests, so nothing here ever holds either in clear.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, to_db
from identity_service.adapters.tables import users
from identity_service.domain.two_factor import TwoFactor, TwoFactorAccount


class TwoFactorRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.seen: list[TwoFactorAccount] = []

    def get(self, user_id: int, *, for_update: bool = False) -> TwoFactorAccount | None:
        """The user's two-factor state, with the user's version and email; None when no such user.

        With ``for_update`` the user row is locked until the transaction ends, so two
        requests cannot both use one time step or one recovery code.
        """
        query = sa.select(
            users.c.two_factor_secret,
            users.c.two_factor_confirmed_at,
            users.c.two_factor_recovery_codes,
            users.c.version,
            users.c.email,
        ).where(users.c.id == user_id)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            return None
        state = TwoFactor.from_columns(
            row.two_factor_secret, from_db(row.two_factor_confirmed_at), row.two_factor_recovery_codes
        )
        return TwoFactorAccount(id=user_id, email=row.email, state=state, version=int(row.version))

    def save(self, account: TwoFactorAccount, now: datetime) -> None:
        """The state and the user's version (an event was recorded); the account joins :attr:`seen`."""
        self.seen.append(account)
        self._write(account.id, account.state, now, version=account.version)

    def save_state(self, user_id: int, state: TwoFactor, now: datetime) -> None:
        """Only the state (enrolling, using up a code): no event, so the user's version stays,
        and a sign-in's own version bump (written by the user repository) is not overwritten."""
        self._write(user_id, state, now, version=None)

    def _write(self, user_id: int, state: TwoFactor, now: datetime, version: int | None) -> None:
        values: dict[str, object] = {
            "two_factor_secret": state.sealed_secret,
            "two_factor_confirmed_at": to_db(state.confirmed_at),
            "two_factor_recovery_codes": state.codes_document(),
            "updated_at": to_db(now),
        }
        if version is not None:
            values["version"] = version
        self._session.execute(users.update().where(users.c.id == user_id).values(**values))
