"""Alembic environment of the monitoring service (version table alembic_version_monitoring)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
