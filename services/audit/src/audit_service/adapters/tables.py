"""The audit tables as SQLAlchemy Core sees them (migrations/versions/0003_audit_log.py creates them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)

audit_logs = sa.Table(
    "audit_logs",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID),
    sa.Column("organization_id", ID),
    sa.Column("action", sa.String(255), nullable=False),
    sa.Column("resource_type", sa.String(50)),
    sa.Column("resource_id", mysql.BIGINT()),
    sa.Column("old_values", sa.JSON),
    sa.Column("new_values", sa.JSON),
    sa.Column("ip_address", sa.String(45)),
    sa.Column("user_agent", sa.Text),
    sa.Column("api_key_id", ID),
    sa.Column("request_id", sa.String(36)),
    sa.Column("response_code", sa.Integer),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("event_id", sa.BINARY(16), nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("stream", sa.String(100), nullable=False),
    sa.Column("chain_id", sa.String(120), nullable=False),
    sa.Column("chain_seq", ID, nullable=False),
    sa.Column("prev_hash", sa.CHAR(64), nullable=False),
    sa.Column("row_hash", sa.CHAR(64), nullable=False),
)

audit_chain_heads = sa.Table(
    "audit_chain_heads",
    metadata,
    sa.Column("chain_id", sa.String(120), primary_key=True),
    sa.Column("chain_seq", ID, nullable=False),
    sa.Column("row_hash", sa.CHAR(64), nullable=False),
)

audit_digests = sa.Table(
    "audit_digests",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("heads", sa.JSON, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.CHAR(64), nullable=False),
)

audit_anchors = sa.Table(
    "audit_anchors",
    metadata,
    sa.Column("chain_id", sa.String(120), primary_key=True),
    sa.Column("chain_seq", ID, nullable=False),
    sa.Column("row_hash", sa.CHAR(64), nullable=False),
    sa.Column("pruned_at", TIME, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.CHAR(64), nullable=False),
)
