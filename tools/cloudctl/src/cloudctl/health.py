"""Health probes of the stack's processes: gRPC health checks and HTTP /healthz."""

from __future__ import annotations

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc


def grpc_health(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> str:
    """The overall serving status of the server on ``port`` ("SERVING", ...), or why not."""
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError as exc:
            return f"DOWN ({exc.code().name})"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def http_health(url: str, timeout: float = 1.0) -> str:
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"DOWN ({type(exc).__name__})"
    return "SERVING" if response.status_code == 200 else f"DOWN (HTTP {response.status_code})"
