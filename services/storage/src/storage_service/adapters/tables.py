"""The storage tables as SQLAlchemy Core sees them (the migrations create them). The seed's
``volumes``, ``snapshots`` and ``backups`` (another service's row is a plain id), and the
actions the worker carries out."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from cpshared.action_ids import STORAGE_FIRST_ACTION_ID

metadata = sa.MetaData()

ID = mysql.BIGINT(unsigned=True)
TIME = mysql.DATETIME(fsp=6)

ACTION_IDS_START = STORAGE_FIRST_ACTION_ID
"""Storage's action ids start here, above any compute action id: ``/v1/actions/{id}`` (one
family for every service's actions, as Hetzner has it) knows whose an id is."""

volumes = sa.Table(
    "volumes",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("server_id", ID),
    sa.Column("hetzner_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("size_gb", sa.Integer, nullable=False),
    sa.Column("datacenter_id", ID, nullable=False),
    sa.Column("status", sa.String(20)),
    sa.Column("format", sa.String(20)),
    sa.Column("labels", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("updated_at", TIME),
    sa.Column("deleted_at", TIME),
    sa.Column("location", sa.String(10), nullable=False),
    sa.Column("protection_delete", sa.Boolean, nullable=False),
    sa.Column("locked", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("metered_until", TIME),  # migration 0004: the metering cursor
    sa.Column("blocked", sa.Boolean, nullable=False),  # migration 0005: the account is suspended
    sa.Column("erased", sa.Boolean, nullable=False),  # migration 0005: delete once its action ends
)

volume_size_periods = sa.Table(
    "volume_size_periods",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("volume_id", ID, nullable=False),
    sa.Column("size_gb", sa.Integer, nullable=False),
    sa.Column("started_at", TIME, nullable=False),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("hetzner_id", sa.BigInteger, nullable=False),
    sa.Column("resource_type", sa.String(10), nullable=False),
    sa.Column("resource_id", ID, nullable=False),
    sa.Column("name", sa.String(255)),
    sa.Column("description", sa.Text),
    sa.Column("size_gb", sa.Numeric(10, 2)),
    sa.Column("status", sa.String(20)),
    sa.Column("labels", sa.JSON),
    sa.Column("created_at", TIME),
    sa.Column("deleted_at", TIME),
    sa.Column("metered_until", TIME),  # migration 0006: the metering cursor
)

backups = sa.Table(
    "backups",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("server_id", ID, nullable=False),
    sa.Column("hetzner_id", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(10)),
    sa.Column("description", sa.Text),
    sa.Column("size_gb", sa.Numeric(10, 2)),
    sa.Column("status", sa.String(20)),
    sa.Column("created_at", TIME),
    sa.Column("expires_at", TIME),
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("progress", sa.Integer, nullable=False),
    sa.Column("started", TIME, nullable=False),
    sa.Column("finished", TIME),
    sa.Column("error_code", sa.String(100)),
    sa.Column("error_message", sa.Text),
    sa.Column("volume_id", ID, nullable=False),
    sa.Column("server_id", ID),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("upstream_action_id", sa.BigInteger),
    sa.Column("params", sa.JSON),
    sa.Column("version", sa.Integer, nullable=False),
)

# Serializes attaches to one server (a row per server that ever had a volume): the limit of 16
# volumes per server is counted under its lock.
server_slots = sa.Table(
    "server_slots",
    metadata,
    sa.Column("server_id", ID, primary_key=True, autoincrement=False),
)

# Migration 0006: storage's projection of compute's servers, as backups need them.
backup_servers = sa.Table(
    "backup_servers",
    metadata,
    sa.Column("server_id", ID, primary_key=True, autoincrement=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("organization_id", ID),
    sa.Column("upstream_id", sa.BigInteger, nullable=False),
    sa.Column("backups_enabled", sa.Boolean, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
)
