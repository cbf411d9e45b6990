"""Password reset by mail.

- ``password_resets``: one row per reset mail sent; only the SHA-256 of the token is stored
  (the token itself exists only in the mail), with its expiry and when it was used. A reset
  that succeeds, or a newer request, ends the account's other open tokens (``used_at``).
- setting ``password_reset_minutes`` (30): how long a reset token is valid.

Revision ID: identity_0011
Revises: identity_0010
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "identity_0011"
down_revision = "identity_0010"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
SETTING = ("password_reset_minutes", "30", "Minutes a password reset link stays valid")


def upgrade() -> None:
    op.create_table(
        "password_resets",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME, nullable=True),
        sa.Index("idx_password_resets_user", "user_id", "used_at"),
        **TABLE_ARGS,
    )
    key, value, description = SETTING
    op.execute(
        sa.text(
            "INSERT INTO system_settings (`key`, value, type, description, version, created_at, updated_at) "
            "SELECT :key, :value, 'integer', :description, 1, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) "
            "WHERE NOT EXISTS (SELECT 1 FROM system_settings WHERE `key` = :key)"
        ).bindparams(key=key, value=value, description=description)
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM system_settings WHERE `key` = :key").bindparams(key=SETTING[0]))
    op.drop_table("password_resets")
