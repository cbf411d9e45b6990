from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cpshared import errors
from hetzner_conventions.error_handlers import install_error_handlers
from hetzner_conventions.errors import STATUS_BY_CODE


class NewServer(BaseModel):
    name: str
    count: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{name}")
    async def raise_error(name: str) -> None:
        raise getattr(errors, name)(f"{name} happened", details={"hint": "x"} if name == "Conflict" else None)

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals")

    @app.post("/servers")
    async def create(server: NewServer) -> NewServer:
        return server

    return app


client = TestClient(make_app(), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        ("InvalidInput", 400, "invalid_input"),
        ("Unauthenticated", 401, "unauthorized"),
        ("Forbidden", 403, "forbidden"),
        ("NotFound", 404, "not_found"),
        ("AlreadyExists", 409, "uniqueness_error"),
        ("Conflict", 409, "conflict"),
        ("PreconditionFailed", 412, "precondition_failed"),
        ("LimitExceeded", 403, "resource_limit_exceeded"),
        ("Unavailable", 503, "unavailable"),
        ("DomainError", 500, "service_error"),
    ],
)
def test_a_domain_error_answers_the_hetzner_error_object_with_its_status(error: str, status: int, code: str) -> None:
    response = client.get(f"/raise/{error}")
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"] == f"{error} happened"
    assert body["error"]["details"] == ({"hint": "x"} if error == "Conflict" else None)


def test_hetzner_statuses_of_the_codes_clients_act_on() -> None:
    assert STATUS_BY_CODE["rate_limit_exceeded"] == 429
    assert STATUS_BY_CODE["resource_limit_exceeded"] == 403
    assert STATUS_BY_CODE["uniqueness_error"] == 409
    assert STATUS_BY_CODE["locked"] == 423
    assert STATUS_BY_CODE["idempotency_key_reused"] == 422


def test_a_body_that_fails_validation_is_invalid_input_with_the_fields_named() -> None:
    response = client.post("/servers", json={"name": "web"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["fields"][0]["name"] == "count"
    assert error["details"]["fields"][0]["messages"]


def test_a_body_that_is_not_json_is_json_error() -> None:
    response = client.post("/servers", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_error"


def test_an_unknown_path_is_not_found() -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_wrong_method_keeps_405_and_its_allow_header() -> None:
    response = client.delete("/servers")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "invalid_input"


def test_a_crash_is_service_error_without_the_internals() -> None:
    response = client.get("/crash")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "service_error",
            "message": "the request could not be completed because of an internal error; retry later",
            "details": None,
        }
    }
