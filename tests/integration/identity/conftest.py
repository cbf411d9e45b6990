"""A scratch database migrated with the identity migrations, and the service wired to it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.migrations import migrations_dir, upgrade
from identity_service.bootstrap import Identity, bootstrap


@pytest.fixture
def identity_url(paths: LocalPaths) -> Iterator[str]:
    name = f"cp_test_id_{uuid.uuid4().hex[:10]}"
    mariadb = MariaDB(paths.root)
    password = uuid.uuid4().hex
    mariadb.ensure_service_database(name, name[:32], password)
    url = f"mysql+pymysql://{name[:32]}:{password}@127.0.0.1:3306/{name}"
    upgrade("identity", migrations_dir("identity"), url)
    try:
        yield url
    finally:
        conn = mariadb.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(f"DROP USER IF EXISTS '{name[:32]}'@'127.0.0.1'")
                cur.execute(f"DROP USER IF EXISTS '{name[:32]}'@'localhost'")
        finally:
            conn.close()


@pytest.fixture
def identity(identity_url: str) -> Iterator[Identity]:
    app = bootstrap(identity_url, pool_size=10)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def engine(identity: Identity) -> sa.Engine:
    return identity.engine
