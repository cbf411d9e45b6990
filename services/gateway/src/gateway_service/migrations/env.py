"""Alembic environment of the gateway (version table alembic_version_gateway)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
