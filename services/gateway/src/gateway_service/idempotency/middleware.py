"""ASGI middleware: ``Idempotency-Key`` on POST.

- same key, same request (method, path, body) within the TTL: the stored answer again, with
  ``Idempotent-Replayed: true``;
- same key, another request: ``422 idempotency_key_reused`` (a platform code: Hetzner has no
  idempotency keys, and ``invalid_input`` is a 400 there);
- same key while its first request still runs: ``409 conflict`` (the ``hcloud`` client
  retries ``conflict`` by itself, and its retry then gets the replay);
- a request that crashes, or answers 5xx, releases the key: the client may retry it, and
  nothing is replayed that the server did not mean to answer.

An answer that shows a secret once (a new API key's) must not be stored with it: the route
names such fields in the internal ``X-Idempotency-Redact`` header, which never leaves the
gateway, and the stored answer holds ``null`` in their place, so a replay answers the
resource without the secret and the database never holds it.

Keys are per caller (the scope). Until authentication exists (issue 4) the caller is the
SHA-256 of the Authorization header, or ``anonymous``; with authentication it becomes the
principal's id, so one caller's key never collides with another's.

Sits inside the request-id middleware (so every answer, replays included, carries a fresh
X-Request-Id) and outside the routes' exception handlers (so a domain error's 4xx answer is
stored and replayed like any other).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_service.idempotency.store import (
    Claimed,
    IdempotencyStore,
    InFlight,
    Mismatch,
    Replay,
    StoredResponse,
    request_fingerprint,
)
from hetzner_conventions.error_handlers import error_response

IDEMPOTENCY_KEY_HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
REDACT_HEADER = "X-Idempotency-Redact"
_REDACT = REDACT_HEADER.lower().encode()


def _without_redact_header(send: Send) -> Send:
    async def strip(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != _REDACT]
            message = {**message, "headers": kept}
        await send(message)

    return strip


# Headers that belong to one answer, not to the stored one.
_NOT_STORED = frozenset(
    {"x-request-id", "date", "server", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"}
)


def redacted(body: bytes, fields: Collection[str]) -> bytes:
    """``body`` (a JSON object) with the top-level ``fields`` set to null."""
    if not fields:
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if not isinstance(document, dict):
        return body
    for field in fields:
        if field in document:
            document[field] = None
    return json.dumps(document, separators=(",", ":")).encode()


def anonymous_scope(headers: Headers) -> str:
    """The caller before authentication exists: a hash of its credentials, never the credentials."""
    authorization = headers.get("authorization")
    if not authorization:
        return "anonymous"
    return hashlib.sha256(authorization.encode()).hexdigest()


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: IdempotencyStore,
        scope_of: Callable[[Headers], str] = anonymous_scope,
    ) -> None:
        self.app = app
        self.store = store
        self.scope_of = scope_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(IDEMPOTENCY_KEY_HEADER)
        if key is None:
            # Nothing is stored, so there is nothing to redact: the route's note goes no further.
            await self.app(scope, receive, _without_redact_header(send))
            return
        if not _valid_key(key):
            response = error_response(
                "invalid_input",
                f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                {"fields": [{"name": "Idempotency-Key", "messages": ["is not a valid key"]}]},
            )
            await response(scope, receive, send)
            return

        body, receive = await _read_body(receive)
        caller = self.scope_of(headers)
        fingerprint = request_fingerprint("POST", scope["path"], body)
        claim = await run_in_threadpool(self.store.claim, caller, key, fingerprint)

        match claim:
            case Replay(response=stored):
                await _send_stored(stored, send)
            case Mismatch():
                response = error_response(
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used for a different request; "
                    "send a new key for a new request, or the same body to get the first answer again",
                )
                await response(scope, receive, send)
            case InFlight():
                response = error_response(
                    "conflict", "a request with this Idempotency-Key is still being processed; retry in a moment"
                )
                await response(scope, receive, send)
            case Claimed():
                await self._run_first(scope, receive, send, caller, key)

    async def _run_first(self, scope: Scope, receive: Receive, send: Send, caller: str, key: str) -> None:
        status = 0
        kept_headers: list[tuple[str, str]] = []
        redact: list[str] = []
        chunks: list[bytes] = []
        settled = False  # the row was completed or released

        async def capture(message: Message) -> None:
            nonlocal status, kept_headers, settled
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                if REDACT_HEADER in headers:
                    redact.extend(name.strip() for name in headers[REDACT_HEADER].split(",") if name.strip())
                    del headers[REDACT_HEADER]
                kept_headers = [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", [])
                    if name.decode("latin-1").lower() not in _NOT_STORED
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and not settled:
                    # Settled before the last byte goes out: a client that retries as soon as
                    # it has the answer finds it stored, not "in flight".
                    settled = True
                    if status >= 500:
                        await run_in_threadpool(self.store.release, caller, key)
                    else:
                        body = redacted(b"".join(chunks), redact)
                        stored_headers = [
                            (name, str(len(body)) if name.lower() == "content-length" else value)
                            for name, value in kept_headers
                        ]
                        stored = StoredResponse(status, stored_headers, body)
                        await run_in_threadpool(self.store.complete, caller, key, stored)
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if not settled:
                # The handler crashed (or was cancelled) before answering in full.
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(self.store.release, caller, key)


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands it to the app again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _send_stored(stored: StoredResponse, send: Send) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in stored.headers]
    headers.append((REPLAYED_HEADER.lower().encode(), b"true"))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})
