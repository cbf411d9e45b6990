"""``/v1/console``: the websocket a ``request_console`` answer points at.

The client (noVNC, a VNC viewer's websocket transport) connects with the ticket of its
answer; the gateway redeems it (once, on any replica), opens upstream's console websocket
and relays frames both ways until either side closes. The subprotocols the client asks for
(noVNC asks for ``binary``) are asked of upstream, and upstream's choice is the answer's.
An unknown, used or lapsed ticket, or an upstream that does not open, is refused before the
handshake completes (HTTP 403). Upstream's URL is never logged (it holds upstream's token).
"""

from __future__ import annotations

import asyncio
import contextlib

import websockets
from fastapi import APIRouter, Query, Request, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect

from cpshared.logging import get_logger
from gateway_service.console.tickets import ConsoleTickets

log = get_logger("gateway.console")

router = APIRouter()
CONSOLE_PATH = "/v1/console"
POLICY_VIOLATION = 1008
UPSTREAM_UNAVAILABLE = 1011
OPEN_TIMEOUT = 10.0


def console_url(request: Request, ticket: str) -> str:
    """The platform's console URL of ``ticket``, on the host and scheme the caller reached
    (``wss`` behind TLS; behind a terminating proxy uvicorn takes the scheme from its
    ``X-Forwarded-Proto`` when the proxy's address is in ``FORWARDED_ALLOW_IPS``)."""
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return f"{scheme}://{request.url.netloc}{CONSOLE_PATH}?ticket={ticket}"


@router.websocket(CONSOLE_PATH)
async def console(websocket: WebSocket, ticket: str = Query(default="")) -> None:
    tickets: ConsoleTickets = websocket.app.state.console_tickets
    upstream_url = await run_in_threadpool(tickets.redeem, ticket)
    if upstream_url is None:
        await websocket.close(code=POLICY_VIOLATION, reason="unknown, used or expired console ticket")
        return
    asked: list[str] = list(websocket.scope.get("subprotocols") or [])
    try:
        upstream = await connect(
            upstream_url,
            subprotocols=[websockets.Subprotocol(p) for p in asked] or None,
            open_timeout=OPEN_TIMEOUT,
            max_size=None,
        )
    except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
        log.warning("console_upstream_unavailable", error=type(exc).__name__)
        await websocket.close(code=UPSTREAM_UNAVAILABLE, reason="the console is not available")
        return
    async with upstream:
        await websocket.accept(subprotocol=upstream.subprotocol)
        await _relay(websocket, upstream)


async def _relay(client: WebSocket, upstream: ClientConnection) -> None:
    async def to_upstream() -> None:
        try:
            while True:
                message = await client.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await upstream.send(message["bytes"])
                elif message.get("text") is not None:
                    await upstream.send(message["text"])
        except WebSocketDisconnect:
            return

    async def to_client() -> None:
        try:
            async for frame in upstream:
                if isinstance(frame, bytes):
                    await client.send_bytes(frame)
                else:
                    await client.send_text(frame)
        except (websockets.ConnectionClosed, WebSocketDisconnect, RuntimeError):
            return  # either side went away

    tasks = [asyncio.create_task(to_upstream()), asyncio.create_task(to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await upstream.close()
    with contextlib.suppress(RuntimeError):  # the client may be gone already
        await client.close()
