"""Alembic plumbing shared by every service.

Each service keeps its own migrations inside its package and its own version table
(``alembic_version_<service>``), so two services could even share a database server
without stepping on each other's history.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

DATABASE_URL_ENV = "CP_DATABASE_URL"


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def alembic_config(service: str, migrations_dir: Path, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    # ConfigParser interpolation: a '%' in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.set_main_option("version_table", version_table(service))
    cfg.attributes["service"] = service
    return cfg


def migrations_dir(service: str) -> Path:
    """The migrations folder shipped inside the ``<service>_service`` package."""
    package = importlib.import_module(f"{service}_service")
    if package.__file__ is None:
        raise SystemExit(f"{service}_service is not installed as a regular package")
    return Path(package.__file__).resolve().parent / "migrations"


def upgrade(service: str, migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Migrate to ``revision``, one migrator at a time.

    Several replicas may start at once (Kubernetes init containers) and Alembic takes no
    lock of its own on MySQL, so a MariaDB named lock serialises them: the second one waits,
    then finds the schema at head and does nothing.
    """
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as lock_conn:
            lock_name = f"cp-migrate:{service}"
            got = lock_conn.execute(sa.text("SELECT GET_LOCK(:name, 300)"), {"name": lock_name}).scalar()
            if got != 1:
                raise RuntimeError(f"{service}: another migration has held the lock for 5 minutes")
            try:
                command.upgrade(alembic_config(service, migrations_dir, database_url), revision)
            finally:
                lock_conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": lock_name})
    finally:
        engine.dispose()


def head_revision(migrations_dir: Path) -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(service: str, engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": version_table(service)})
        return ctx.get_current_revision()


def run_env(target_metadata: sa.MetaData | None = None) -> None:
    """The body of every service's ``migrations/env.py`` (online mode only)."""
    from alembic import context

    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url") or os.environ.get(DATABASE_URL_ENV)
    if not url:
        raise SystemExit(f"{DATABASE_URL_ENV} is not set: the migrations need the service's database URL")
    table = cfg.get_main_option("version_table")
    if not table:
        raise SystemExit("the alembic config names no version_table")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=table,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """``python -m cpshared.migrations upgrade <service>``: migrate with $CP_DATABASE_URL.

    The way containers and Kubernetes jobs migrate, where there is no cloudctl.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cpshared.migrations")
    parser.add_argument("command", choices=["upgrade"])
    parser.add_argument("service")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    url = os.environ.get(DATABASE_URL_ENV)
    if not url:
        parser.error(f"{DATABASE_URL_ENV} is not set")
    upgrade(args.service, migrations_dir(args.service), url, args.revision)
    print(f"{args.service}: migrated to {args.revision}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
