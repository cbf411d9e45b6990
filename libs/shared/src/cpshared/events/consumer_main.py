"""A projection's consumer process: ``python -m cpshared.events.consumer_main module:Factory``.

``Factory`` is a :class:`~cpshared.events.projection.Projection` subclass or a callable
without arguments that returns a projection. Settings come from the environment
(``CP_DATABASE_URL``, ``CP_KAFKA_BOOTSTRAP``, ``CP_CONSUMER_MAX_BATCH`` ...). SIGTERM stops
the process gracefully: the batch in flight is committed (or the process ends without
acking it) and the offsets of committed batches are committed to Kafka.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from pydantic import Field

from cpshared.events.consumer import ConsumerTuning, run_consumer
from cpshared.events.projection import Projection
from cpshared.process import start_process
from cpshared.settings import CommonSettings, DatabaseSettings, KafkaSettings, load_settings


class ConsumerSettings(CommonSettings, DatabaseSettings, KafkaSettings):
    """The settings of a projection's consumer process."""

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


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m cpshared.events.consumer_main module:ProjectionFactory", file=sys.stderr)
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
