"""The first steps of every process of the platform, kept light on imports.

Worker processes (relays, consumers) import this instead of :mod:`cpshared.runtime`,
which brings in the gRPC server and Alembic that only service processes need.
"""

from __future__ import annotations

from cpshared.logging import configure_logging
from cpshared.metrics import serve_metrics
from cpshared.settings import CommonSettings


def start_process(service: str, settings: CommonSettings) -> None:
    """Logging and /metrics: the first two things every process of the platform sets up."""
    configure_logging(service, settings.log_level, settings.log_json)
    serve_metrics(settings.metrics_port, settings.metrics_host)
