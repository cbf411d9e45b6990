"""Alembic environment of the support service (version table alembic_version_support)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
