"""Alembic environment of the compute service (version table alembic_version_compute)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
