"""Runs every service's Alembic migrations against its own database."""

from __future__ import annotations

from cpshared.migrations import migrations_dir, upgrade


def migrate(service: str, database_url: str, revision: str = "head") -> None:
    upgrade(service, migrations_dir(service), database_url, revision)
