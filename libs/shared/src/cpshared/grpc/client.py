"""The gRPC client factory: every call gets a deadline, UNAVAILABLE is retried.

Retries use gRPC's own retry policy (service config), so they are transparent to the
caller and bounded; the interceptors add a default deadline when the caller set none and
forward the correlation id and the calling service's identity as metadata.

Who the call acts for (``x-principal``): the principal of the call being served, when there
is one, so a service acting for a user passes the user's assertion on unchanged; otherwise
the calling service's own assertion, signed with its key, when the channel was given one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc import aio

from cpshared.auth.principal import ServiceAssertion
from cpshared.context import (
    ACTOR_IP_HEADER,
    ACTOR_ORGANIZATION_HEADER,
    ACTOR_USER_AGENT_HEADER,
    CALLER_HEADER,
    CORRELATION_ID_HEADER,
    PRINCIPAL_HEADER,
    actor_var,
    current_correlation_id,
    principal_var,
)

DEFAULT_DEADLINE_SECONDS = 5.0

RETRY_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


def _principal_token(service_assertion: ServiceAssertion | None) -> str | None:
    verified = principal_var.get()
    if verified is not None:
        return verified.token
    return service_assertion.token() if service_assertion else None


def _with_defaults(
    details: aio.ClientCallDetails, caller: str, deadline: float, service_assertion: ServiceAssertion | None
) -> aio.ClientCallDetails:
    metadata = aio.Metadata(*(details.metadata or ()))
    if not metadata.get_all(PRINCIPAL_HEADER):
        token = _principal_token(service_assertion)
        if token:
            metadata.add(PRINCIPAL_HEADER, token)
    if not metadata.get_all(CORRELATION_ID_HEADER):
        correlation_id = current_correlation_id()
        if correlation_id:
            metadata.add(CORRELATION_ID_HEADER, correlation_id)
    if not metadata.get_all(CALLER_HEADER):
        metadata.add(CALLER_HEADER, f"service:{caller}")
    # Where the request came from, so the events the call causes record it (the audit log).
    actor = actor_var.get()
    if actor.ip and not metadata.get_all(ACTOR_IP_HEADER):
        metadata.add(ACTOR_IP_HEADER, actor.ip)
    if actor.organization_id and not metadata.get_all(ACTOR_ORGANIZATION_HEADER):
        metadata.add(ACTOR_ORGANIZATION_HEADER, str(actor.organization_id))
    if actor.user_agent and not metadata.get_all(ACTOR_USER_AGENT_HEADER):
        metadata.add(ACTOR_USER_AGENT_HEADER, actor.user_agent.encode())
    return aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout if details.timeout is not None else deadline,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _DefaultsUnaryUnary(aio.UnaryUnaryClientInterceptor):
    def __init__(self, caller: str, deadline: float, service_assertion: ServiceAssertion | None) -> None:
        self._caller, self._deadline, self._assertion = caller, deadline, service_assertion

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(
            _with_defaults(client_call_details, self._caller, self._deadline, self._assertion), request
        )


class _DefaultsUnaryStream(aio.UnaryStreamClientInterceptor):
    def __init__(self, caller: str, deadline: float, service_assertion: ServiceAssertion | None) -> None:
        self._caller, self._deadline, self._assertion = caller, deadline, service_assertion

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(
            _with_defaults(client_call_details, self._caller, self._deadline, self._assertion), request
        )


def make_channel(
    target: str,
    *,
    caller: str,
    deadline: float = DEFAULT_DEADLINE_SECONDS,
    service_key: Ed25519PrivateKey | None = None,
) -> aio.Channel:
    """An insecure channel to ``target`` (host:port) for the service named ``caller``.

    With ``service_key`` (the calling service's Ed25519 key) a call made outside any user's
    request carries ``caller``'s own signed service principal.
    """
    assertion = ServiceAssertion(caller, service_key) if service_key else None
    return aio.insecure_channel(
        target,
        options=[
            ("grpc.enable_retries", 1),
            ("grpc.service_config", RETRY_SERVICE_CONFIG),
            ("grpc.keepalive_time_ms", 30_000),
        ],
        interceptors=[
            _DefaultsUnaryUnary(caller, deadline, assertion),
            _DefaultsUnaryStream(caller, deadline, assertion),
        ],
    )
