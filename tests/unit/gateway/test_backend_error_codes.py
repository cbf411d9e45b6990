"""A backend's own, more specific public code reaches the client; the HTTP status never changes."""

from __future__ import annotations

import grpc
from grpc import aio

from gateway_service.clients.calls import domain_error_for
from hetzner_conventions.errors import status_for


def rpc_error(code: grpc.StatusCode, details: str) -> aio.AioRpcError:
    return aio.AioRpcError(code, aio.Metadata(), aio.Metadata(), details=details)


def test_two_factor_required_travels_from_identity_to_a_401_with_its_own_code() -> None:
    error = domain_error_for(
        rpc_error(grpc.StatusCode.UNAUTHENTICATED, "two_factor_required: send the code of the authenticator app"),
        "identity",
    )
    assert (error.code, error.message) == ("two_factor_required", "send the code of the authenticator app")
    assert status_for(error.code) == 401


def test_a_code_of_another_http_status_or_an_unknown_code_is_not_kept() -> None:
    other_status = domain_error_for(rpc_error(grpc.StatusCode.UNAUTHENTICATED, "not_found: sneaky"), "identity")
    assert other_status.code == "unauthorized"
    unknown = domain_error_for(rpc_error(grpc.StatusCode.UNAUTHENTICATED, "made_up: message"), "identity")
    assert (unknown.code, unknown.message) == ("unauthorized", "made_up: message")


def test_a_group_that_still_has_servers_is_resource_in_use_422() -> None:
    error = domain_error_for(
        rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "resource_in_use: placement group 3 still has servers"),
        "compute",
    )
    assert (error.code, status_for(error.code)) == ("resource_in_use", 422)
