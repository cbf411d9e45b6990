"""The keeper's and reconcile's MariaDB named locks are per billing database: named locks are
server-wide, so with a bare name two billing databases on one server (two stacks, or tests
running side by side on scratch databases) refused each other's reconciliation and skipped
each other's keeper rounds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.bootstrap import Billing
from billing_service.config import BillingRules, ScheduleSettings
from billing_service.entrypoints import keeper
from billing_service.entrypoints import reconcile as reconciling
from billing_service.entrypoints.keeper import BillingKeeper
from billing_service.entrypoints.reconcile import ReconcileBusy, reconcile
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.db import current_database_lock_name, make_engine
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic
from tests.integration.backbone import KAFKA

OCTOBER = date(2026, 10, 1)


@pytest.fixture
def other_billing_db(paths: LocalPaths) -> Iterator[Engine]:
    with MariaDB(paths.root).scratch_database("cp_test_bill2") as url:
        upgrade("billing", migrations_dir("billing"), url)
        engine = make_engine(url, pool_size=2)
        try:
            yield engine
        finally:
            engine.dispose()


def _held(conn: sa.Connection, prefix: str) -> None:
    name = current_database_lock_name(conn, prefix)
    assert conn.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1


def test_a_reconciliation_of_another_database_does_not_block_this_one(
    billing_db: tuple[str, Engine], other_billing_db: Engine, scratch_stream: Topic
) -> None:
    _, engine = billing_db
    with other_billing_db.connect() as other:
        _held(other, reconciling.LOCK)  # a reconciliation runs against the other database
        report = asyncio.run(reconcile(engine, KAFKA, OCTOBER, BillingRules(), topics=(scratch_stream,)))
        assert report.clean
    with engine.connect() as same:
        _held(same, reconciling.LOCK)  # one against this database: refused
        with pytest.raises(ReconcileBusy):
            asyncio.run(reconcile(engine, KAFKA, OCTOBER, BillingRules(), topics=(scratch_stream,)))


def test_a_keeper_of_another_database_does_not_skip_this_ones_round(
    billing_db: tuple[str, Engine], other_billing_db: Engine
) -> None:
    _, engine = billing_db
    this = BillingKeeper(Billing(engine, BillingRules()), ScheduleSettings())
    with other_billing_db.connect() as other:
        _held(other, keeper.LOCK)
        assert not this.round().skipped
    with engine.connect() as same:
        _held(same, keeper.LOCK)
        assert this.round().skipped
