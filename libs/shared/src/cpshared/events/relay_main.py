"""The relay process of a service: ``python -m cpshared.events.relay_main``.

One per service database (more replicas only stand by, see :mod:`cpshared.events.relay`).
It reads the same ``CP_*`` variables as the service (database URL, Kafka bootstrap,
logging, metrics port) plus its own ``CP_RELAY_*`` tuning. SIGTERM or SIGINT stop it
gracefully: the batch in flight is finished and marked, the producer closed.

``python -m cpshared.events.relay_main --all`` runs the relays of several databases in one
process (the local stack: one process instead of one per service, each Python process being
tens of MB at rest). ``CP_RELAY_DATABASE_URLS`` maps each relay's name (its service) to its
database URL, as JSON; every relay has its own engine, its own producer, its own named-lock
leadership and its metrics under its own ``relay`` label. A relay that fails (its database
unreachable or not migrated, an unexpected error) is restarted with backoff and counted in
``outbox_relay_restarts_total``; the others go on. Where each service scales on its own
(docker compose, Kubernetes) every service keeps its own relay process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
import time
from datetime import timedelta

import sqlalchemy as sa
from prometheus_client import Counter
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Engine

from cpshared.db import make_engine, wait_for_database
from cpshared.events.hosting import Loop, serve_all, supervise
from cpshared.events.relay import OutboxRelay
from cpshared.events.tables import outbox
from cpshared.logging import get_logger
from cpshared.process import start_process
from cpshared.settings import ENV_PREFIX, CommonSettings, DatabaseSettings, KafkaSettings, load_settings

log = get_logger("cpshared.events.relay_main")


RELAY_RESTARTS = Counter(
    "outbox_relay_restarts_total", "Times a relay of a several-relay process failed and was started again.", ["relay"]
)


class RelayTuning(BaseSettings):
    """How a relay polls, prunes and waits: the same for every relay of a process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    relay_batch_size: int = Field(default=1000, ge=1, le=20_000, description="Outbox rows sent per round.")
    relay_poll_interval: float = Field(
        default=0.05, gt=0, le=10, description="Seconds between rounds that found a partial batch."
    )
    relay_idle_poll_interval: float = Field(
        default=0.5, gt=0, le=60, description="Longest wait between rounds while the outbox is empty."
    )
    relay_published_retention_hours: float = Field(
        default=7 * 24, gt=0, description="Published rows older than this are deleted."
    )
    relay_prune_interval_seconds: float = Field(default=300, gt=0, description="How often old rows are pruned.")
    relay_stop_grace_seconds: float = Field(
        default=10, ge=0, description="How long a stop waits for an unreachable broker before giving up a batch."
    )
    relay_stall_timeout_seconds: float = Field(
        default=10, gt=0, description="Seconds without any acknowledgement before the broker is taken to be down."
    )


class RelaySettings(CommonSettings, DatabaseSettings, KafkaSettings, RelayTuning):
    """The settings of a service's outbox relay process."""


class AllRelaysSettings(CommonSettings, KafkaSettings, RelayTuning):
    """The settings of a process running several relays (``--all``)."""

    relay_database_urls: dict[str, str] = Field(
        min_length=1,
        description='Each relay\'s name (its service) and database URL, as JSON: {"identity": "mysql+pymysql://..."}.',
    )
    database_pool_size: int = Field(default=5, ge=1, le=100, description="Connections per relay's engine.")
    relay_restart_max_seconds: float = Field(
        default=30, gt=0, description="Longest pause before a failed relay is started again."
    )


class OutboxMissing(SystemExit):
    pass


class RepeatedKafkaClientLogs(logging.Filter):
    """Lets each distinct aiokafka message through once per ``interval`` seconds.

    While the broker is down aiokafka reports every failed reconnect and metadata refresh,
    thousands of lines a second at ERROR; one line per kind and interval says the same.
    """

    def __init__(self, interval: float = 30.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka"):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            record.msg = f"{record.msg} (repeated {suppressed} times in the last {self.interval:.0f} s)"
        return True


def require_outbox(engine: Engine, service: str) -> None:
    """Refuse to run on a database that has no outbox yet: it is not migrated."""
    if not sa.inspect(engine).has_table(outbox.name):
        log.error("outbox_table_missing", service=service)
        raise OutboxMissing(
            f"{service}: the database has no `{outbox.name}` table; migrate it first (`cloudctl migrate`)"
        )


async def serve(relay: OutboxRelay) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await relay.run(stop)


def make_relay(engine: Engine, name: str, bootstrap: str, tuning: RelayTuning) -> OutboxRelay:
    return OutboxRelay(
        engine,
        bootstrap,
        name=name,
        batch_size=tuning.relay_batch_size,
        poll_interval=tuning.relay_poll_interval,
        idle_poll_interval=tuning.relay_idle_poll_interval,
        published_retention=timedelta(hours=tuning.relay_published_retention_hours),
        prune_interval=tuning.relay_prune_interval_seconds,
        stop_grace=tuning.relay_stop_grace_seconds,
        stall_timeout=tuning.relay_stall_timeout_seconds,
    )


def _relay_loop(name: str, settings: AllRelaysSettings) -> Loop:
    async def run(engine: Engine, stop: asyncio.Event) -> None:
        await asyncio.to_thread(require_outbox, engine, name)
        relay = make_relay(engine, name, settings.kafka_bootstrap, settings)
        log.info("relay_starting", relay=name, batch_size=settings.relay_batch_size)
        await relay.run(stop)

    return run


async def serve_relays(settings: AllRelaysSettings) -> None:
    await serve_all(
        "relay",
        {
            name: functools.partial(
                supervise,
                "relay",
                name,
                url,
                _relay_loop(name, settings),
                pool_size=settings.database_pool_size,
                restart_cap=settings.relay_restart_max_seconds,
                restarts=RELAY_RESTARTS,
            )
            for name, url in settings.relay_database_urls.items()
        },
    )


def main_all() -> None:
    settings = load_settings(AllRelaysSettings)
    start_process(settings.service_name, settings)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatedKafkaClientLogs())
    log.info("relays_starting", relays=sorted(settings.relay_database_urls), bootstrap=settings.kafka_bootstrap)
    asyncio.run(serve_relays(settings))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m cpshared.events.relay_main", description=__doc__)
    parser.add_argument(
        "--all", action="store_true", help="run the relay of every database in CP_RELAY_DATABASE_URLS, in one process"
    )
    if parser.parse_args().all:
        main_all()
        return
    settings = load_settings(RelaySettings)
    start_process(settings.service_name, settings)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatedKafkaClientLogs())
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
    try:
        wait_for_database(engine)
        require_outbox(engine, settings.service_name)
        relay = make_relay(engine, settings.service_name, settings.kafka_bootstrap, settings)
        log.info("relay_starting", batch_size=settings.relay_batch_size, bootstrap=settings.kafka_bootstrap)
        asyncio.run(serve(relay))
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
