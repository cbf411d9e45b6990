"""The door of every authenticated route: who is calling, and is their budget spent.

Routes take ``principal: Authenticated``; the dependency authenticates the Bearer token (an
API key or a session access token), binds identity's signed assertion for it as the
principal every backend call sends on, takes the request from the key's token bucket
(a session's: its user's; capacity per hour, refilled continuously), and leaves the budget in the request's
state, where :class:`gateway_service.rate_limit.middleware.RateLimitHeadersMiddleware` puts
the ``RateLimit-*`` headers on the answer, whatever the route then answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import Scope

from cpshared.auth.principal import peek
from cpshared.context import ActorContext, VerifiedPrincipal, actor_var, correlation_id_var, principal_var
from cpshared.errors import DomainError, Unauthenticated
from gateway_service.auth.authentication import Authenticator, bearer_token
from gateway_service.auth.maintenance import MaintenanceSwitch
from gateway_service.auth.principal import Principal, Role
from gateway_service.rate_limit.credentials import CredentialThrottle
from gateway_service.rate_limit.store import RateLimitStore, rate_limit_bucket

BUDGET_STATE = "rate_limit_budget"
ACTOR_STATE = "actor"
"""Request state key of the :class:`ActorContext` of an authenticated request (the request log reads it)."""
MAX_USER_AGENT_LENGTH = 512


def request_actor(scope: Scope, principal: Principal | None = None) -> ActorContext:
    """Who a request acts for: the principal's ids (none before authentication), the client's
    address, user agent (truncated) and the request id. Never a credential."""
    client = scope.get("client")
    user_agent = Headers(scope=scope).get("user-agent", "")[:MAX_USER_AGENT_LENGTH]
    return ActorContext(
        user_id=principal.user_id if principal else 0,
        organization_id=(principal.organization_id or 0) if principal else 0,
        api_key_id=principal.api_key_id if principal else 0,
        ip=client[0] if client else "",
        user_agent=user_agent,
        request_id=correlation_id_var.get() or "",
    )


class RateLimitExceeded(DomainError):
    code = "rate_limit_exceeded"


class Gate:
    def __init__(
        self,
        authenticator: Authenticator,
        rate_limits: RateLimitStore,
        credentials: CredentialThrottle | None = None,
        maintenance: MaintenanceSwitch | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.rate_limits = rate_limits
        self.credentials = credentials
        self.maintenance = maintenance

    async def _principal(self, token: str, client_ip: str) -> Principal:
        """Who holds ``token``. A token identity refuses counts against the client address's budget
        of failed authentications, and an address that spent it gets 429 for tokens the cache does
        not know, without identity being asked (credential stuffing with API keys)."""
        credentials = self.credentials
        if credentials is None:
            return await self.authenticator.principal_for(token, client_ip)
        try:
            return await self.authenticator.principal_for(
                token, client_ip, before_asking=lambda: credentials.refuse_failing(client_ip)
            )
        except Unauthenticated:
            credentials.failed(client_ip)
            raise

    async def admit(self, request: Request) -> Principal:
        client_ip = request.client.host if request.client else ""
        principal = await self._principal(bearer_token(request.headers), client_ip)
        # Known before the budget is checked, so a 429 is logged with the key that was refused.
        actor = request_actor(request.scope, principal)
        setattr(request.state, ACTOR_STATE, actor)
        actor_var.set(actor)
        if self.maintenance is not None:
            # Read as the gateway itself: the principal is bound to the request further down.
            await self.maintenance.refuse_writes(request.method, staff=principal.role is not Role.CLIENT)
        bucket = rate_limit_bucket(principal.api_key_id, principal.user_id)
        budget = await run_in_threadpool(self.rate_limits.hit, bucket, principal.rate_limit)
        setattr(request.state, BUDGET_STATE, budget)
        if budget.exceeded:
            whose = "this API key's" if principal.api_key_id else "your signed-in sessions'"
            raise RateLimitExceeded(
                f"{whose} budget of {budget.limit} requests per hour is spent; it refills continuously, "
                f"retry in {budget.retry_after} s (the Retry-After header)"
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
