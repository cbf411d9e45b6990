"""server_metrics on MariaDB: aggregates of a window computed in SQL, and the day partitions.

The table is partitioned by RANGE COLUMNS (recorded_at): day partitions ``pYYYYMMDD`` (rows
before the next midnight, UTC) followed by the catch-all ``pmax``. New days are split off
``pmax`` (REORGANIZE, cheap while it is empty: nothing is written that far ahead); an old day
is removed with DROP PARTITION, which frees its rows at once without deleting them one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitoring_service.adapters.tables import server_metrics as t
from monitoring_service.domain.metrics import MetricsQuery
from monitoring_service.domain.retention import DayPartition
from monitoring_service.domain.traffic import HOUR, HourTraffic, minute_bytes
from monitoring_service.service_layer.ports import Bucket, MetricsStore, Usage

CATCH_ALL = "pmax"
EPOCH = datetime(1970, 1, 1)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


TABLE = "server_metrics"


class SqlMetricsStore(MetricsStore):
    def __init__(self, session: Session) -> None:
        self.session = session

    def aggregate(self, query: MetricsQuery) -> list[Bucket]:
        start = query.start.astimezone(UTC).replace(tzinfo=None)
        end = query.end.astimezone(UTC).replace(tzinfo=None)
        bucket = sa.func.floor(sa.func.timestampdiff(sa.text("SECOND"), start, t.c.recorded_at) / query.step)
        columns = query.columns
        statement = (
            sa.select(bucket.label("bucket"), *(sa.func.avg(t.c[c.name]).label(c.name) for c in columns))
            .where(t.c.server_id == query.server_id, t.c.recorded_at >= start, t.c.recorded_at <= end)
            .group_by(sa.text("bucket"))
            .order_by(sa.text("bucket"))
        )
        origin = query.start.timestamp()
        answer = []
        for row in self.session.execute(statement):
            m = row._mapping
            averages = {c.name: (Decimal(m[c.name]) if m[c.name] is not None else None) for c in columns}
            answer.append(Bucket(origin + int(m["bucket"]) * query.step, averages))
        return answer

    def outgoing_by_hour(self, since: datetime, until: datetime) -> list[HourTraffic]:
        hour = sa.func.timestampdiff(sa.text("HOUR"), EPOCH, t.c.recorded_at)
        statement = (
            sa.select(t.c.server_id, hour.label("hour"), sa.func.sum(t.c.network_out_mbps).label("mbps"))
            .where(t.c.recorded_at >= _naive(since), t.c.recorded_at < _naive(until))
            .group_by(t.c.server_id, sa.text("hour"))
        )
        return [
            HourTraffic(int(row.server_id), EPOCH.replace(tzinfo=UTC) + int(row.hour) * HOUR, minute_bytes(row.mbps))
            for row in self.session.execute(statement)
            if row.mbps is not None
        ]

    def averages(self, since: datetime, until: datetime) -> dict[int, Usage]:
        statement = (
            sa.select(
                t.c.server_id,
                sa.func.avg(t.c.cpu_usage).label("cpu"),
                sa.func.avg(t.c.memory_usage_percent).label("memory"),
            )
            .where(t.c.recorded_at >= _naive(since), t.c.recorded_at < _naive(until))
            .group_by(t.c.server_id)
        )
        return {
            int(row.server_id): Usage(
                None if row.cpu is None else Decimal(row.cpu), None if row.memory is None else Decimal(row.memory)
            )
            for row in self.session.execute(statement)
        }

    def day_partitions(self) -> list[DayPartition]:
        names = self.session.execute(
            sa.text(
                "SELECT partition_name FROM information_schema.partitions "
                "WHERE table_schema = DATABASE() AND table_name = :table AND partition_name IS NOT NULL "
                "ORDER BY partition_ordinal_position"
            ),
            {"table": TABLE},
        ).scalars()
        return [p for p in (DayPartition.named(str(name)) for name in names) if p is not None]

    def add_partitions(self, days: Sequence[DayPartition]) -> None:
        if not days:
            return
        parts = ", ".join(f"PARTITION {day.name} VALUES LESS THAN ('{day.bound:%Y-%m-%d %H:%M:%S}')" for day in days)
        self.session.execute(
            sa.text(
                # Partition names and bounds are ones this module made, never input.
                f"ALTER TABLE {TABLE} REORGANIZE PARTITION {CATCH_ALL} INTO "
                f"({parts}, PARTITION {CATCH_ALL} VALUES LESS THAN (MAXVALUE))"
            )
        )

    def drop_partition(self, day: DayPartition) -> int:
        rows = int(
            self.session.execute(sa.text(f"SELECT COUNT(*) FROM {TABLE} PARTITION ({day.name})")).scalar_one()  # noqa: S608
        )
        self.session.execute(sa.text(f"ALTER TABLE {TABLE} DROP PARTITION {day.name}"))
        return rows
