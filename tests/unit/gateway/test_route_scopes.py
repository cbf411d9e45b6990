"""Every route declares its scope one way (``gateway_service.auth.scoped``), and the declaration
checks after FastAPI has validated the request and before the route's body runs."""

from __future__ import annotations

import inspect
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from gateway_service.app import ROUTERS
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal, Role
from gateway_service.auth.scoped import route_scope, scope, staff
from hetzner_conventions.error_handlers import install_error_handlers

# Routes of signed-in callers that need no scope: signing out ends the calling session itself.
NO_SCOPE = {("POST", "/v1/auth/logout")}


def routes() -> list[APIRoute]:
    return [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]


def test_every_route_of_a_signed_in_caller_declares_its_scope() -> None:
    undeclared = [
        (method, route.path)
        for route in routes()
        for method in sorted(route.methods or ())
        if "principal" in inspect.signature(route.endpoint).parameters
        and route_scope(route.endpoint) is None
        and (method, route.path) not in NO_SCOPE
    ]
    assert undeclared == []


def test_public_routes_declare_no_scope() -> None:
    public = [route for route in routes() if "principal" not in inspect.signature(route.endpoint).parameters]
    assert public, "sign-up and login are public"
    assert all(route_scope(route.endpoint) is None for route in public)


def test_a_route_reads_its_own_family() -> None:
    declared = {
        (method, route.path): route_scope(route.endpoint) for route in routes() for method in route.methods or ()
    }
    servers = declared[("POST", "/v1/servers/{id}/actions/poweron")]
    assert servers is not None and (servers.family, servers.access, servers.staff) == (
        Family.SERVERS,
        Access.WRITE,
        False,
    )
    users = declared[("GET", "/v1/admin/users")]
    assert users is not None and (users.family, users.access, users.staff) == (Family.USERS, Access.READ, True)


class Body(BaseModel):
    name: str


def test_a_scope_is_declared_only_on_a_route_that_takes_the_principal() -> None:
    async def anonymous(body: Body) -> None:
        return None

    with pytest.raises(TypeError, match="principal"):
        scope(Family.SERVERS, Access.READ)(anonymous)


async def current(request: Request) -> Principal:
    """The caller the test app was made for (the gateway's own door authenticates a Bearer token)."""
    principal: Principal = request.app.state.caller
    return principal


Caller = Annotated[Principal, Depends(current)]
router = APIRouter()


@router.post("/servers")
@scope(Family.SERVERS, Access.WRITE)
async def create(request: Request, principal: Caller, body: Body) -> dict[str, str]:
    request.app.state.calls.append(body.name)
    return {"name": body.name}


@router.post("/users/{action}")
@staff(Family.USERS, Access.WRITE, admin_only=lambda arguments: arguments["action"] == "ban")
async def change(request: Request, principal: Caller, action: str) -> dict[str, str]:
    request.app.state.calls.append(action)
    return {"action": action}


def app_for(caller: Principal, calls: list[str]) -> TestClient:
    app = FastAPI()
    app.state.caller, app.state.calls = caller, calls
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


def caller(role: Role, *scopes: str) -> Principal:
    return Principal(user_id=1, api_key_id=2, role=role, scopes=frozenset(scopes), organization_id=None, rate_limit=10)


def test_a_key_without_the_scope_is_forbidden_and_the_route_does_not_run() -> None:
    calls: list[str] = []
    client = app_for(caller(Role.CLIENT, "servers:read"), calls)
    answer = client.post("/servers", json={"name": "web"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert "servers:write" in answer.json()["error"]["message"]
    assert calls == []


def test_a_malformed_request_is_invalid_before_the_scope_is_checked() -> None:
    calls: list[str] = []
    client = app_for(caller(Role.CLIENT, "servers:read"), calls)
    answer = client.post("/servers", json={"nome": "web"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_input")
    assert calls == []


def test_a_key_with_the_scope_reaches_the_route() -> None:
    calls: list[str] = []
    client = app_for(caller(Role.CLIENT, "servers:write"), calls)
    answer = client.post("/servers", json={"name": "web"})
    assert (answer.status_code, answer.json()) == (200, {"name": "web"})
    assert calls == ["web"]


def test_a_staff_rule_may_depend_on_the_routes_arguments() -> None:
    calls: list[str] = []
    client = app_for(caller(Role.SUPPORT, "*:write"), calls)
    assert client.post("/users/suspend").status_code == 200
    banned = client.post("/users/ban")
    assert banned.status_code == 403
    assert "for the roles admin" in banned.json()["error"]["message"]
    assert calls == ["suspend"]
    assert app_for(caller(Role.ADMIN, "*:write"), calls).post("/users/ban").status_code == 200
    assert app_for(caller(Role.CLIENT, "*:write"), calls).post("/users/suspend").status_code == 403
    assert calls == ["suspend", "ban"]
