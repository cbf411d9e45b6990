"""Logins and organizations: the lockout counter, aggregate versions, anonymous attempts.

- users gain ``failed_logins`` (consecutive wrong passwords since the last success or lock)
  and ``locked_until``: the lockout state lives on the row that every attempt of the account
  locks (SELECT ... FOR UPDATE) anyway, so concurrent guesses are counted exactly and a
  locked account is recognised by one indexed read. login_activity stays the history; it is
  not re-counted on each attempt and may be pruned without unlocking anyone.
- users and organizations gain ``version``: the aggregate version their events carry.
- login_activity.user_id becomes nullable: an attempt with an email that has no account is
  recorded too (failure_reason unknown_email), without the email typed, which may be a
  mistyped password.
- Two integer settings, ``login_max_failures`` (5) and ``login_lockout_minutes`` (15),
  set the lockout policy; admins change them like any other setting.

Revision ID: identity_0004
Revises: identity_0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "identity_0004"
down_revision = "identity_0003"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)

SETTINGS = sa.table(
    "system_settings",
    sa.column("key", sa.String),
    sa.column("value", sa.Text),
    sa.column("type", sa.String),
    sa.column("description", sa.Text),
)


def upgrade() -> None:
    op.add_column("users", sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"))
    op.add_column("users", sa.Column("locked_until", TIME, nullable=True))
    op.add_column("users", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("organizations", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.alter_column("login_activity", "user_id", existing_type=ID, nullable=True)
    op.bulk_insert(
        SETTINGS,
        [
            {
                "key": "login_max_failures",
                "value": "5",
                "type": "integer",
                "description": "Consecutive wrong passwords that lock an account",
            },
            {
                "key": "login_lockout_minutes",
                "value": "15",
                "type": "integer",
                "description": "Minutes an account stays locked after too many wrong passwords",
            },
        ],
    )


def downgrade() -> None:
    op.execute(SETTINGS.delete().where(SETTINGS.c.key.in_(["login_max_failures", "login_lockout_minutes"])))
    op.execute("DELETE FROM login_activity WHERE user_id IS NULL")
    op.alter_column("login_activity", "user_id", existing_type=ID, nullable=False)
    op.drop_column("organizations", "version")
    op.drop_column("users", "version")
    op.drop_column("users", "locked_until")
    op.drop_column("users", "failed_logins")
