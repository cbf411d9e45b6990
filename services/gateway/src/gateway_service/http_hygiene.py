"""What every answer of the gateway carries and what no request may exceed (plain ASGI, outermost
but for the request id, so it sees every answer, errors and replays included):

- ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY`` on every answer;
- ``Cache-Control: no-store`` on every answer whose route set none: answers of the API are a
  caller's own and many carry secrets (API keys, access and refresh tokens, root passwords,
  console credentials, 2FA secrets and recovery codes), so none is kept by a cache or a browser;
- a request body of more than ``max_body_bytes`` (``CP_MAX_REQUEST_BODY_BYTES``) is answered
  ``413 request_too_large`` in the error format, by its ``Content-Length`` before the app runs,
  or, for a body without one, as soon as the bytes read pass the cap (the app's own answer
  is replaced);
- a request body that does not arrive whole within ``body_timeout`` seconds
  (``CP_REQUEST_BODY_TIMEOUT_SECONDS``) is answered ``408 request_timeout`` and the connection
  closed: a client that sends headers and part of a body cannot hold a worker (only the body's
  reading is timed; once it is whole, waiting for a disconnect is the app's business).

The ``server`` banner is uvicorn's and switched off where the server is configured
(``entrypoints/http_server.server_config``).
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hetzner_conventions.error_handlers import error_response

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
NO_STORE = "no-store"


class _BodyTooLarge(Exception):
    """Raised into the app when the body read passes the cap; the answer becomes a 413."""


class _BodyTimedOut(Exception):
    """Raised into the app when the body does not arrive in time; the answer becomes a 408."""


class HttpHygieneMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout: float = 30.0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    def _timed_out(self) -> ASGIApp:
        return error_response(
            "request_timeout",
            f"the request body did not arrive within {self.body_timeout:g} s; send it whole and promptly",
            headers={**SECURITY_HEADERS, "Cache-Control": NO_STORE, "Connection": "close"},
        )

    def _too_large(self) -> ASGIApp:
        return error_response(
            "request_too_large",
            f"the request body is larger than {self.max_body_bytes} bytes; send a smaller one",
            headers={**SECURITY_HEADERS, "Cache-Control": NO_STORE, "Connection": "close"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large()(scope, receive, send)
            return
        received = 0
        exceeded = False
        timed_out = False
        body_done = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded, timed_out, body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except TimeoutError:
                timed_out = True
                raise _BodyTimedOut from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_body_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            else:
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded or timed_out:
                # Whatever the app made of the broken read (a 400, a 500), the answer is the 413 (408).
                if not started:
                    started = True
                    await (self._too_large() if exceeded else self._timed_out())(scope, receive, send)
                return
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Cache-Control", NO_STORE)
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await self._too_large()(scope, receive, send)
        except _BodyTimedOut:
            if not started:
                await self._timed_out()(scope, receive, send)
