"""The spec check itself: it catches a wrong field type and a missing required field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hcloud import Client

from tests.unit.hetzner_sim import spec
from tests.unit.hetzner_sim.conftest import Sim


def _server_answer(sim: Sim, client: Client) -> dict[str, Any]:
    created = client.servers.create(
        name="checked",
        server_type=client.server_types.get_by_name("cx22"),  # type: ignore[arg-type]
        image=client.images.get_by_name_and_architecture("ubuntu-24.04", "x86"),  # type: ignore[arg-type]
    )
    answer: dict[str, Any] = sim.raw("GET", f"/servers/{created.server.id}").json()
    return answer


def test_a_real_answer_passes(sim: Sim, client: Client) -> None:
    spec.validate("GET", "/v1/servers/1", 200, _server_answer(sim, client))


def test_a_wrong_field_type_fails(sim: Sim, client: Client) -> None:
    answer = copy.deepcopy(_server_answer(sim, client))
    answer["server"]["id"] = "not-a-number"
    with pytest.raises(AssertionError, match="does not match the spec"):
        spec.validate("GET", "/v1/servers/1", 200, answer)


def test_a_missing_required_field_fails(sim: Sim, client: Client) -> None:
    answer = copy.deepcopy(_server_answer(sim, client))
    del answer["server"]["public_net"]["ipv4"]
    with pytest.raises(AssertionError, match="ipv4"):
        spec.validate("GET", "/v1/servers/1", 200, answer)


def test_a_wrong_nullable_and_enum_fail() -> None:
    action = {
        "action": {
            "id": 1,
            "command": "x",
            "status": "done",
            "progress": 1,
            "started": "2026-01-01T00:00:00+00:00",
            "finished": None,
            "resources": [],
            "error": None,
        }
    }
    with pytest.raises(AssertionError, match="status"):
        spec.validate("GET", "/v1/actions/1", 200, action)
    action["action"]["status"] = "success"
    spec.validate("GET", "/v1/actions/1", 200, action)


def test_error_answers_are_checked_against_the_error_schema() -> None:
    spec.validate("GET", "/v1/servers/1", 404, {"error": {"code": "not_found", "message": "m", "details": None}})
    with pytest.raises(AssertionError):
        spec.validate("GET", "/v1/servers/1", 404, {"error": {"message": "no code"}})


def test_the_scenario_covered_many_operations(_server: Sim) -> None:
    # Runs after the hcloud scenario in the same session (file order); it must have
    # validated answers of many distinct operations.
    operations = {(method, spec.operation_path(path)) for method, path, _ in _server.checked}
    if len(operations) < 10:
        pytest.skip("run with test_hcloud_client.py to see the coverage")
    assert len(operations) >= 30


def test_a_json_float_is_never_an_integer(sim: Sim, client: Client) -> None:
    """Go decodes ``40.0`` into no ``int``: the check refuses it where the spec says integer
    (JSON Schema alone would take it), in a nullable integer too, and takes it for a number."""
    real = _server_answer(sim, client)
    answer = copy.deepcopy(real)
    answer["server"]["primary_disk_size"] = float(answer["server"]["primary_disk_size"])
    with pytest.raises(AssertionError, match=r"primary_disk_size: .*JSON float, not an integer"):
        spec.validate("GET", "/v1/servers/1", 200, answer)
    answer = copy.deepcopy(real)
    answer["server"]["outgoing_traffic"] = 0.0  # integer or null
    with pytest.raises(AssertionError, match="outgoing_traffic"):
        spec.validate("GET", "/v1/servers/1", 200, answer)
    answer = copy.deepcopy(real)
    answer["server"]["server_type"]["memory"] = 4  # a number: an integer is one too
    spec.validate("GET", "/v1/servers/1", 200, answer)
    # The spec says number for a server type's disk; hcloud-go decodes an int: held to integer.
    answer["server"]["server_type"]["disk"] = 40.0
    with pytest.raises(AssertionError, match=r"server/server_type/disk: .*JSON float, not an integer"):
        spec.validate("GET", "/v1/servers/1", 200, answer)
