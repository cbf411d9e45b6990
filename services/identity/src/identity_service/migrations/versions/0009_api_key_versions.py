"""API keys change while live: renamed, re-scoped, rotated. Their version is stored.

- ``api_keys.version``: the aggregate version the key's last event carried (1 when created;
  a revoked key of before this revision was at 2, and is set so).

Revision ID: identity_0009
Revises: identity_0008
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0009"
down_revision = "identity_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.execute("UPDATE api_keys SET version = 2 WHERE revoked_at IS NOT NULL")


def downgrade() -> None:
    op.drop_column("api_keys", "version")
