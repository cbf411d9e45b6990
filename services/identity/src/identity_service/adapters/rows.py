"""How identity's values go in and out of MariaDB columns: times are stored as naive
DATETIME(6) in UTC and come back timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session


def to_db(when: datetime | None) -> datetime | None:
    return None if when is None else when.astimezone(UTC).replace(tzinfo=None)


def from_db(when: datetime | None) -> datetime | None:
    return None if when is None else when.replace(tzinfo=UTC)


def insert_one(session: Session, statement: sa.Insert) -> int:
    """Run an INSERT of one row and return its new id."""
    result = session.connection().execute(statement)
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def required_time(when: datetime | None) -> datetime:
    aware = from_db(when)
    if aware is None:
        raise ValueError("a NOT NULL time column was NULL")
    return aware
