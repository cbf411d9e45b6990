"""Alembic environment of the storage service (version table alembic_version_storage)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
