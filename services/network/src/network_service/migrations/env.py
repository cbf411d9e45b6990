"""Alembic environment of the network service (version table alembic_version_network)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
