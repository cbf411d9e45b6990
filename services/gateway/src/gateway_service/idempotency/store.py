"""The ``idempotency_keys`` table: claim a key, store the answer, release it, prune old rows.

Claiming is an INSERT against the unique (scope, key): of two concurrent requests exactly
one inserts; the other finds the row and learns whether it is in flight, completed, or was
made for another request. Synchronous (SQLAlchemy Core); the middleware runs it in a thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from cpshared.clock import Clock, get_clock

metadata = sa.MetaData()

# Mirrors migrations/versions/0003_idempotency.py.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", mysql.BIGINT(unsigned=True), primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("state", sa.Enum("in_flight", "completed"), nullable=False),
    sa.Column("response_status", sa.SmallInteger, nullable=True),
    sa.Column("response_headers", sa.JSON, nullable=True),
    sa.Column("response_body", mysql.LONGBLOB, nullable=True),
    sa.Column("created_at", mysql.DATETIME(fsp=6), nullable=False),
    sa.Column("expires_at", mysql.DATETIME(fsp=6), nullable=False),
)

DEFAULT_TTL = timedelta(hours=24)
# A row in flight longer than this belongs to a gateway that died mid-request (no answer
# was stored, no release ran): the key is handed to the next request instead of answering
# 409 for a whole day. Longer than any request the gateway lets run.
DEFAULT_IN_FLIGHT_LEASE = timedelta(minutes=5)
PRUNE_INTERVAL = timedelta(minutes=1)
PRUNE_BATCH = 1000
_CLAIM_ATTEMPTS = 5


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of method, path and body: what "the same request" means for a key."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        # Length-prefixed, so ("POST", "/a", b"b") and ("POST", "/ab", b"") differ.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claimed:
    """The key is ours: run the request, then :meth:`IdempotencyStore.complete` or ``release``."""


@dataclass(frozen=True)
class Replay:
    response: StoredResponse


@dataclass(frozen=True)
class InFlight:
    """The first request with this key has not finished yet."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used for another request (another method, path or body)."""


Claim = Claimed | Replay | InFlight | Mismatch


def _naive(when: datetime) -> datetime:
    # DATETIME columns hold UTC without a zone.
    return when.astimezone(UTC).replace(tzinfo=None)


class IdempotencyStore:
    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        ttl: timedelta = DEFAULT_TTL,
        in_flight_lease: timedelta = DEFAULT_IN_FLIGHT_LEASE,
    ) -> None:
        self._engine = engine
        self._clock = clock or get_clock()
        self.ttl = ttl
        self.in_flight_lease = in_flight_lease
        self._next_prune: datetime | None = None

    def _now(self) -> datetime:
        return _naive(self._clock.now())

    def claim(self, scope: str, key: str, fingerprint: str) -> Claim:
        self.prune_if_due()
        for _ in range(_CLAIM_ATTEMPTS):
            now = self._now()
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        idempotency_keys.insert().values(
                            scope=scope,
                            idempotency_key=key,
                            fingerprint=fingerprint,
                            state="in_flight",
                            created_at=now,
                            expires_at=now + self.ttl,
                        )
                    )
                return Claimed()
            except sa_exc.IntegrityError:
                pass
            outcome = self._existing(scope, key, fingerprint, now)
            if outcome is not None:
                return outcome
            # The row was gone (released, pruned or taken over): try the insert again.
        # Only under a pathological release/claim race; the client may simply retry.
        return InFlight()

    def _existing(self, scope: str, key: str, fingerprint: str, now: datetime) -> Claim | None:
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(idempotency_keys).where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.idempotency_key == key
                )
            ).one_or_none()
            if row is None:
                return None
            abandoned = row.state == "in_flight" and row.created_at <= now - self.in_flight_lease
            if row.expires_at <= now or abandoned:
                # Deleted by id, so of two requests taking over, one deletes and both re-insert:
                # the unique key lets exactly one of them win.
                conn.execute(idempotency_keys.delete().where(idempotency_keys.c.id == row.id))
                return None
        if row.fingerprint != fingerprint:
            return Mismatch()
        if row.state == "in_flight":
            return InFlight()
        headers: Any = row.response_headers or []
        pairs = [(str(name), str(value)) for name, value in headers]
        return Replay(StoredResponse(int(row.response_status), pairs, bytes(row.response_body)))

    def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                idempotency_keys.update()
                .where(
                    idempotency_keys.c.scope == scope,
                    idempotency_keys.c.idempotency_key == key,
                    idempotency_keys.c.state == "in_flight",
                )
                .values(
                    state="completed",
                    response_status=response.status,
                    response_headers=[list(pair) for pair in response.headers],
                    response_body=response.body,
                )
            )

    def release(self, scope: str, key: str) -> None:
        """Forget an in-flight key whose request failed, so the client can retry it."""
        with self._engine.begin() as conn:
            conn.execute(
                idempotency_keys.delete().where(
                    idempotency_keys.c.scope == scope,
                    idempotency_keys.c.idempotency_key == key,
                    idempotency_keys.c.state == "in_flight",
                )
            )

    def prune_if_due(self) -> int:
        """Delete expired rows at most once a minute per process; cheap enough to call per request."""
        now = self._clock.now()
        if self._next_prune is not None and now < self._next_prune:
            return 0
        self._next_prune = now + PRUNE_INTERVAL
        return self.prune()

    def prune(self) -> int:
        """Delete up to one batch of expired rows; returns how many."""
        with self._engine.begin() as conn:
            result = conn.execute(
                idempotency_keys.delete()
                .where(idempotency_keys.c.expires_at <= self._now())
                .with_dialect_options(mysql_limit=PRUNE_BATCH)
            )
        return int(result.rowcount)
