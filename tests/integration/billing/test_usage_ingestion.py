"""usage.recorded into usage_records: once per event id, prices snapshotted from the event;
identity's events into billing_accounts; and the billing consumer on the real Kafka, killed
again and again while 2,000 usage events (and their re-sends) flow, counts each exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import billing_accounts, usage_records
from cpshared.topics import Topic
from tests.integration.audit_log.test_audit_stream import subprocess_thread
from tests.integration.backbone import KAFKA
from tests.integration.billing.support import (
    OCTOBER,
    apply,
    hours,
    organization_created,
    profile_updated,
    server_hour,
    user_created,
)
from tests.integration.test_consumer_crashes import produce, wait_until

ROOT = Path(__file__).resolve().parents[3]
FACTORY = "tests.integration.billing.support:billing_from_env"


def usage_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(usage_records)).scalar_one())


def test_the_same_usage_event_counts_once_with_its_prices_snapshotted(billing_db: tuple[str, Engine]) -> None:
    _, engine = billing_db
    first = server_hour(1, OCTOBER)
    apply(engine, [first, first])  # a re-send in the same batch
    apply(engine, [first, server_hour(1, OCTOBER, price=("0.009000", "5.00"))])  # again, and metering re-emitting
    later = server_hour(1, OCTOBER + timedelta(hours=1), price=("0.009000", "5.00"))  # after a price change
    apply(engine, [later])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(usage_records).order_by(usage_records.c.recorded_at)).all()
    assert len(rows) == 2
    assert [(r.unit_price, r.price_monthly, r.total_cost) for r in rows] == [
        (Decimal("0.006000"), Decimal("3.79"), Decimal("0.006000")),
        (Decimal("0.009000"), Decimal("5.00"), Decimal("0.009000")),
    ]
    row = rows[0]
    assert uuid.UUID(bytes=row.event_id) == uuid.UUID(first.envelope.event_id)
    assert (row.user_id, row.organization_id, row.metric_type, row.quantity, row.billed) == (
        10,
        None,
        "compute_hours",
        Decimal(1),
        False,
    )
    assert row.metadata["product"] == "cx22" and row.metadata["location"] == "fsn1"
    assert row.metadata["event_id"] == first.envelope.event_id
    assert row.recorded_at == OCTOBER.replace(tzinfo=None)


def test_identity_events_make_billing_accounts(billing_db: tuple[str, Engine]) -> None:
    _, engine = billing_db
    apply(engine, [user_created(10), profile_updated(10, "fr", "FR12345678901"), organization_created(7, owner=10)])
    apply(engine, [profile_updated(10, "AT")])  # country only: the VAT id stays
    with engine.connect() as conn:
        rows = {(r.account_type, r.account_id): r for r in conn.execute(sa.select(billing_accounts))}
    user = rows[("user", 10)]
    assert (user.country, user.tax_id, user.status, user.owner_user_id) == ("AT", "FR12345678901", "active", 10)
    organization = rows[("organization", 7)]
    assert (organization.owner_user_id, organization.country, organization.currency) == (10, None, "EUR")


def test_killed_consumer_counts_every_usage_event_exactly_once(
    billing_db: tuple[str, Engine], scratch_stream: Topic, tmp_path: Path
) -> None:
    url, engine = billing_db
    events = [e for server in range(1, 21) for e in hours(server, OCTOBER, 100, topic=scratch_stream)]
    resent = events[::10]  # metering catching up after a crash sends some again
    flow = events[:1000] + resent + events[1000:] + resent
    consumer_name = f"billing-{scratch_stream.name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_SERVICE_NAME": "billing",
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": "0",
        "CP_DATABASE_URL": url,
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_TEST_TOPIC": scratch_stream.name,
        "CP_TEST_CONSUMER": consumer_name,
        "CP_CONSUMER_INSTANCE_ID": "billing-crash-test",
        "CP_CONSUMER_MAX_BATCH": "150",
    }
    log = (tmp_path / "consumer.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "cpshared.events.consumer_main", FACTORY], cwd=ROOT, env=env, stdout=log, stderr=log
        )

    async def send() -> None:
        await produce(flow, chunk=200, pause=0.3)

    process = start()
    kills = 0
    try:
        producer = subprocess_thread(send)
        while producer.is_alive() or kills < 4:
            time.sleep(1.5)
            if usage_count(engine) == 0 and kills == 0:
                continue  # let it join its group and apply something first
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            kills += 1
            process = start()
            if kills >= 8:
                break
        producer.join(60)
        wait_until(lambda: usage_count(engine) >= len(events), 120, "every usage event recorded")
        time.sleep(2)  # anything applied twice would show now
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()
    assert kills >= 4
    with engine.connect() as conn:
        assert usage_count(engine) == len(events) == 2000
        total = conn.execute(sa.select(sa.func.sum(usage_records.c.quantity))).scalar_one()
        assert total == Decimal(2000)
        per_server = conn.execute(
            sa.select(usage_records.c.resource_id, sa.func.count()).group_by(usage_records.c.resource_id)
        ).all()
    assert sorted(per_server) == [(server, 100) for server in range(1, 21)]
