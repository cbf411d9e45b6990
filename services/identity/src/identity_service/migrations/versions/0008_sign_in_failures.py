"""Sign-in failures per (account, client address) instead of an account-wide lock.

- ``sign_in_failures``: one row per (subject, address) with failed credential checks: the
  subject is the SHA-256 of the email as sent (known or not, so an unknown email is throttled
  like a known one), the failures in a row, when the last was, and until when the pair waits
  (none after the first two, then 1 s, 2 s, 4 s, … then the lockout). A success from the address deletes the row; the
  retention keeper deletes rows whose wait ended long ago.
- ``users.failed_logins`` and ``users.locked_until`` stay but are no longer set: whoever could
  guess at an email could lock its owner out.

Revision ID: identity_0008
Revises: identity_0007
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "identity_0008"
down_revision = "identity_0007"
branch_labels = None
depends_on = None

TIME = mysql.DATETIME(fsp=6)
TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("subject", sa.CHAR(64), primary_key=True),
        sa.Column("ip_address", sa.String(45), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failed_at", TIME, nullable=True),
        sa.Column("blocked_until", TIME, nullable=True),
        sa.Index("idx_sign_in_failures_blocked_until", "blocked_until"),
        **TABLE_ARGS,
    )
    # Accounts locked under the old account-wide rule are unlocked: the lock now holds per address.
    op.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE locked_until IS NOT NULL OR failed_logins > 0"
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
