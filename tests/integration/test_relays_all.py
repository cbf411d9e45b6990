"""``python -m cpshared.events.relay_main --all``: the relays of several databases in one
process, as the local stack runs them. Each database's outbox is published onto the stream
by its own relay (metrics labelled by relay name); one relay whose database cannot be reached
is restarted with backoff and stops none of the others; SIGTERM stops them all."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cloudctl.paths import LocalPaths
from cpshared.events.tables import outbox
from cpshared.topics import Topic
from tests.integration.backbone import KAFKA, ScratchDatabase, record_canaries, scratch_database, scratch_topic
from tests.integration.live import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _unpublished(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        return int(conn.execute(query).scalar_one())


def _eventually(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        time.sleep(0.2)


@pytest.fixture
def two_databases(paths: LocalPaths) -> Iterator[tuple[ScratchDatabase, ScratchDatabase]]:
    with (
        contextlib.contextmanager(scratch_database)(paths) as first,
        contextlib.contextmanager(scratch_database)(paths) as second,
    ):
        yield first, second


@pytest.fixture
def stream() -> Iterator[Topic]:
    yield from scratch_topic()


def test_one_process_relays_every_database_and_a_broken_one_stops_none_of_the_others(
    two_databases: tuple[ScratchDatabase, ScratchDatabase], stream: Topic, tmp_path: Path
) -> None:
    first, second = two_databases
    record_canaries(first.engine, stream, 300)
    record_canaries(second.engine, stream, 200)
    broken = sa.engine.make_url(first.url).set(password="not-the-password").render_as_string(hide_password=False)
    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_SERVICE_NAME": "relays",
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": str(metrics_port),
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_RELAY_DATABASE_URLS": json.dumps({"first": first.url, "second": second.url, "broken": broken}),
        "CP_RELAY_RESTART_MAX_SECONDS": "1",
    }
    log_file = tmp_path / "relays.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cpshared.events.relay_main", "--all"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _eventually(lambda: _unpublished(first.engine) == 0, 60, "the first database's outbox is published")
        _eventually(lambda: _unpublished(second.engine) == 0, 60, "the second database's outbox is published")
        record_canaries(second.engine, stream, 50)  # still relaying after the first rounds
        _eventually(lambda: _unpublished(second.engine) == 0, 60, "the later events are published")
        assert process.poll() is None, "the process died"

        def metric(line: str) -> float:
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
            found = [row for row in text.splitlines() if row.startswith(line)]
            return float(found[0].split()[-1]) if found else 0.0

        assert metric('outbox_published_total{relay="first"}') == 300
        assert metric('outbox_published_total{relay="second"}') == 250
        assert metric('outbox_relay_is_leader{relay="first"}') == 1
        assert metric('outbox_relay_is_leader{relay="second"}') == 1
        _eventually(lambda: metric('outbox_relay_restarts_total{relay="broken"}') >= 1, 120, "the broken relay retried")
        assert metric('outbox_relay_restarts_total{relay="first"}') == 0
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(90)
    assert code == 0, log_file.read_text(errors="replace")[-3000:]
    text = log_file.read_text(errors="replace")
    assert "not-the-password" not in text, "a database password was logged"
    assert '"relay": "broken"' in text and '"event": "relay_failed"' in text
