"""Sign-up verification, sessions, two-factor confirmation and organization invitations.

- ``email_verifications``: one row per verification mail sent; only the SHA-256 of the token
  is stored (the token itself exists only in the mail), with its expiry and when it was used.
- ``user_sessions``: a signed-in browser or CLI. The short-lived access token is signed by
  identity and names the session; the refresh token is random and stored only as its SHA-256,
  rotated on every refresh (the previous one stops working). ``revoked_at`` ends a session
  (logout, password change, staff action, erasure) for both tokens at once.
- ``users.two_factor_confirmed_at``: 2FA is on only once a TOTP code from the enrolled secret
  was confirmed; ``two_factor_secret`` (seed column) holds the secret encrypted, and
  ``two_factor_recovery_codes`` (seed column) the recovery codes' hashes.
- ``organization_invitations``: an invitation by email to join an organization with a role;
  the token travels in the mail, only its SHA-256 is stored.

Revision ID: identity_0005
Revises: identity_0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "identity_0005"
down_revision = "identity_0004"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.add_column("users", sa.Column("two_factor_confirmed_at", TIME, nullable=True))
    op.create_table(
        "email_verifications",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME, nullable=True),
        sa.Index("idx_email_verifications_user", "user_id"),
        **TABLE_ARGS,
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("refresh_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("ip_address", sa.String(45), nullable=False),
        sa.Column("user_agent", sa.Text, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("refreshed_at", TIME, nullable=True),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Index("idx_user_sessions_user", "user_id", "revoked_at"),
        **TABLE_ARGS,
    )
    op.create_table(
        "organization_invitations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("organization_id", ID, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("role", sa.Enum("admin", "member", "billing"), nullable=False, server_default="member"),
        sa.Column("permissions", sa.JSON, nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("invited_by", ID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("accepted_by", ID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("accepted_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.Index("idx_invitations_organization", "organization_id", "email"),
        **TABLE_ARGS,
    )


def downgrade() -> None:
    op.drop_table("organization_invitations")
    op.drop_table("user_sessions")
    op.drop_table("email_verifications")
    op.drop_column("users", "two_factor_confirmed_at")
