"""Request-scoped context: correlation id and caller identity.

Carried in contextvars so that asyncio tasks and log lines of one request see the same
values; the gRPC interceptors set them from metadata and the client factory sends them on.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

import uuid_utils

CORRELATION_ID_HEADER = "x-correlation-id"
CALLER_HEADER = "x-caller"

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)


@dataclass(frozen=True)
class Caller:
    """Who is calling: a service, or a principal on whose behalf a service acts."""

    kind: str  # "service" | "anonymous" (principals arrive with the identity service)
    name: str


ANONYMOUS = Caller(kind="anonymous", name="")
caller_var: ContextVar[Caller] = ContextVar("caller", default=ANONYMOUS)


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
