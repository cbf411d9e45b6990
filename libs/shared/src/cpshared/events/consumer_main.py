"""A projection's consumer process: ``python -m cpshared.events.consumer_main module:Factory``.

``Factory`` is a :class:`~cpshared.events.projection.Projection` subclass or a callable
without arguments that returns a projection. Settings come from the environment
(``CP_DATABASE_URL``, ``CP_KAFKA_BOOTSTRAP``, ``CP_CONSUMER_MAX_BATCH`` ...). SIGTERM stops
the process gracefully: the batch in flight is committed (or the process ends without
committing its offsets) and the offsets of committed batches are committed to Kafka.

``python -m cpshared.events.consumer_main --all`` is the consumer host: every projection named
in ``CP_CONSUMERS`` (JSON: each consumer's name, its ``projection`` factory and its service's
``database_url``) in ONE process — the local stack's, where a Python process per consumer costs
~110 MB at rest. Each keeps its own consumer group, engine and metrics label; one that fails
(a batch that cannot commit, its database gone, Kafka refusing) is stopped without committing
its offsets and started again with backoff (``consumer_restarts_total``) while the others go
on. Docker compose and Kubernetes keep a process per consumer, scaled on its own.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import sys
from collections.abc import Sequence

from prometheus_client import Counter
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Engine

from cpshared.events.consumer import ConsumerTuning, ProjectionConsumer, run_consumer, use_uvloop
from cpshared.events.hosting import Loop, serve_all, supervise
from cpshared.events.projection import Projection
from cpshared.logging import get_logger
from cpshared.process import start_process
from cpshared.settings import ENV_PREFIX, CommonSettings, DatabaseSettings, KafkaSettings, load_settings

log = get_logger("cpshared.events.consumer_main")

CONSUMER_RESTARTS = Counter(
    "consumer_restarts_total", "Times a consumer of the consumer host failed and was started again.", ["consumer"]
)


class ConsumerTuningSettings(BaseSettings):
    """How a consumer batches, commits and retries: the same for every consumer of a process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    consumer_max_batch: int = Field(default=2000, ge=1, le=100_000, description="Records per database transaction.")
    consumer_batch_within: float = Field(default=0.2, gt=0, description="Seconds to wait for a batch to fill.")
    consumer_commit_interval: float = Field(default=1.0, gt=0, description="Seconds between offset commits.")
    consumer_max_poll_records: int = Field(default=2000, ge=1, description="Records one getmany hands over at most.")
    consumer_fetch_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="Bytes per partition fetch.")
    consumer_session_timeout: float = Field(
        default=30.0, ge=6, description="Seconds before a silent member is dropped."
    )
    consumer_instance_id: str | None = Field(
        default=None, description="Static group membership id, unique per replica (e.g. the pod name)."
    )
    consumer_max_attempts: int = Field(default=3, ge=1, description="Attempts before an event is dead-lettered.")
    consumer_retry_backoff: float = Field(default=0.2, ge=0, description="First backoff between attempts, seconds.")
    consumer_stop_grace: float = Field(default=20.0, ge=0, description="Seconds a stop waits for the batch in flight.")
    consumer_uvloop: bool = Field(default=True, description="Run on uvloop when it is installed.")

    def tuning(self) -> ConsumerTuning:
        return ConsumerTuning(
            max_batch=self.consumer_max_batch,
            batch_within=self.consumer_batch_within,
            commit_interval=self.consumer_commit_interval,
            fetch_max_bytes=self.consumer_fetch_max_bytes,
            max_poll_records=self.consumer_max_poll_records,
            session_timeout=self.consumer_session_timeout,
            instance_id=self.consumer_instance_id or None,
            max_attempts=self.consumer_max_attempts,
            retry_backoff=self.consumer_retry_backoff,
            stop_grace=self.consumer_stop_grace,
            uvloop=self.consumer_uvloop,
        )


class ConsumerSettings(CommonSettings, DatabaseSettings, KafkaSettings, ConsumerTuningSettings):
    """The settings of a projection's consumer process."""


class HostedConsumer(BaseModel):
    projection: str = Field(description="module:Factory of the projection.")
    database_url: str = Field(min_length=1, description="Its service's database.")


class ConsumerHostSettings(CommonSettings, KafkaSettings, ConsumerTuningSettings):
    """The settings of the consumer host (``--all``)."""

    consumers: dict[str, HostedConsumer] = Field(
        min_length=1,
        description=(
            "Each consumer's name and what it runs, as JSON: "
            '{"billing": {"projection": "billing_service...:BillingProjection", "database_url": "mysql+pymysql://..."}}.'
        ),
    )
    database_pool_size: int = Field(default=2, ge=1, le=100, description="Connections per consumer's engine.")
    consumer_restart_max_seconds: float = Field(
        default=30, gt=0, description="Longest pause before a failed consumer is started again."
    )


def load_projection(spec: str) -> Projection:
    """``package.module:Name`` -> a projection (``Name`` is a Projection class or a factory)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"expected module:Factory, got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    projection = factory()
    if not isinstance(projection, Projection):
        raise SystemExit(f"{spec} made a {type(projection).__name__}, not a Projection")
    return projection


class ConsumerFailed(Exception):
    """A hosted consumer ended with a batch it could not commit: it stops without committing
    the batch's offsets (Kafka redelivers it to the restarted consumer)."""


def _fail(status: int) -> None:
    raise ConsumerFailed(f"exit status {status}")


def _hosted_loop(hosted: HostedConsumer, settings: ConsumerHostSettings) -> Loop:
    async def run(engine: Engine, stop: asyncio.Event) -> None:
        projection = load_projection(hosted.projection)
        consumer = ProjectionConsumer(projection, engine, settings.kafka_bootstrap, settings.tuning(), die=_fail)
        if await consumer.run(stop) != 0:
            raise ConsumerFailed("the Kafka client failed")

    return run


async def serve_consumers(settings: ConsumerHostSettings) -> None:
    await serve_all(
        "consumer",
        {
            name: functools.partial(
                supervise,
                "consumer",
                name,
                hosted.database_url,
                _hosted_loop(hosted, settings),
                pool_size=settings.database_pool_size,
                restart_cap=settings.consumer_restart_max_seconds,
                restarts=CONSUMER_RESTARTS,
            )
            for name, hosted in settings.consumers.items()
        },
    )


def main_all() -> int:
    settings = load_settings(ConsumerHostSettings)
    start_process(settings.service_name, settings)
    log.info("consumers_starting", consumers=sorted(settings.consumers), bootstrap=settings.kafka_bootstrap)
    if settings.consumer_uvloop:
        use_uvloop()
    asyncio.run(serve_consumers(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--all"]:
        return main_all()
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m cpshared.events.consumer_main (module:ProjectionFactory | --all)", file=sys.stderr)
        return 2
    settings = load_settings(ConsumerSettings)
    start_process(settings.service_name, settings)
    projection = load_projection(args[0])
    return run_consumer(
        projection,
        settings.database_url,
        settings.kafka_bootstrap,
        tuning=settings.tuning(),
        pool_size=settings.database_pool_size,
    )


if __name__ == "__main__":
    sys.exit(main())
