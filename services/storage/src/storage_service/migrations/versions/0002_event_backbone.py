"""Event backbone: the outbox, inbox and dead_letters tables (see cpshared.events.tables).

Revision ID: storage_0002
Revises: storage_0001
Create Date: 2026-11-24
"""

from cpshared.events.tables import create_event_tables, drop_event_tables

revision = "storage_0002"
down_revision = "storage_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_tables()


def downgrade() -> None:
    drop_event_tables()
