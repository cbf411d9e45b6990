"""The server aggregate changes itself: an action's life (begin → finish or fail), the version it
bumps and the events it records, on the plain domain objects (no database, no upstream)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from compute_service.domain import server_status as st
from compute_service.domain.placement_groups import ADD
from compute_service.domain.servers import (
    ACTION_ERROR,
    ACTION_RUNNING,
    ACTION_SUCCESS,
    CREATE,
    DELETE,
    POWER_OFF,
    Action,
    Locked,
    Protected,
    Server,
)
from compute_service.domain.suspension import ERASED, SUSPENDED
from cpshared.errors import PreconditionFailed
from cpshared.events.catalog import REGISTRY

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _server(status: str = st.RUNNING, **fields: object) -> Server:
    server = Server(
        id=7,
        user_id=42,
        organization_id=None,
        name="web-1",
        status=status,
        server_type_id=1,
        datacenter_id=1,
        image_id=1,
        server_type="cx22",
        datacenter="fsn1-dc14",
        image="ubuntu-24.04",
        version=3,
    )
    for name, value in fields.items():
        setattr(server, name, value)
    return server


def _with_id(action: Action, action_id: int = 99) -> Action:
    action.id = action_id  # what the repository does when it adds the action
    return action


def test_begin_locks_the_server_bumps_its_version_and_makes_a_running_action() -> None:
    server = _server()
    action = server.begin(POWER_OFF)
    assert server.locked and server.version == 4
    assert (action.command, action.status, action.server_id, action.user_id) == (POWER_OFF, ACTION_RUNNING, 7, 42)
    assert server.pop_events() == []  # starting records nothing: the outcome does


def test_a_second_action_is_refused_while_one_runs_and_nothing_changes() -> None:
    server = _server()
    server.begin(POWER_OFF)
    with pytest.raises(Locked, match="another action is running"):
        server.begin(DELETE)
    assert server.version == 4


def test_begin_applies_the_command_rule_before_locking() -> None:
    server = _server(protection_delete=True)
    with pytest.raises(Protected):
        server.begin(DELETE)
    assert not server.locked and server.version == 3

    def refuse(s: Server) -> None:
        raise PreconditionFailed("no")

    with pytest.raises(PreconditionFailed, match="no"):
        _server().begin(POWER_OFF, check=refuse)


def test_a_finished_power_action_unlocks_records_the_status_change_and_finishes_the_action() -> None:
    server = _server(hetzner_id=4711)
    action = _with_id(server.begin(POWER_OFF))
    server.powered(action, 555, NOW)
    assert (server.status, server.locked, server.version) == (st.STOPPED, False, 5)
    assert (action.status, action.progress, action.finished, action.upstream_action_id) == (
        ACTION_SUCCESS,
        100,
        NOW,
        555,
    )
    assert action.version == 2
    [event] = server.pop_events()
    assert (event.event_type, event.version) == ("server.status_changed", 5)
    assert event.fields == {
        "server_id": 7,
        "user_id": 42,
        "organization_id": 0,
        "old_status": st.RUNNING,
        "status": st.STOPPED,
        "action_id": 99,
        "error_code": "",
        "upstream_id": 4711,
    }
    assert server.pop_events() == []  # collected once


def test_a_failed_create_leaves_the_server_in_error_and_records_why() -> None:
    server = _server(st.PROVISIONING, locked=True, version=1)
    action = _with_id(Action.running(CREATE, server, {}))
    server.action_failed(action, "server_limit_exceeded", "too many", NOW)
    assert (server.status, server.locked, server.version) == (st.ERROR, False, 2)
    assert (action.status, action.error_code) == (ACTION_ERROR, "server_limit_exceeded")
    assert action.error_message == "too many"
    [event] = server.pop_events()
    assert event.fields["status"] == st.ERROR and event.fields["error_code"] == "server_limit_exceeded"


def test_a_failed_join_leaves_the_group_and_a_failure_that_keeps_the_status_records_nothing() -> None:
    server = _server(st.STOPPED)
    action = _with_id(server.begin(ADD, {"placement_group_id": 5}))
    server.placement_group_id = 5
    server.action_failed(action, "unavailable", "later", NOW)
    assert server.placement_group_id is None and not server.locked
    assert server.pop_events() == []


def test_a_finished_delete_records_the_deletion() -> None:
    server = _server()
    action = _with_id(server.begin(DELETE))
    server.deleted(action, NOW)
    assert (server.status, server.deleted_at, server.locked) == (st.DELETED, NOW, False)
    [event] = server.pop_events()
    assert event.event_type == "server.deleted" and event.fields["name"] == "web-1"


def test_a_rename_bumps_the_version_only_when_something_changed() -> None:
    server = _server()
    assert server.update("web-1", {}) == []
    assert server.version == 3 and server.pop_events() == []
    assert server.update("web-2", {"env": "prod"}) == ["name", "labels"]
    [event] = server.pop_events()
    assert (event.event_type, event.version, event.fields["name"]) == ("server.updated", 4, "web-2")


def test_an_erased_account_deletes_a_running_server_with_its_protection_lifted() -> None:
    server = _server(protection_delete=True, protection_rebuild=True)
    assert server.suspend(ERASED, NOW)
    action = server.enforce_suspension()
    assert action is not None and action.command == DELETE
    assert not server.protection_delete and not server.protection_rebuild and server.locked
    server.suspended(_with_id(action))
    [event] = server.pop_events()
    assert event.fields["reason"] == ERASED and event.fields["action_id"] == 99
    assert not server.suspend(SUSPENDED, NOW)  # an erased server is not suspended again


def test_every_event_the_server_records_is_a_registered_contract_with_its_payload_fields() -> None:
    server = _server()
    action = _with_id(server.begin(POWER_OFF))
    server.created(action)
    server.powered(action, 1, NOW)
    server.update("web-2", None)
    server.suspend(SUSPENDED, NOW)
    server.suspended(None)
    server.lift_suspension()
    for recorded in server.pop_events():
        spec = REGISTRY.spec(recorded.event_type)
        spec.message(**recorded.fields)  # a field the contract lacks would raise here
