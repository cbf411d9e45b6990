"""What happened to an identity aggregate, as the aggregate records it: plain values, in the
order they happened. The unit of work turns them into the outbox events of the contract
(cloudplatform.identity.v1) when it commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class LoginSucceeded:
    user_id: int
    login_activity_id: int
    ip: str


@dataclass(frozen=True)
class LoginFailed:
    user_id: int
    login_activity_id: int
    ip: str
    reason: str
    """A LoginFailure's value."""
    failed_logins: int
    """The count after this attempt (0 when it locked the account: the count starts afresh)."""


@dataclass(frozen=True)
class Locked:
    user_id: int
    ip: str
    reason: str
    failed_logins: int
    """The wrong attempts in a row that caused the lock."""
    locked_until: datetime


UserEvent = LoginSucceeded | LoginFailed | Locked


@dataclass(frozen=True)
class Recorded:
    """One event and the aggregate version it brought the aggregate to."""

    version: int
    event: UserEvent
