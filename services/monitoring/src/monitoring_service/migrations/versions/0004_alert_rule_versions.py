"""alert_rules.version: the rule's version, which its events carry (aggregate_version).

Revision ID: monitoring_0004
Revises: monitoring_0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "monitoring_0004"
down_revision = "monitoring_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alert_rules", sa.Column("version", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("alert_rules", "version")
