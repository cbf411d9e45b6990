"""Identity schema: the seed's users, organizations, organization_users, api_keys,
login_activity, system_settings and resource_quotas, plus quota_reservations.

Every column, enum, default and index of the seed, with these deliberate differences:
- TIMESTAMP columns are DATETIME(6): UTC written by the service's clock (never the session
  time zone), microseconds, and no 2038 limit. The seed's CURRENT_TIMESTAMP defaults stay
  as a fallback for rows written by hand.
- resource_quotas and system_settings gain ``version``: the aggregate version their events
  carry, bumped in the transaction of each change.
- quota_reservations is new: one row per reservation key, so a repeated ReserveQuota or
  ReleaseQuota answers as the first one and counts once.
- The seed's default admin user (a known password) is not carried over: `cloudctl admin
  create` makes the first admin with a random password. The default settings are.

Revision ID: identity_0003
Revises: identity_0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "identity_0003"
down_revision = "identity_0002"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
NOW = sa.text("CURRENT_TIMESTAMP(6)")
NOW_ON_UPDATE = sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)")
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("email_verified_at", TIME, nullable=True),
        sa.Column("password", sa.String(255), nullable=True),
        sa.Column("workos_id", sa.String(255), nullable=True, unique=True),
        sa.Column("role", sa.Enum("admin", "client", "support", "billing"), nullable=True, server_default="client"),
        sa.Column(
            "status", sa.Enum("active", "suspended", "pending", "banned"), nullable=True, server_default="pending"
        ),
        sa.Column("two_factor_secret", sa.Text, nullable=True),
        sa.Column("two_factor_recovery_codes", sa.Text, nullable=True),
        sa.Column("company_name", sa.String(255), nullable=True),
        sa.Column("tax_id", sa.String(50), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("address_line1", sa.String(255), nullable=True),
        sa.Column("address_line2", sa.String(255), nullable=True),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("state", sa.String(100), nullable=True),
        sa.Column("postal_code", sa.String(20), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("timezone", sa.String(50), nullable=True, server_default="UTC"),
        sa.Column("locale", sa.String(10), nullable=True, server_default="en"),
        sa.Column("remember_token", sa.String(100), nullable=True),
        sa.Column("last_login_at", TIME, nullable=True),
        sa.Column("last_login_ip", sa.String(45), nullable=True),
        sa.Column("created_at", TIME, nullable=True, server_default=NOW),
        sa.Column("updated_at", TIME, nullable=True, server_default=NOW_ON_UPDATE),
        sa.Column("deleted_at", TIME, nullable=True),
        sa.Index("idx_email", "email"),
        sa.Index("idx_workos_id", "workos_id"),
        sa.Index("idx_role", "role"),
        sa.Index("idx_status", "status"),
        **TABLE,
    )
    op.create_table(
        "organizations",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("slug", sa.String(255), nullable=False, unique=True),
        sa.Column("owner_id", ID, sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("billing_email", sa.String(255), nullable=True),
        sa.Column("tax_id", sa.String(50), nullable=True),
        sa.Column("address_line1", sa.String(255), nullable=True),
        sa.Column("address_line2", sa.String(255), nullable=True),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("state", sa.String(100), nullable=True),
        sa.Column("postal_code", sa.String(20), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("status", sa.Enum("active", "suspended", "trial"), nullable=True, server_default="active"),
        sa.Column("trial_ends_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=True, server_default=NOW),
        sa.Column("updated_at", TIME, nullable=True, server_default=NOW_ON_UPDATE),
        sa.Index("idx_slug", "slug"),
        sa.Index("idx_owner", "owner_id"),
        **TABLE,
    )
    op.create_table(
        "organization_users",
        _id(),
        sa.Column("organization_id", ID, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.Enum("owner", "admin", "member", "billing"), nullable=True, server_default="member"),
        sa.Column("permissions", sa.JSON, nullable=True),
        sa.Column("invited_by", ID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("joined_at", TIME, nullable=True, server_default=NOW),
        sa.UniqueConstraint("organization_id", "user_id", name="unique_org_user"),
        sa.Index("idx_user", "user_id"),
        **TABLE,
    )
    op.create_table(
        "api_keys",
        _id(),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("organization_id", ID, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(255), nullable=False, unique=True),
        sa.Column("last_four", sa.String(4), nullable=True),
        sa.Column("permissions", sa.JSON, nullable=True),
        sa.Column("rate_limit", sa.Integer, nullable=True, server_default="1000"),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("last_used_ip", sa.String(45), nullable=True),
        sa.Column("created_at", TIME, nullable=True, server_default=NOW),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.Index("idx_key_hash", "key_hash"),
        sa.Index("idx_user", "user_id"),
        **TABLE,
    )
    op.create_table(
        "login_activity",
        _id(),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ip_address", sa.String(45), nullable=False),
        sa.Column("user_agent", sa.Text, nullable=True),
        sa.Column("location_country", sa.String(2), nullable=True),
        sa.Column("location_city", sa.String(100), nullable=True),
        sa.Column("provider", sa.String(50), nullable=True),
        sa.Column("success", sa.Boolean, nullable=True, server_default=sa.true()),
        sa.Column("failure_reason", sa.String(100), nullable=True),
        sa.Column("created_at", TIME, nullable=True, server_default=NOW),
        sa.Index("idx_user", "user_id"),
        sa.Index("idx_created", "created_at"),
        sa.Index("idx_ip", "ip_address"),
        **TABLE,
    )
    system_settings = op.create_table(
        "system_settings",
        _id(),
        sa.Column("key", sa.String(100), nullable=False, unique=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("type", sa.Enum("string", "integer", "boolean", "json"), nullable=True, server_default="string"),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", TIME, nullable=True, server_default=NOW),
        sa.Column("updated_at", TIME, nullable=True, server_default=NOW_ON_UPDATE),
        sa.Index("idx_key", "key"),
        **TABLE,
    )
    op.create_table(
        "resource_quotas",
        _id(),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("organization_id", ID, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True),
        sa.Column("resource_type", sa.String(50), nullable=False),
        sa.Column("quota_limit", sa.Integer, nullable=False),
        sa.Column("current_usage", sa.Integer, nullable=True, server_default="0"),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TIME, nullable=True, server_default=NOW),
        sa.Column("updated_at", TIME, nullable=True, server_default=NOW_ON_UPDATE),
        sa.UniqueConstraint("user_id", "resource_type", name="unique_user_resource"),
        sa.UniqueConstraint("organization_id", "resource_type", name="unique_org_resource"),
        sa.Index("idx_resource_type", "resource_type"),
        **TABLE,
    )
    op.create_table(
        "quota_reservations",
        _id(),
        sa.Column("reservation_key", sa.String(100), nullable=False),
        sa.Column("quota_id", ID, sa.ForeignKey("resource_quotas.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("organization_id", ID, nullable=True),
        sa.Column("resource_type", sa.String(50), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("status", sa.Enum("reserved", "released"), nullable=False, server_default="reserved"),
        sa.Column("created_at", TIME, nullable=False, server_default=NOW),
        sa.Column("released_at", TIME, nullable=True),
        sa.UniqueConstraint("reservation_key", name="unique_reservation_key"),
        sa.Index("idx_quota_status", "quota_id", "status"),
        **TABLE,
    )
    op.bulk_insert(
        system_settings,
        [
            {"key": "maintenance_mode", "value": "false", "type": "boolean", "description": "Enable maintenance mode"},
            {
                "key": "signup_enabled",
                "value": "true",
                "type": "boolean",
                "description": "Allow new user registrations",
            },
            {
                "key": "default_server_limit",
                "value": "10",
                "type": "integer",
                "description": "Default server limit per user",
            },
            {
                "key": "billing_cycle_day",
                "value": "1",
                "type": "integer",
                "description": "Day of month for billing cycle",
            },
            {
                "key": "support_email",
                "value": "support@cloudplatform.local",
                "type": "string",
                "description": "Support email address",
            },
        ],
    )


def downgrade() -> None:
    for table in (
        "quota_reservations",
        "resource_quotas",
        "system_settings",
        "login_activity",
        "api_keys",
        "organization_users",
        "organizations",
        "users",
    ):
        op.drop_table(table)
