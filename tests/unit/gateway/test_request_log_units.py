"""The request log middleware without a database: route templates, and a failed write."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from gateway_service.request_log import REQUEST_LOG_FAILURES, RequestLogMiddleware, route_template


def _app(engine: sa.Engine) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.add_middleware(RequestLogMiddleware, engine=engine, routes=app.router.routes)
    return app


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def test_the_route_is_the_template_of_the_matching_route() -> None:
    routes = _app(sa.create_engine("sqlite://")).router.routes
    assert route_template(routes, _scope("GET", "/v1/things/7")) == "/v1/things/{thing_id}"
    assert route_template(routes, _scope("DELETE", "/v1/things/7")) == "/v1/things/{thing_id}"  # a 405
    assert route_template(routes, _scope("GET", "/v1/other")) == ""


async def test_a_failed_write_is_counted_and_the_answer_stands() -> None:
    engine = sa.create_engine("sqlite://")  # no outbox table: every write fails
    before = REQUEST_LOG_FAILURES._value.get()
    transport = httpx.ASGITransport(app=_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await client.get("/v1/things/7")
        assert (answer.status_code, answer.json()) == (200, {"id": 7})
        assert (await client.get("/healthz")).status_code == 404  # skipped: not written, not counted
    assert REQUEST_LOG_FAILURES._value.get() == before + 1
