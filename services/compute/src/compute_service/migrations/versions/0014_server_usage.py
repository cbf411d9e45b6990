"""Servers' usage columns kept from monitoring's summaries.

- ``servers.usage_updated_at``: the instant of the monitoring summary (``metric.summarized``)
  that last set the server's ``bandwidth_used_gb`` (outgoing traffic of the calendar month, GB),
  ``cpu_usage``, ``memory_usage`` and ``disk_usage`` (seed columns): an older or repeated summary
  changes nothing.

Revision ID: compute_0014
Revises: compute_0013
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0014"
down_revision = "compute_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("servers", sa.Column("usage_updated_at", mysql.DATETIME(fsp=6), nullable=True))


def downgrade() -> None:
    op.drop_column("servers", "usage_updated_at")
