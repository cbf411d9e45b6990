"""The HTTP face: Hetzner Cloud API v1 under /v1, the control endpoints under /_sim, /healthz.

This module assembles the simulator: each family of Hetzner's API is a module with its own
``register(app)`` (``catalog_routes``, ``ssh_keys``, ``servers``, ``actions``, and the network
and storage families), built on the helpers in ``common``; here are only the control
endpoints, the middleware in front of /v1 (token, rate limit, faults) and ``create_app``.

Every handler is ``async`` and never awaits while it touches the state, so the event loop
serialises them and the state needs no lock.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cpshared.errors import InvalidInput, NotFound
from hetzner_conventions.error_handlers import error_response, install_error_handlers
from hetzner_conventions.errors import error_body, status_for
from hetzner_sim import (
    actions,
    catalog_routes,
    firewalls,
    floating_ips,
    load_balancers,
    networks,
    placement_groups,
    primary_ips,
    servers,
    ssh_keys,
    volumes,
)
from hetzner_sim.common import Ctx, sim_of
from hetzner_sim.faults import FaultRule, Faults, RateLimiter, headers
from hetzner_sim.state import PLANNED_ACTION_ERROR, Clock, ManualClock, SimConfig, Simulator, iso8601

DEFAULT_TOKEN = "sim-token"  # noqa: S105 - the simulator's documented development token


def tokens_from_env() -> list[str]:
    """CP_HETZNER_SIM_TOKEN: one token, or several separated by commas (one project each); or
    CP_HETZNER_SIM_TOKEN_FILE: a file holding them (a mounted secret), which wins when set."""
    token_file = os.environ.get("CP_HETZNER_SIM_TOKEN_FILE", "")
    if token_file:
        with open(token_file, encoding="utf-8") as source:
            raw = source.read()
    else:
        raw = os.environ.get("CP_HETZNER_SIM_TOKEN", DEFAULT_TOKEN)
    return [token.strip() for token in raw.split(",") if token.strip()]


class CpuLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    cpu: float | None = Field(ge=0, allow_inf_nan=False, description="CPU percent; null: the wave again.")
    from_: AwareDatetime | None = Field(default=None, alias="from", description="From when (default: now).")


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0, le=366 * 86_400, allow_inf_nan=False, description="How far to move the clock.")


def register_control(app: FastAPI) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_sim/faults")
    async def list_faults(request: Request) -> dict[str, Any]:
        ctx: Ctx = request.app.state.ctx
        return {"faults": [rule.model_dump() for rule in ctx.faults.rules]}

    @app.post("/_sim/faults", status_code=201)
    async def add_fault(request: Request, rule: FaultRule) -> dict[str, Any]:
        ctx: Ctx = request.app.state.ctx
        return {"fault": ctx.faults.add(rule).model_dump()}

    @app.delete("/_sim/faults", status_code=204)
    async def clear_faults(request: Request) -> None:
        ctx: Ctx = request.app.state.ctx
        ctx.faults.clear()

    @app.delete("/_sim/faults/{rule_id}", status_code=204)
    async def delete_fault(request: Request, rule_id: int) -> None:
        ctx: Ctx = request.app.state.ctx
        if not ctx.faults.remove(rule_id):
            raise NotFound(f"fault {rule_id} not found")

    @app.put("/_sim/servers/{server_id}/cpu")
    async def set_server_cpu(request: Request, server_id: int, level: CpuLevel) -> dict[str, Any]:
        """The server's simulated CPU from ``from`` (default: now) on: ``cpu`` percent (100 per
        core at most), or null for the wave again. Later levels than ``from`` are dropped."""
        sim = sim_of(request)
        server = next((p.servers[server_id] for p in sim.projects.values() if server_id in p.servers), None)
        if server is None:
            raise NotFound(f"server {server_id} not found")
        if level.cpu is not None and level.cpu > 100.0 * server.server_type.cores:
            raise InvalidInput(f"cpu must be 0 to {100 * server.server_type.cores} (100 per core)")
        since = level.from_.timestamp() if level.from_ is not None else sim.now()
        server.cpu_levels = [entry for entry in server.cpu_levels if entry[0] < since] + [(since, level.cpu)]
        return {"server": server_id, "cpu_levels": [{"from": iso8601(t), "cpu": v} for t, v in server.cpu_levels]}

    @app.get("/_sim/clock")
    async def get_clock(request: Request) -> dict[str, Any]:
        return {"now": iso8601(sim_of(request).now())}

    @app.post("/_sim/clock")
    async def advance_clock(request: Request, advance: ClockAdvance) -> dict[str, Any]:
        """Move a manual clock forward (a simulator started on the system clock refuses): what
        falls due meanwhile (actions, the daily backups) happens on the next request."""
        sim = sim_of(request)
        if not isinstance(sim.clock, ManualClock):
            raise InvalidInput("the simulator runs on the system clock; only a manual clock is moved")
        sim.clock.advance(advance.seconds)
        sim.tick()
        return {"now": iso8601(sim.now())}

    @app.get("/_sim/config")
    async def get_config(request: Request) -> dict[str, Any]:
        return sim_of(request).config.model_dump()

    @app.patch("/_sim/config")
    async def change_config(request: Request, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        sim = sim_of(request)
        unknown = set(changes) - set(SimConfig.model_fields)
        if unknown:
            raise InvalidInput(f"unknown settings: {', '.join(sorted(unknown))}")
        sim.config = SimConfig.model_validate(sim.config.model_dump() | changes)
        return sim.config.model_dump()

    @app.post("/_sim/reset", status_code=204)
    async def reset(request: Request) -> None:
        ctx: Ctx = request.app.state.ctx
        ctx.sim.reset()
        ctx.sim.config = SimConfig()
        ctx.faults.clear()
        ctx.limiter.clear()

    @app.get("/_sim/state")
    async def state(request: Request) -> dict[str, Any]:
        ctx: Ctx = request.app.state.ctx
        sim = ctx.sim
        sim.tick()
        now = sim.now()
        return {
            "projects": {
                name: {
                    "servers": {str(s.id): {"name": s.name, "status": s.status} for s in p.servers.values()},
                    "ssh_keys": len(p.ssh_keys),
                    "images": len(p.images),
                    "floating_ips": len(p.floating_ips),
                    "primary_ips": len(p.primary_ips),
                    "networks": len(p.networks),
                    "firewalls": len(p.firewalls),
                    "load_balancers": len(p.load_balancers),
                    "volumes": len(p.volumes),
                    "actions_running": sum(1 for a in sim.project_actions(p) if a.status(now) == "running"),
                }
                for name, p in sim.projects.items()
            },
            "actions": len(sim.actions),
            "ipv4_in_use": sim.pool.used_v4,
            "faults": len(ctx.faults.rules),
        }


class SimMiddleware:
    """Auth, the rate limit with its headers, and the fault injector, for every /v1 request."""

    def __init__(self, app: ASGIApp, ctx: Ctx) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token is None or token not in self.ctx.projects:
            await error_response("unauthorized", "unable to authenticate")(scope, receive, send)
            return
        project = self.ctx.projects[token]
        scope.setdefault("state", {})["project"] = project
        sim = self.ctx.sim
        allowed, rate_headers = self.ctx.limiter.take(
            project, sim.now(), sim.config.rate_limit, sim.config.rate_refill_per_second
        )
        if not allowed:
            await self._error("rate_limit_exceeded", "limit of requests per hour reached", rate_headers, scope, send)
            return
        drop: str | None = None
        planned: dict[str, str] | None = None
        for rule in self.ctx.faults.pick(scope["method"], scope["path"]):
            if rule.kind == "latency":
                await asyncio.sleep(rule.seconds)
            elif rule.kind == "timeout":
                await asyncio.sleep(rule.seconds)
                await self._error("timeout", "the request timed out", rate_headers, scope, send)
                return
            elif rule.kind == "error":
                status = rule.status or status_for(rule.code)
                await self._error(rule.code, rule.message, rate_headers, scope, send, status)
                return
            elif rule.kind == "rate_limit":
                limit = sim.config.rate_limit
                exhausted = headers(limit, 0, sim.now() + limit / sim.config.rate_refill_per_second)
                await self._error("rate_limit_exceeded", rule.message, exhausted, scope, send)
                return
            elif rule.kind == "action_error":
                planned = {"code": rule.code, "message": rule.message}
            elif rule.kind == "drop":
                drop = rule.mode
        token_var = PLANNED_ACTION_ERROR.set(planned)
        try:
            if drop is None:
                await self.app(scope, receive, self._with_headers(send, rate_headers))
            else:
                await self._serve_then_drop(drop, scope, receive, send)
        finally:
            PLANNED_ACTION_ERROR.reset(token_var)

    @staticmethod
    def _with_headers(send: Send, extra: dict[str, str]) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.lower().encode(), v.encode()) for k, v in extra.items()),
                ]
            await send(message)

        return wrapped

    async def _error(
        self,
        code: str,
        message: str,
        extra: dict[str, str],
        scope: Scope,
        send: Send,
        status: int | None = None,
    ) -> None:
        response = JSONResponse(error_body(code, message), status_code=status or status_for(code), headers=extra)

        async def nothing() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await response(scope, nothing, send)

    async def _serve_then_drop(self, mode: str, scope: Scope, receive: Receive, send: Send) -> None:
        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)  # the state changes; the answer goes nowhere
        if mode == "502":
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Bad Gateway"})
            return
        # Promise a body, send part of it, then fail: the server closes the connection mid-answer.
        body = json.dumps({"dropped": True}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body) * 4).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": True})
        raise ConnectionAbortedError("hetzner-sim: fault injection dropped the connection")


def create_app(
    config: SimConfig | None = None,
    clock: Clock | None = None,
    tokens: Sequence[str] | None = None,
    seed: int = 0,
) -> FastAPI:
    """The simulator: Hetzner's families (one module each), the control endpoints and the
    middleware (token, rate limit, faults) in front of /v1."""
    app = FastAPI(title="Hetzner Cloud simulator", docs_url=None, redoc_url=None)
    ctx = Ctx(Simulator(config, clock), Faults(seed), RateLimiter(), tokens or tokens_from_env())
    app.state.ctx = ctx
    install_error_handlers(app)
    catalog_routes.register(app)
    ssh_keys.register(app)
    servers.register(app)
    actions.register(app)
    servers.register_actions(app)
    for family in (firewalls, floating_ips, load_balancers, networks, placement_groups, primary_ips, volumes):
        family.register(app)
    register_control(app)
    servers.register_console(app)
    app.add_middleware(SimMiddleware, ctx=ctx)
    return app
