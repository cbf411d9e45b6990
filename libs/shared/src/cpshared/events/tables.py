"""The event backbone's tables, present in the database of every service that uses it.

- ``outbox``: events waiting to be published, written in the transaction of the change.
- ``inbox``: (consumer, event id) of every event a projection applied, written in the
  transaction of the effect; the primary key is what makes redelivery harmless.
- ``dead_letters``: events a projection could not apply, kept until redriven.

A service's migration creates them with :func:`create_event_tables`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

EVENT_ID = sa.BINARY(16)
MICROSECONDS = mysql.DATETIME(fsp=6)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("event_id", EVENT_ID, nullable=False, unique=True),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("message_key", sa.String(200), nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("headers", sa.JSON, nullable=True),
    sa.Column("envelope", mysql.LONGBLOB, nullable=False),
    sa.Column("created_at", MICROSECONDS, nullable=False),
    sa.Column("published_at", MICROSECONDS, nullable=True),
    # The relay's query: unpublished rows in id order. published_at first so that the
    # unpublished rows are one contiguous range of the index, however long the history.
    sa.Index("ix_outbox_unpublished", "published_at", "id"),
    mysql_engine="InnoDB",
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("event_id", EVENT_ID, primary_key=True),
    sa.Column("processed_at", MICROSECONDS, nullable=False),
    mysql_engine="InnoDB",
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("event_id", EVENT_ID, nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("message_key", sa.String(200), nullable=False),
    sa.Column("envelope", mysql.LONGBLOB, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column(
        "status",
        sa.Enum("pending", "redriven", "discarded", name="dead_letter_status"),
        nullable=False,
        default="pending",
    ),
    sa.Column("failed_at", MICROSECONDS, nullable=False),
    sa.Column("resolved_at", MICROSECONDS, nullable=True),
    sa.Column("resolution", sa.Text, nullable=True),
    sa.UniqueConstraint("consumer", "event_id", name="uq_dead_letters_consumer_event"),
    sa.Index("ix_dead_letters_status", "status", "consumer"),
    mysql_engine="InnoDB",
)


def create_event_tables() -> None:
    """Create outbox, inbox and dead_letters; call from a service's Alembic migration."""
    from alembic import op

    bind = op.get_bind()
    metadata.create_all(bind, tables=[outbox, inbox, dead_letters])


def drop_event_tables() -> None:
    from alembic import op

    metadata.drop_all(op.get_bind(), tables=[dead_letters, inbox, outbox])
