"""The door of every authenticated route: who is calling, and is their budget spent.

Routes take ``principal: Authenticated``; the dependency authenticates the Bearer token,
binds identity's signed assertion for it as the principal every backend call sends on,
counts the request against the key's hourly budget, and leaves the budget in the request's
state, where :class:`gateway_service.rate_limit.middleware.RateLimitHeadersMiddleware` puts
the ``RateLimit-*`` headers on the answer, whatever the route then answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from cpshared.auth.principal import peek
from cpshared.context import VerifiedPrincipal, principal_var
from cpshared.errors import DomainError
from gateway_service.auth.authentication import Authenticator, bearer_token
from gateway_service.auth.principal import Principal
from gateway_service.rate_limit.store import RateLimitStore

BUDGET_STATE = "rate_limit_budget"


class RateLimitExceeded(DomainError):
    code = "rate_limit_exceeded"


class Gate:
    def __init__(self, authenticator: Authenticator, rate_limits: RateLimitStore) -> None:
        self.authenticator = authenticator
        self.rate_limits = rate_limits

    async def admit(self, request: Request) -> Principal:
        principal = await self.authenticator.principal_for(bearer_token(request.headers))
        budget = await run_in_threadpool(self.rate_limits.hit, principal.api_key_id, principal.rate_limit)
        setattr(request.state, BUDGET_STATE, budget)
        if budget.exceeded:
            raise RateLimitExceeded(
                f"this API key's budget of {budget.limit} requests per hour is spent; "
                "retry after the time in the RateLimit-Reset header"
            )
        request.state.principal = principal
        # Every backend call made for this request carries identity's assertion (make_channel
        # forwards the principal of the contextvar); the request's task ends with the request.
        if principal.assertion:
            principal_var.set(VerifiedPrincipal(peek(principal.assertion), principal.assertion))
        return principal


async def authenticated(request: Request) -> Principal:
    gate: Gate = request.app.state.gate
    return await gate.admit(request)


Authenticated = Annotated[Principal, Depends(authenticated)]
