"""compute-consumer on the real Kafka: the consumer process (cpshared.events.consumer_main)
reads user.suspended from a scratch stream and suspends the user's servers in compute's
database, once, even when the event is delivered twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from cloudplatform.identity.v1 import events_pb2 as identity_pb
from compute_service.adapters import tables as t
from compute_service.bootstrap import Compute
from compute_service.domain.servers import Server
from compute_service.service_layer import catalog
from cpshared.clock import utcnow
from cpshared.events import catalog as events
from cpshared.events.envelope import new_event
from cpshared.topics import Topic
from tests.integration.backbone import KAFKA
from tests.integration.test_consumer_crashes import produce, wait_until

ROOT = Path(__file__).resolve().parents[3]


def _running_server(compute: Compute, user_id: int, name: str) -> int:
    with compute.uow() as uow:
        server_type, datacenter, image = uow.servers.catalog_choice("cx22", "fsn1", "ubuntu-24.04")
        server = Server(
            id=0,
            user_id=user_id,
            organization_id=None,
            name=name,
            status="running",
            server_type_id=server_type.id,
            datacenter_id=datacenter.id,
            image_id=image.id,
        )
        uow.servers.add(server, utcnow())
        uow.commit()
    return server.id


def _stop_actions(compute: Compute) -> list[int]:
    with compute.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.actions.c.server_id).where(t.actions.c.command == "stop_server").order_by(t.actions.c.id)
            ).scalars()
        )


def test_the_consumer_process_suspends_a_users_servers_once_from_the_stream(
    compute: Compute, compute_url: str, scratch_stream: Topic, tmp_path: Path
) -> None:
    catalog.sync_catalog(compute.catalog_source(), compute.uow())
    mine = [_running_server(compute, 42, f"web-{n}") for n in range(2)]
    theirs = _running_server(compute, 43, "other")
    suspended = new_event(
        events.USER_SUSPENDED,
        producer="identity",
        aggregate_id=42,
        aggregate_version=3,
        payload=identity_pb.UserStatusChanged(user_id=42, old_status="active", new_status="suspended"),
        topic=scratch_stream,
    )
    asyncio.run(produce([suspended, suspended]))  # delivered twice, as after a relay's retry
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_SERVICE_NAME": "compute",
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": "0",
        "CP_DATABASE_URL": compute_url,
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_TEST_TOPIC": scratch_stream.name,
        "CP_TEST_CONSUMER": f"compute-{scratch_stream.name}",
    }
    log_file = tmp_path / "consumer.log"
    log = log_file.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "cpshared.events.consumer_main", "tests.integration.compute.consumer_support:from_env"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        wait_until(lambda: len(_stop_actions(compute)) >= 2, 60, "the suspended user's servers to be stopped")
        wait_until(lambda: '"duplicates_skipped"' in log_file.read_text(), 30, "the second delivery to be skipped")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert sorted(_stop_actions(compute)) == mine
    with compute.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM inbox")).scalar_one() == 1
        rows = {
            row.id: row for row in conn.execute(sa.select(t.servers.c.id, t.servers.c.suspended_at, t.servers.c.locked))
        }
    assert all(rows[i].suspended_at is not None and rows[i].locked for i in mine)
    assert rows[theirs].suspended_at is None and not rows[theirs].locked
