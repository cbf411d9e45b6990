"""Prometheus metrics: every process serves /metrics on its own port."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

GRPC_SERVER_REQUESTS = Counter(
    "grpc_server_handled_total",
    "gRPC requests handled by this server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_SERVER_LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time spent handling gRPC requests.",
    ["grpc_service", "grpc_method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Start the /metrics HTTP endpoint in a daemon thread; port 0 disables it."""
    if port:
        start_http_server(port, addr=host)
