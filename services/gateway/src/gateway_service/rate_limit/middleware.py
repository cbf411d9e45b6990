"""ASGI middleware: ``RateLimit-Limit/Remaining/Reset`` on every authenticated answer.

The budget is left in the request's state by the authentication dependency; errors a route
raises become answers inside this middleware, so they carry the headers too. A 429 also
gets ``Retry-After`` (the seconds until one request is available again).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_service.auth.gate import BUDGET_STATE
from gateway_service.rate_limit.store import Budget


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                budget = scope.get("state", {}).get(BUDGET_STATE)
                if isinstance(budget, Budget):
                    headers = MutableHeaders(scope=message)
                    for name, value in budget.headers().items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
