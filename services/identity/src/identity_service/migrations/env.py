"""Alembic environment of the identity service (version table alembic_version_identity)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
