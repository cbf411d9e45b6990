"""Who hears of what beyond tickets and maintenance: support's own copy, from identity's events,
of organizations' members and their roles (an invoice reaches an organization's owners and
billing members), and the addresses a user has signed in from (as SHA-256: a sign-in from one
not seen before notifies). Support never reads identity's database.

Revision ID: support_0006
Revises: support_0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "support_0006"
down_revision = "support_0005"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "organization_members",
        sa.Column("organization_id", ID, primary_key=True, autoincrement=False),
        sa.Column("user_id", ID, primary_key=True, autoincrement=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Index("idx_organization_members_user", "user_id"),
        **TABLE,
    )
    op.create_table(
        "known_sign_in_addresses",
        sa.Column("user_id", ID, primary_key=True, autoincrement=False),
        sa.Column("ip_sha256", sa.CHAR(64), primary_key=True),
        sa.Column("first_seen_at", TIME, nullable=False),
        **TABLE,
    )


def downgrade() -> None:
    op.drop_table("known_sign_in_addresses")
    op.drop_table("organization_members")
