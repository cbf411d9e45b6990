"""What the monitoring tests share: the records of a service's outbox as Kafka would deliver
them, fed to monitoring's projection by the real projection runner (with its inbox)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cpshared.events.projection import BatchResult, ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from monitoring_service.entrypoints.projection import MonitoringProjection


def outbox_records(engine: Engine, *, after: int = 0) -> list[RawRecord]:
    """The outbox rows after id ``after``, as the relay publishes them (offset: the row's id)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox).where(outbox.c.id > after).order_by(outbox.c.id)).all()
    return [
        RawRecord(
            row.topic,
            0,
            int(row.id),
            row.message_key.encode(),
            bytes(row.envelope),
            tuple((str(k), str(v).encode()) for k, v in (row.headers or [])),
        )
        for row in rows
    ]


def project(monitoring_engine: Engine, records: list[RawRecord]) -> BatchResult:
    """Apply ``records`` to monitoring's projection in one batch, as its consumer does."""
    return ProjectionRunner(monitoring_engine, MonitoringProjection()).apply_batch(records)
