"""Runs every service's Alembic migrations against its own database."""

from __future__ import annotations

import importlib
from pathlib import Path

from cpshared.migrations import upgrade


def migrations_dir(service: str) -> Path:
    package = importlib.import_module(f"{service}_service")
    if package.__file__ is None:
        raise SystemExit(f"{service}_service is not installed as a regular package")
    return Path(package.__file__).resolve().parent / "migrations"


def migrate(service: str, database_url: str, revision: str = "head") -> None:
    upgrade(service, migrations_dir(service), database_url, revision)
