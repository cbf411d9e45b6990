"""Request-scoped context: correlation id, caller identity and the verified principal.

Carried in contextvars so that asyncio tasks and log lines of one request see the same
values; the gRPC interceptors set them from metadata and the client factory sends them on.
Only the principal is for authorization: it was verified against a signature
(cpshared.auth.principal); the ``x-caller`` header is informational (logs and metrics).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

import uuid_utils

from cpshared.auth.principal import Principal

CORRELATION_ID_HEADER = "x-correlation-id"
CALLER_HEADER = "x-caller"
PRINCIPAL_HEADER = "x-principal"
ACTOR_IP_HEADER = "x-actor-ip"
ACTOR_ORGANIZATION_HEADER = "x-actor-organization"
"""The organization a request acts in (the API key's), when it acts in one."""
ACTOR_USER_AGENT_HEADER = "x-actor-user-agent-bin"
"""Binary metadata (``-bin``): a user agent may hold any UTF-8, which text metadata may not."""

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)


@dataclass(frozen=True)
class Caller:
    """Who is calling: a service, or a principal on whose behalf a service acts."""

    kind: str  # "service" | "anonymous"; informational: authorize with current_principal()
    name: str


ANONYMOUS = Caller(kind="anonymous", name="")
caller_var: ContextVar[Caller] = ContextVar("caller", default=ANONYMOUS)


@dataclass(frozen=True)
class VerifiedPrincipal:
    """A principal whose assertion verified, with that assertion, to send on to other services."""

    principal: Principal
    token: str


principal_var: ContextVar[VerifiedPrincipal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    """The verified principal of the call being served, None outside one (or unauthenticated mode)."""
    verified = principal_var.get()
    return verified.principal if verified else None


def new_correlation_id() -> str:
    return str(uuid_utils.uuid7())


def current_correlation_id() -> str | None:
    return correlation_id_var.get()


def current_caller() -> Caller:
    return caller_var.get()


@dataclass(frozen=True)
class ActorContext:
    """Who a request acts for, as the gateway established it; recorded in every event's actor."""

    user_id: int = 0
    organization_id: int = 0
    api_key_id: int = 0
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""


NO_ACTOR = ActorContext()
actor_var: ContextVar[ActorContext] = ContextVar("actor", default=NO_ACTOR)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)
