"""The gateway's hygiene middleware times the reading of a request body: a client that sends
headers and part of a body is answered 408 in the error format, not held."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway_service.http_hygiene import HttpHygieneMiddleware


async def echo(scope: Any, receive: Any, send: Any) -> None:
    body = await Request(scope, receive).body()
    await JSONResponse({"bytes": len(body)})(scope, receive, send)


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/x", "headers": [(b"content-length", b"100")]}


async def run(messages: list[dict[str, Any]], stall: bool) -> list[dict[str, Any]]:
    queue = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if stall:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    middleware = HttpHygieneMiddleware(echo, max_body_bytes=1024, body_timeout=0.2)
    await asyncio.wait_for(middleware(scope(), receive, send), timeout=5)
    return sent


async def test_a_body_that_stops_arriving_is_answered_408_and_the_connection_closed() -> None:
    sent = await run([{"type": "http.request", "body": b"x" * 10, "more_body": True}], stall=True)
    start, body = sent[0], sent[1]
    assert start["status"] == 408
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    assert headers["connection"] == "close"
    assert json.loads(body["body"])["error"]["code"] == "request_timeout"


async def test_a_whole_body_in_time_is_served() -> None:
    sent = await run([{"type": "http.request", "body": b"x" * 100, "more_body": False}], stall=True)
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"]) == {"bytes": 100}
