"""Retention of server_metrics on a controlled clock: the keeper's pass makes day partitions
ahead, drops the days older than the retention whole (DROP PARTITION, no row deleted one by
one), counts the rows it removed, and keeps every row of the days inside the window. The
operator's command (``python -m monitoring_service.entrypoints.cli retention``, which
``cloudctl retention run`` runs) does the same pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.db import database_lock, make_engine
from cpshared.migrations import migrations_dir, upgrade
from cpshared.retention import ROWS_REMOVED, run_retention
from monitoring_service.adapters.tables import alert_history
from monitoring_service.bootstrap import Monitoring
from monitoring_service.config import RetentionSettings
from monitoring_service.entrypoints.retention_keeper import alert_history_retention, retention_pass
from monitoring_service.service_layer.retention import RetentionReport
from tests.clocks import installed_clock

SETTINGS = RetentionSettings(
    metrics_retention_days=30, metrics_partitions_ahead_days=7, alert_history_retention_days=60
)


@pytest.fixture
def database(paths: LocalPaths) -> Iterator[tuple[str, Engine]]:
    with MariaDB(paths.root).scratch_database("cp_test_mo_ret") as url:
        upgrade("monitoring", migrations_dir("monitoring"), url)
        engine = make_engine(url, pool_size=2)
        try:
            yield url, engine
        finally:
            engine.dispose()


def _run(monitoring: Monitoring) -> RetentionReport:
    report = retention_pass(monitoring, SETTINGS)
    assert report is not None
    return report


def _partitions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT partition_name FROM information_schema.partitions WHERE table_schema = DATABASE() "
                    "AND table_name = 'server_metrics' ORDER BY partition_ordinal_position"
                )
            ).scalars()
        )


def _rows_by_day(engine: Engine) -> dict[date, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT DATE(recorded_at), COUNT(*) FROM server_metrics GROUP BY DATE(recorded_at)")
        ).all()
    return {row[0]: int(row[1]) for row in rows}


def _store(engine: Engine, first: date, days: int) -> None:
    """Samples of two servers every six hours of ``days`` days from ``first`` (the last at 23:59:59.5)."""
    rows = []
    for n in range(days):
        midnight = datetime.combine(first + timedelta(days=n), datetime.min.time())
        for server_id in (1, 2):
            for at in (midnight, midnight + timedelta(hours=6), midnight + timedelta(hours=23, seconds=3599.5)):
                rows.append({"server_id": server_id, "cpu_usage": 12.5, "recorded_at": at})
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO server_metrics (server_id, cpu_usage, recorded_at) "
                "VALUES (:server_id, :cpu_usage, :recorded_at)"
            ),
            rows,
        )


def test_retention_drops_old_day_partitions_and_keeps_every_row_inside_the_window(
    database: tuple[str, Engine],
) -> None:
    _, engine = database
    monitoring = Monitoring(engine)
    assert _partitions(engine) == ["pmax"]
    with installed_clock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC)) as clock:
        made = _run(monitoring)
        assert made.created == [f"p202603{d:02d}" for d in range(1, 9)] and made.dropped == []
        _store(engine, date(2026, 3, 1), 8)
        assert _rows_by_day(engine) == {date(2026, 3, 1) + timedelta(days=n): 6 for n in range(8)}

        # Every day the keeper runs: partitions stay ahead, nothing is within 30 days yet.
        for _ in range(30):
            clock.advance(timedelta(days=1))
            assert _run(monitoring).dropped == []
        assert _partitions(engine)[-2:] == ["p20260407", "pmax"]

        # Two days later, 2026-04-02 10:00: the cutoff is 2026-03-03 10:00; 1 and 2 March end before it.
        clock.advance(timedelta(days=2))
        before = ROWS_REMOVED.labels("monitoring", "server_metrics")._value.get()
        report = _run(monitoring)
    assert report.kept_from == datetime(2026, 3, 3, 10, 0)
    assert report.dropped == ["p20260301", "p20260302"] and report.rows_removed == 12
    assert ROWS_REMOVED.labels("monitoring", "server_metrics")._value.get() - before == 12
    assert "p20260301" not in _partitions(engine) and _partitions(engine)[0] == "p20260303"
    # The day the cutoff falls in is kept whole (a partition is dropped only once it has ended
    # before the cutoff), and so is every day after it.
    assert _rows_by_day(engine) == {date(2026, 3, 1) + timedelta(days=n): 6 for n in range(2, 8)}


def test_a_long_pause_makes_the_cutoffs_day_the_first_new_partition(database: tuple[str, Engine]) -> None:
    _, engine = database
    monitoring = Monitoring(engine)
    with installed_clock(datetime(2026, 1, 10, 0, 0, tzinfo=UTC)) as clock:
        _run(monitoring)
        _store(engine, date(2026, 1, 10), 2)
        clock.advance(timedelta(days=90))  # 2026-04-10: the cutoff is 2026-03-11
        report = _run(monitoring)
    assert report.created[0] == "p20260311" and report.created[-1] == "p20260417"
    assert report.rows_removed == 12 and _rows_by_day(engine) == {}
    assert _partitions(engine)[0] == "p20260311"


def test_the_operators_command_runs_the_same_pass(database: tuple[str, Engine]) -> None:
    url, engine = database
    env = os.environ | {"CP_DATABASE_URL": url, "CP_METRICS_PARTITIONS_AHEAD_DAYS": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "monitoring_service.entrypoints.cli", "retention"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer, alerts = (json.loads(line) for line in done.stdout.splitlines())
    assert answer["table"] == "server_metrics" and answer["partitions_created"] == 4
    assert answer["rows_removed"] == 0 and len(_partitions(engine)) == 5
    assert alerts == {"table": "alert_history", "rows_removed": 0}


def test_resolved_alerts_older_than_the_retention_are_deleted_firing_ones_kept(
    database: tuple[str, Engine],
) -> None:
    _, engine = database
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    rows = [  # (id, status, triggered, resolved)
        (1, "resolved", now - timedelta(days=70), now - timedelta(days=61)),  # resolved 61 days ago: goes
        (2, "resolved", now - timedelta(days=70), now - timedelta(days=59)),  # 59 days: stays
        (3, "triggered", now - timedelta(days=90), None),  # still firing: stays however old
        (4, "acknowledged", now - timedelta(days=90), None),
    ]
    with engine.begin() as conn:
        conn.execute(
            alert_history.insert(),
            [
                {
                    "id": alert_id,
                    "alert_rule_id": 5,
                    "resource_type": "server",
                    "resource_id": 7,
                    "status": status,
                    "triggered_at": triggered.replace(tzinfo=None),
                    "resolved_at": resolved.replace(tzinfo=None) if resolved else None,
                }
                for alert_id, status, triggered, resolved in rows
            ],
        )
    monitoring = Monitoring(engine)
    before = ROWS_REMOVED.labels("monitoring", "alert_history")._value.get()
    with installed_clock(now):
        assert run_retention(engine, alert_history_retention(monitoring, SETTINGS)) == 1
        assert run_retention(engine, alert_history_retention(monitoring, SETTINGS)) == 0
    assert ROWS_REMOVED.labels("monitoring", "alert_history")._value.get() - before == 1
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(alert_history.c.id)).scalars()) == [2, 3, 4]


def test_a_run_while_another_process_holds_the_tables_lock_changes_nothing(database: tuple[str, Engine]) -> None:
    _, engine = database
    monitoring = Monitoring(engine)
    with database_lock(engine, "retention_server_metrics") as held:
        assert held
        assert retention_pass(monitoring, SETTINGS) is None
    assert _partitions(engine) == ["pmax"]
