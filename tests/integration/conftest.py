"""Integration tests run against the real MariaDB and Kafka that `cloudctl up --infra-only` starts."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudctl.proc import port_open
from cloudctl.stack import KAFKA_BOOTSTRAP, Secrets, database_name, database_user
from cpshared.topics import Topic
from tests.integration.backbone import ScratchDatabase, scratch_database, scratch_topic


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def infrastructure_running() -> None:
    host, port = KAFKA_BOOTSTRAP.split(":")
    if not port_open("127.0.0.1", 3306) or not port_open(host, int(port)):
        pytest.fail("MariaDB and Kafka are not running: run `cloudctl up --infra-only` (make test does)")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return KAFKA_BOOTSTRAP


@pytest.fixture(scope="session")
def passwords(paths: LocalPaths) -> dict[str, str]:
    return Secrets(paths).database_passwords()


@pytest.fixture
def admin(paths: LocalPaths) -> Iterator[pymysql.connections.Connection]:
    conn = MariaDB(paths.root).admin_connect()
    try:
        yield conn
    finally:
        conn.close()


def connect_as(service: str, passwords: dict[str, str], database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host="127.0.0.1",
        port=3306,
        user=database_user(service),
        password=passwords[service],
        database=database if database is not None else database_name(service),
        autocommit=True,
    )


@pytest.fixture
def scratch_db(paths: LocalPaths) -> Iterator[ScratchDatabase]:
    yield from scratch_database(paths)


@pytest.fixture
def scratch_stream() -> Iterator[Topic]:
    yield from scratch_topic()
