"""ASGI middleware: every answer of the gateway is recorded as a ``request.completed`` event.

The event goes to the gateway's own outbox (``gateway-relay`` publishes it to the
``gateway.requests`` stream, where the audit service reads it), never straight to Kafka: no
dual write (docs/ARCHITECTURE.md). It carries the route template, the status, the duration,
who called (user, organization, API key: from :data:`gateway_service.auth.gate.ACTOR_STATE`,
left there by authentication) and from where (address, user agent), and whether the answer
was an idempotent replay or a 429; never a credential, another header, a query string or a body.

It sits inside the request-id middleware (so it knows the request id) and outside everything
else, so it sees the final answer: 401, 429, 409 and 422 from idempotency, and replays.

The event is handed to a :class:`RequestLogWriter` after the last byte of the answer went
out; the writer commits what has queued up in one transaction (a batch of up to 500 rows),
off the event loop, so a busy gateway writes its log in a few transactions a second instead of
one per request. The answer is already sent by then, so a failed write (the database is down)
cannot change it: the failure is logged with the request ids and counted in
``gateway_request_log_failures_total``, and those requests are missing from the log. The
alternative, holding every answer until its log row commits, would make the public API as
available as the gateway's database and slower for every caller; alert on the counter instead.
On shutdown the writer commits what is queued before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import anyio
from prometheus_client import Counter
from sqlalchemy.engine import Engine
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudplatform.gateway.v1.events_pb2 import RequestCompleted
from cpshared.context import ActorContext, actor_var, correlation_id_var
from cpshared.events.catalog import REQUEST_COMPLETED
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.events.outbox import write_events
from cpshared.logging import get_logger
from gateway_service import SERVICE_NAME
from gateway_service.auth.gate import ACTOR_STATE, BUDGET_STATE, request_actor
from gateway_service.idempotency.middleware import REPLAYED_HEADER

log = get_logger(__name__)

REQUEST_LOG_FAILURES = Counter(
    "gateway_request_log_failures_total",
    "Answers whose request.completed event could not be written to the outbox (the answer was sent).",
)

UNLOGGED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_REPLAYED = REPLAYED_HEADER.lower().encode()


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template of the route ``scope`` matches (of one that matches its path only, for
    a 405), or "" when none does. Matched here, as the answer may come before routing (a replay);
    ``routes`` are the routers' own routes (full paths), not the app's lazily included ones."""
    partial = ""
    for route in routes:
        match, _ = route.matches(scope)
        path = getattr(route, "path", "")
        if match is Match.FULL:
            return str(path)
        if match is Match.PARTIAL and not partial:
            partial = str(path)
    return partial


MAX_BATCH = 500


class RequestLogWriter:
    """Commits queued request.completed events in batches, one writer task per event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: asyncio.Queue[PendingEvent] | None = None
        self._task: asyncio.Task[None] | None = None

    def submit(self, event: PendingEvent) -> None:
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue), name="request-log-writer")
        self._queue.put_nowait(event)

    async def _run(self, queue: asyncio.Queue[PendingEvent]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            # Shielded: a batch taken from the queue is written even if shutdown cancels the task.
            with anyio.CancelScope(shield=True):
                await asyncio.to_thread(self._write, batch)
            for _ in batch:
                queue.task_done()

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed (or counted as failed)."""
        if self._queue is not None and self._task is not None and not self._task.done():
            await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _write(self, events: list[PendingEvent]) -> None:
        try:
            with self.engine.begin() as conn:
                write_events(conn, events)
        except Exception as exc:  # the answers are sent: count and log, never raise
            REQUEST_LOG_FAILURES.inc(len(events))
            log.warning(
                "request_log_write_failed",
                request_ids=[event.envelope.aggregate_id for event in events],
                error=f"{type(exc).__name__}: {exc}",
            )


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, *, writer: RequestLogWriter, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.writer = writer
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLOGGED_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Matched before the app runs: routing leaves its own context in the scope.
        route = route_template(self.routes, scope)
        finished: float | None = None
        status = 0
        replayed = False
        # Authentication leaves the actor and the budget in the request's state (a dict the
        # whole request shares); make sure it exists before anything below copies the scope.
        state = scope.setdefault("state", {})

        async def watch(message: Message) -> None:
            nonlocal status, replayed, finished
            if message["type"] == "http.response.start":
                status = int(message["status"])
                replayed = any(
                    name.lower() == _REPLAYED and value == b"true" for name, value in message.get("headers", [])
                )
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                await send(message)
                finished = time.perf_counter()
                return
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException:
            status = status or 500  # what the server answers for a crash
            raise
        finally:
            duration_ms = int(((finished or time.perf_counter()) - started) * 1000)
            try:
                event = self._event(scope, state, route, status, duration_ms, replayed)
            except Exception:  # never let the log break a request it records
                REQUEST_LOG_FAILURES.inc()
                log.exception("request_log_event_failed", request_id=correlation_id_var.get())
            else:
                self.writer.submit(event)

    def _event(
        self, scope: Scope, state: dict[str, object], route: str, status: int, duration_ms: int, replayed: bool
    ) -> PendingEvent:
        found = state.get(ACTOR_STATE)
        actor = found if isinstance(found, ActorContext) else request_actor(scope)
        budget = state.get(BUDGET_STATE)
        request_id = correlation_id_var.get() or actor.request_id
        payload = RequestCompleted(
            request_id=request_id,
            method=scope["method"],
            route=route,
            path=scope["path"],
            status=status,
            duration_ms=duration_ms,
            user_id=actor.user_id,
            organization_id=actor.organization_id,
            api_key_id=actor.api_key_id,
            ip=actor.ip,
            user_agent=actor.user_agent,
            idempotent_replay=replayed,
            rate_limited=bool(getattr(budget, "exceeded", False)),
        )
        token = actor_var.set(actor)
        try:
            return new_event(
                REQUEST_COMPLETED,
                producer=SERVICE_NAME,
                aggregate_id=request_id,
                aggregate_version=1,
                payload=payload,
            )
        finally:
            actor_var.reset(token)
