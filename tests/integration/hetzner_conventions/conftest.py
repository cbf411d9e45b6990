"""A scratch MariaDB database for the label SQL of the Hetzner conventions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.db import make_engine


@pytest.fixture
def engine(paths: LocalPaths) -> Iterator[sa.Engine]:
    with MariaDB(paths.root).scratch_database("cp_test_labels") as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
