from __future__ import annotations

import grpc
import pytest
from grpc import aio

from gateway_service.clients.calls import domain_error_for
from hetzner_conventions.errors import INTERNAL_ERROR_MESSAGE, status_for


def rpc_error(code: grpc.StatusCode, details: str) -> aio.AioRpcError:
    return aio.AioRpcError(code, aio.Metadata(), aio.Metadata(), details=details)


@pytest.mark.parametrize(
    ("status", "code", "http"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, "invalid_input", 400),
        (grpc.StatusCode.NOT_FOUND, "not_found", 404),
        (grpc.StatusCode.ALREADY_EXISTS, "uniqueness_error", 409),
        (grpc.StatusCode.ABORTED, "conflict", 409),
        (grpc.StatusCode.FAILED_PRECONDITION, "precondition_failed", 412),
        (grpc.StatusCode.PERMISSION_DENIED, "forbidden", 403),
        (grpc.StatusCode.UNAUTHENTICATED, "unauthorized", 401),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "resource_limit_exceeded", 403),
        (grpc.StatusCode.UNAVAILABLE, "unavailable", 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "timeout", 504),
        (grpc.StatusCode.INTERNAL, "service_error", 500),
    ],
)
def test_each_grpc_status_maps_to_the_public_error_of_the_same_meaning(
    status: grpc.StatusCode, code: str, http: int
) -> None:
    error = domain_error_for(rpc_error(status, f"{code}: what to change"), "identity")
    assert error.code == code
    assert status_for(error.code) == http


def test_the_backends_message_is_passed_on_without_its_code_prefix() -> None:
    error = domain_error_for(rpc_error(grpc.StatusCode.NOT_FOUND, "not_found: API key 3 does not exist"), "identity")
    assert error.message == "API key 3 does not exist"


def test_an_internal_failure_does_not_leak_its_details() -> None:
    error = domain_error_for(rpc_error(grpc.StatusCode.INTERNAL, "Traceback: secret stuff"), "identity")
    assert error.message == INTERNAL_ERROR_MESSAGE
