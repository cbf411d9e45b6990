"""Alembic environment of the billing service (version table alembic_version_billing)."""

from cpshared.migrations import run_env

run_env(target_metadata=None)
