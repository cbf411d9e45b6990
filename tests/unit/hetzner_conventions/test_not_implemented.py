"""An operation of Hetzner's API an app (the gateway, the simulator) has no route for answers
``501 not_implemented`` naming it; a path that is not Hetzner's keeps the router's 404, and a
route the app has wins."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from hetzner_conventions.error_handlers import install_error_handlers
from hetzner_conventions.not_implemented import hetzner_operation
from hetzner_conventions.operations import HETZNER_OPERATIONS
from tests.unit.hetzner_sim import spec


def test_the_operations_are_exactly_the_specs() -> None:
    in_spec = {
        (method.upper(), "/v1" + path)
        for path, item in spec.spec()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert set(HETZNER_OPERATIONS) == in_spec
    assert len(HETZNER_OPERATIONS) == len(in_spec)


def test_a_path_is_matched_to_its_template_literal_segments_first() -> None:
    assert hetzner_operation("GET", "/v1/floating_ips") == "/v1/floating_ips"
    assert hetzner_operation("delete", "/v1/floating_ips/42") == "/v1/floating_ips/{id}"
    assert hetzner_operation("GET", "/v1/volumes/actions") == "/v1/volumes/actions"
    assert hetzner_operation("POST", "/v1/servers/7/actions/add_to_placement_group") == (
        "/v1/servers/{id}/actions/add_to_placement_group"
    )
    assert hetzner_operation("PATCH", "/v1/floating_ips") is None  # not a method Hetzner has there
    assert hetzner_operation("GET", "/v1/nothing_like_it") is None
    assert hetzner_operation("GET", "/v1/floating_ips/1/2/3") is None


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/servers")
    async def list_servers() -> dict[str, list[int]]:
        return {"servers": []}

    @app.get("/v1/servers/{id:int}")
    async def get_server(id: int) -> dict[str, int]:
        return {"id": id}

    return app


client = TestClient(make_app(), raise_server_exceptions=False)


def test_an_unserved_family_is_not_implemented_with_hetzners_error_object() -> None:
    answer = client.get("/v1/floating_ips")
    assert answer.status_code == 501
    assert answer.json() == {
        "error": {
            "code": "not_implemented",
            "message": "floating_ips is not offered by this platform yet: GET /v1/floating_ips",
            "details": None,
        }
    }
    spec.validate("GET", "/v1/floating_ips", 501, answer.json())


def test_an_unserved_operation_of_a_served_family_names_the_operation() -> None:
    answer = client.post("/v1/servers/3/actions/add_to_placement_group", json={"placement_group": 1})
    assert answer.status_code == 501
    assert answer.json()["error"]["message"] == (
        "this operation is not offered by this platform yet: POST /v1/servers/{id}/actions/add_to_placement_group"
    )
    # The path has a route, not the method: Hetzner's DELETE there is not implemented either.
    assert client.delete("/v1/servers/3").status_code == 501


def test_a_route_the_gateway_has_wins_and_other_paths_keep_404_and_405() -> None:
    assert client.get("/v1/servers/3").json() == {"id": 3}
    # An operation the gateway serves, at a path its route refuses: a 404, not "not offered".
    assert client.get("/v1/servers/null").status_code == 404
    missing = client.get("/v1/no_such_family")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.patch("/v1/servers/3").status_code == 405  # no such method in Hetzner's API either
