"""The identity tables as SQLAlchemy Core sees them (the migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("email_verified_at", TIME),
    sa.Column("password", sa.String(255)),
    sa.Column("role", sa.String(20)),
    sa.Column("status", sa.String(20)),
    sa.Column("two_factor_secret", sa.Text),
    sa.Column("two_factor_recovery_codes", sa.Text),
    sa.Column("two_factor_confirmed_at", TIME),
    sa.Column("company_name", sa.String(255)),
    sa.Column("tax_id", sa.String(50)),
    sa.Column("phone", sa.String(20)),
    sa.Column("address_line1", sa.String(255)),
    sa.Column("address_line2", sa.String(255)),
    sa.Column("city", sa.String(100)),
    sa.Column("state", sa.String(100)),
    sa.Column("postal_code", sa.String(20)),
    sa.Column("country", sa.String(2)),
    sa.Column("timezone", sa.String(50)),
    sa.Column("locale", sa.String(10)),
    sa.Column("last_login_at", TIME),
    sa.Column("last_login_ip", sa.String(45)),
    sa.Column("failed_logins", sa.Integer, nullable=False),
    sa.Column("locked_until", TIME),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("deleted_at", TIME),
)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("slug", sa.String(255), nullable=False),
    sa.Column("owner_id", ID, nullable=False),
    sa.Column("billing_email", sa.String(255)),
    sa.Column("tax_id", sa.String(50)),
    sa.Column("country", sa.String(2)),
    sa.Column("status", sa.String(20)),
    sa.Column("trial_ends_at", TIME),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
)

organization_users = sa.Table(
    "organization_users",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("organization_id", ID, nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("role", sa.String(20)),
    sa.Column("permissions", sa.JSON),
    sa.Column("invited_by", ID),
    sa.Column("joined_at", TIME),
)

login_activity = sa.Table(
    "login_activity",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID),
    sa.Column("ip_address", sa.String(45), nullable=False),
    sa.Column("user_agent", sa.Text),
    sa.Column("success", sa.Boolean),
    sa.Column("failure_reason", sa.String(100)),
    sa.Column("created_at", TIME),
)

# Failed credential checks per (account, client address): migrations/versions/0008_sign_in_failures.py.
sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("subject", sa.CHAR(64), primary_key=True),
    sa.Column("ip_address", sa.String(45), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failed_at", TIME),
    sa.Column("blocked_until", TIME),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("key_hash", sa.String(255), nullable=False),
    sa.Column("last_four", sa.String(4)),
    sa.Column("permissions", sa.JSON),
    sa.Column("rate_limit", sa.Integer),
    sa.Column("expires_at", TIME),
    sa.Column("last_used_at", TIME),
    sa.Column("last_used_ip", sa.String(45)),
    sa.Column("created_at", TIME),
    sa.Column("revoked_at", TIME),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
)

system_settings = sa.Table(
    "system_settings",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("value", sa.Text),
    sa.Column("type", sa.String(10)),
    sa.Column("description", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
)

resource_quotas = sa.Table(
    "resource_quotas",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID),
    sa.Column("organization_id", ID),
    sa.Column("resource_type", sa.String(50), nullable=False),
    sa.Column("quota_limit", sa.Integer, nullable=False),
    sa.Column("current_usage", sa.Integer),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
)

quota_reservations = sa.Table(
    "quota_reservations",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("reservation_key", sa.String(100), nullable=False),
    sa.Column("quota_id", ID, nullable=False),
    sa.Column("user_id", ID),
    sa.Column("organization_id", ID),
    sa.Column("resource_type", sa.String(50), nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("released_at", TIME),
)

email_verifications = sa.Table(
    "email_verifications",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("used_at", TIME),
)

password_resets = sa.Table(
    "password_resets",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("used_at", TIME),
)

user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("refresh_hash", sa.String(64), nullable=False),
    sa.Column("ip_address", sa.String(45), nullable=False),
    sa.Column("user_agent", sa.Text),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("refreshed_at", TIME),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("revoked_at", TIME),
    sa.Column("version", sa.Integer, nullable=False),
)

organization_invitations = sa.Table(
    "organization_invitations",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("organization_id", ID, nullable=False),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("permissions", sa.JSON),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("invited_by", ID),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("accepted_by", ID),
    sa.Column("accepted_at", TIME),
    sa.Column("revoked_at", TIME),
)

billing_holds = sa.Table(
    "billing_holds",
    metadata,
    sa.Column("account_type", mysql.ENUM("user", "organization"), primary_key=True),
    sa.Column("account_id", ID, primary_key=True, autoincrement=False),
    sa.Column("previous_status", sa.String(20), nullable=False),
    sa.Column("invoice_id", ID, nullable=False),
    sa.Column("reason", sa.String(1000), nullable=False),
    sa.Column("suspended_at", TIME, nullable=False),
)
