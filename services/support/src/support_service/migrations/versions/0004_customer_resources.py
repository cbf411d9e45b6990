"""Where customers have resources: support's own copy, from compute's events, of which user's
(and organization's) server is in which datacenter, so a maintenance window reaches exactly the
customers it affects (support never reads compute's database).

Revision ID: support_0004
Revises: support_0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "support_0004"
down_revision = "support_0003"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "customer_resources",
        sa.Column("resource_type", sa.String(50), primary_key=True),
        sa.Column("resource_id", ID, primary_key=True, autoincrement=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("organization_id", ID),
        sa.Column("datacenter", sa.String(50), nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Index("idx_customer_resources_datacenter", "datacenter"),
        **TABLE,
    )


def downgrade() -> None:
    op.drop_table("customer_resources")
