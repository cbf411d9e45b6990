"""The tamper-evident audit log.

- ``audit_logs``: every column of the seed (user, organization, action, resource type and
  id, old and new values, IP, user agent, API key id, request id, response code, duration,
  created_at), plus what makes it verifiable and replayable: the event it was made from
  (``event_id``, unique: an event is recorded once), its type and stream, and its place in
  a hash chain: one chain per stream partition (``chain_id`` "<topic>/<partition>"), rows
  numbered ``chain_seq`` 1, 2, ... in the partition's order, each ``row_hash`` an HMAC of
  the previous row's hash and the row's own content. A partition's order is the same on
  every replay, so a rebuild gives the same rows and the same chain heads.
- ``audit_chain_heads``: the last seq and hash of each chain (the projection's own state).
- ``audit_digests``: the heads of every chain, signed (HMAC-SHA256) at intervals: they
  anchor the chains, so rows cut off a chain's end are noticed, and pruning leaves the rest
  verifiable.
- ``audit_anchors``: per chain, the last row pruned by retention (seq and hash, signed):
  verification of a pruned chain starts from it.

created_at is the event's own time (when it happened), DATETIME(6) UTC like every table
of the platform; the seed's foreign keys to identity's tables cannot exist across service
databases, so the ids are plain columns.

Revision ID: audit_0003
Revises: audit_0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "audit_0003"
down_revision = "audit_0002"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)
TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "audit_logs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("organization_id", ID, nullable=True),
        sa.Column("action", sa.String(255), nullable=False),
        sa.Column("resource_type", sa.String(50), nullable=True),
        sa.Column("resource_id", mysql.BIGINT(), nullable=True),
        sa.Column("old_values", sa.JSON, nullable=True),
        sa.Column("new_values", sa.JSON, nullable=True),
        sa.Column("ip_address", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.Text, nullable=True),
        sa.Column("api_key_id", ID, nullable=True),
        sa.Column("request_id", sa.String(36), nullable=True),
        sa.Column("response_code", sa.Integer, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("event_id", sa.BINARY(16), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(100), nullable=False),
        sa.Column("chain_id", sa.String(120), nullable=False),
        sa.Column("chain_seq", ID, nullable=False),
        sa.Column("prev_hash", sa.CHAR(64), nullable=False),
        sa.Column("row_hash", sa.CHAR(64), nullable=False),
        sa.UniqueConstraint("chain_id", "chain_seq", name="uq_audit_chain_position"),
        sa.Index("idx_audit_user", "user_id", "created_at"),
        sa.Index("idx_audit_organization", "organization_id", "created_at"),
        sa.Index("idx_audit_action", "action"),
        sa.Index("idx_audit_resource", "resource_type", "resource_id"),
        sa.Index("idx_audit_created_at", "created_at"),
        sa.Index("idx_audit_request_id", "request_id"),
        **TABLE,
    )
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain_id", sa.String(120), primary_key=True),
        sa.Column("chain_seq", ID, nullable=False),
        sa.Column("row_hash", sa.CHAR(64), nullable=False),
        **TABLE,
    )
    op.create_table(
        "audit_digests",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("heads", sa.JSON, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.CHAR(64), nullable=False),
        **TABLE,
    )
    op.create_table(
        "audit_anchors",
        sa.Column("chain_id", sa.String(120), primary_key=True),
        sa.Column("chain_seq", ID, nullable=False),
        sa.Column("row_hash", sa.CHAR(64), nullable=False),
        sa.Column("pruned_at", TIME, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.CHAR(64), nullable=False),
        **TABLE,
    )


def downgrade() -> None:
    for table in ("audit_anchors", "audit_digests", "audit_chain_heads", "audit_logs"):
        op.drop_table(table)
