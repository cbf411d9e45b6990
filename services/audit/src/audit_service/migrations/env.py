"""Alembic environment of the audit service (version table alembic_version_audit)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
