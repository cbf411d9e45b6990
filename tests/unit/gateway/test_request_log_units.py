"""The request log middleware without a database: route templates, and a failed write."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from gateway_service.request_log import REQUEST_LOG_FAILURES, RequestLogMiddleware, RequestLogWriter, route_template


def _app(writer: RequestLogWriter) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.add_middleware(RequestLogMiddleware, writer=writer, routes=app.router.routes)
    return app


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def test_the_route_is_the_template_of_the_matching_route() -> None:
    routes = _app(RequestLogWriter(sa.create_engine("sqlite://"))).router.routes
    assert route_template(routes, _scope("GET", "/v1/things/7")) == "/v1/things/{thing_id}"
    assert route_template(routes, _scope("DELETE", "/v1/things/7")) == "/v1/things/{thing_id}"  # a 405
    assert route_template(routes, _scope("GET", "/v1/other")) == ""


async def test_a_failed_write_is_counted_and_the_answer_stands() -> None:
    engine = sa.create_engine("sqlite://")  # no outbox table: every write fails
    before = REQUEST_LOG_FAILURES._value.get()
    writer = RequestLogWriter(engine)
    transport = httpx.ASGITransport(app=_app(writer))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answers = [await client.get(f"/v1/things/{n}") for n in (7, 8)]
        assert [(a.status_code, a.json()) for a in answers] == [(200, {"id": 7}), (200, {"id": 8})]
        assert (await client.get("/healthz")).status_code == 404  # skipped: not written, not counted
    await writer.close()
    assert REQUEST_LOG_FAILURES._value.get() == before + 2
