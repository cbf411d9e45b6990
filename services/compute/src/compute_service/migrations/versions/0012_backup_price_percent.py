"""A backup period keeps the price share it was enabled at.

- ``server_backup_periods.price_percent``: the percentage of the server type's prices that the
  period's backup hours cost, as billing's ``backup`` pricing plan stated it when backups were
  enabled (compute asks billing when a customer enables backups; billing's plan is the one home
  of the figure). Periods open before this migration (and enable_backup actions still running)
  were asked for at 20 %, the figure that was then written in the code: they keep it.

Revision ID: compute_0012
Revises: compute_0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "compute_0012"
down_revision = "compute_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "server_backup_periods", sa.Column("price_percent", sa.DECIMAL(5, 2), nullable=False, server_default="20.00")
    )
    # Only the periods that existed were enabled at 20 %: a new period always states its own.
    op.alter_column("server_backup_periods", "price_percent", existing_type=sa.DECIMAL(5, 2), server_default=None)
    # An enable_backup still running was asked for at 20 % as well: its action carries the figure now.
    op.execute(
        "UPDATE actions SET params = JSON_SET(COALESCE(params, '{}'), '$.backup_price_percent', '20.00') "
        "WHERE command = 'enable_backup' AND status = 'running'"
    )


def downgrade() -> None:
    op.drop_column("server_backup_periods", "price_percent")
