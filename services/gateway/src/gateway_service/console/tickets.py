"""The ``console_tickets`` table: what a ``request_console`` answer's URL stands for.

Upstream's console URL names upstream's host and its own server id (and carries upstream's
token), so it never leaves the gateway. The answer gets the platform's URL instead, with a
ticket: 32 random bytes, of which the table keeps only the SHA-256 beside upstream's URL.
A ticket opens one websocket (it is deleted as it is redeemed, by whichever replica the
client reaches) and lapses after :data:`TICKET_TTL` unused; lapsed rows are pruned when
tickets are issued.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from cpshared.clock import Clock, get_clock
from cpshared.timestamps import as_utc

metadata = sa.MetaData()

# Mirrors migrations/versions/0006_console_tickets.py.
console_tickets = sa.Table(
    "console_tickets",
    metadata,
    sa.Column("ticket_sha256", mysql.BINARY(32), primary_key=True),
    sa.Column("upstream_url", mysql.VARCHAR(2048), nullable=False),
    sa.Column("server_id", mysql.BIGINT(unsigned=True), nullable=False),
    sa.Column("expires_at", mysql.DATETIME(fsp=6), nullable=False),
)

TICKET_TTL = timedelta(minutes=1)
"""How long a console URL may wait to be opened (upstream's own token is short-lived too)."""
PRUNE_BATCH = 100
MAX_TICKET_LENGTH = 64


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


def _naive(when: datetime) -> datetime:
    return as_utc(when).replace(tzinfo=None)


class ConsoleTickets:
    """Synchronous (SQLAlchemy Core); callers on the event loop run it in a thread."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or get_clock()

    def issue(self, upstream_url: str, server_id: int) -> str:
        """A new ticket for ``upstream_url`` (the console of the platform's server ``server_id``)."""
        ticket = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._engine.begin() as conn:
            conn.execute(
                console_tickets.delete()
                .where(console_tickets.c.expires_at <= _naive(now))
                .with_dialect_options(mysql_limit=PRUNE_BATCH)
            )
            conn.execute(
                console_tickets.insert().values(
                    ticket_sha256=_digest(ticket),
                    upstream_url=upstream_url,
                    server_id=server_id,
                    expires_at=_naive(now + TICKET_TTL),
                )
            )
        return ticket

    def redeem(self, ticket: str) -> str | None:
        """Upstream's URL of a valid ticket, which is spent by it; None for anything else."""
        if not ticket or len(ticket) > MAX_TICKET_LENGTH:
            return None
        digest = _digest(ticket)
        now = _naive(self._clock.now())
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(console_tickets.c.upstream_url, console_tickets.c.expires_at)
                .where(console_tickets.c.ticket_sha256 == digest)
                .with_for_update()
            ).one_or_none()
            if row is None:
                return None
            conn.execute(console_tickets.delete().where(console_tickets.c.ticket_sha256 == digest))
        return str(row.upstream_url) if row.expires_at > now else None
