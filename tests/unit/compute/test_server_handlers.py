"""Compute's server use cases and the worker on in-memory fakes of their ports: create, an
action's life (begin → finish, begin → fail) and delete, with no database and no upstream."""

from __future__ import annotations

import pytest

from compute_service.domain import server_status as st
from compute_service.domain.servers import (
    ACTION_ERROR,
    ACTION_RUNNING,
    ACTION_SUCCESS,
    DELETE,
    POWER_OFF,
    Locked,
    UpstreamFailure,
)
from compute_service.service_layer import servers
from compute_service.service_layer.ports import reservation_key
from compute_service.service_layer.provisioning import DEFERRED, Provisioner
from cpshared.errors import InvalidInput, LimitExceeded, Unavailable
from tests.unit.compute.fakes import FakeQuotas, FakeUnitOfWork, FakeUpstreamServers

OWNER = 42


def _anyone(user_id: int, organization_id: int | None) -> None:
    """The caller reaches every server (tenancy is the authorization adapter's, tested elsewhere)."""


def _request(name: str = "web-1", server_type: str = "cx22") -> servers.NewServer:
    return servers.NewServer(
        user_id=OWNER,
        organization_id=None,
        name=name,
        server_type=server_type,
        image="ubuntu-24.04",
        datacenter="fsn1",
    )


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def upstream() -> FakeUpstreamServers:
    return FakeUpstreamServers()


@pytest.fixture
def quotas() -> FakeQuotas:
    return FakeQuotas(limit=1)


def _created(uow: FakeUnitOfWork, quotas: FakeQuotas, upstream: FakeUpstreamServers) -> int:
    """A server created and provisioned by the worker; its id."""
    server, _ = servers.create(_request(), quotas, uow)
    outcome = Provisioner(uow, upstream, quotas).run_once()
    assert outcome is not None and outcome.status == ACTION_SUCCESS
    return server.id


def test_create_records_a_locked_server_its_create_action_and_server_created_and_holds_a_quota_unit(
    uow: FakeUnitOfWork, quotas: FakeQuotas
) -> None:
    server, action = servers.create(_request(), quotas, uow)
    stored = uow.servers.rows[server.id]
    assert (stored.status, stored.locked, stored.version) == (st.PROVISIONING, True, 1)
    assert (action.command, action.status, action.server_id) == ("create_server", ACTION_RUNNING, server.id)
    assert uow.committed_types() == ["server.created"]
    created = uow.committed[0].envelope
    assert (created.aggregate_id, created.aggregate_version) == (str(server.id), 1)
    assert quotas.held == {reservation_key(server.id): OWNER}


def test_a_create_over_the_quota_changes_nothing(uow: FakeUnitOfWork, quotas: FakeQuotas) -> None:
    servers.create(_request("web-1"), quotas, uow)
    with pytest.raises(LimitExceeded):
        servers.create(_request("web-2"), quotas, uow)
    assert len(uow.servers.rows) == 1 and len(uow.actions.rows) == 1 and uow.commits == 1
    assert uow.committed_types() == ["server.created"]


def test_a_create_with_an_unknown_server_type_is_refused_and_changes_nothing(
    uow: FakeUnitOfWork, quotas: FakeQuotas
) -> None:
    with pytest.raises(InvalidInput, match="server type 'cx99' does not exist"):
        servers.create(_request(server_type="cx99"), quotas, uow)
    assert uow.servers.rows == {} and uow.committed == [] and quotas.held == {}


def test_the_worker_provisions_a_created_server_and_records_its_status(
    uow: FakeUnitOfWork, quotas: FakeQuotas, upstream: FakeUpstreamServers
) -> None:
    server_id = _created(uow, quotas, upstream)
    stored = uow.servers.rows[server_id]
    assert (stored.status, stored.locked, stored.version) == (st.RUNNING, False, 2)
    assert stored.hetzner_id == upstream.find(server_id)[0].id and stored.ipv4_address == "203.0.113.7"
    assert uow.committed_types() == ["server.created", "server.status_changed"]
    assert uow.committed[-1].envelope.aggregate_version == 2


def test_an_action_begins_locked_and_finishes_unlocked_with_its_status_change(
    uow: FakeUnitOfWork, quotas: FakeQuotas, upstream: FakeUpstreamServers
) -> None:
    server_id = _created(uow, quotas, upstream)
    action = servers.start_action(server_id, POWER_OFF, _anyone, uow)
    assert uow.servers.rows[server_id].locked and uow.servers.rows[server_id].version == 3
    with pytest.raises(Locked):
        servers.start_action(server_id, POWER_OFF, _anyone, uow)

    outcome = Provisioner(uow, upstream, quotas).run_once()

    assert outcome is not None and (outcome.action_id, outcome.status) == (action.id, ACTION_SUCCESS)
    stored, finished = uow.servers.rows[server_id], uow.actions.rows[action.id]
    assert (stored.status, stored.locked, stored.version) == (st.STOPPED, False, 4)
    assert upstream.calls[-1][0] == "power_off"
    assert (finished.status, finished.progress, finished.upstream_action_id) == (
        ACTION_SUCCESS,
        100,
        upstream.calls[-1][1],
    )
    assert uow.committed_types()[-1] == "server.status_changed"
    assert uow.committed[-1].envelope.aggregate_version == 4


def test_an_action_upstream_fails_for_good_unlocks_the_server_and_records_the_error(
    uow: FakeUnitOfWork, quotas: FakeQuotas, upstream: FakeUpstreamServers
) -> None:
    server_id = _created(uow, quotas, upstream)
    action = servers.start_action(server_id, POWER_OFF, _anyone, uow)
    upstream.fail_next = UpstreamFailure("server_error", "upstream broke")
    committed = len(uow.committed)

    outcome = Provisioner(uow, upstream, quotas).run_once()

    assert outcome is not None and outcome.status == ACTION_ERROR
    stored, failed = uow.servers.rows[server_id], uow.actions.rows[action.id]
    assert (stored.status, stored.locked) == (st.RUNNING, False)
    assert (failed.status, failed.error_code, failed.error_message) == (ACTION_ERROR, "server_error", "upstream broke")
    assert len(uow.committed) == committed  # the status did not change: no event


def test_an_action_whose_upstream_does_not_answer_is_left_running_and_changes_nothing(
    uow: FakeUnitOfWork, quotas: FakeQuotas, upstream: FakeUpstreamServers
) -> None:
    server_id = _created(uow, quotas, upstream)
    action = servers.start_action(server_id, POWER_OFF, _anyone, uow)
    upstream.fail_next = Unavailable("upstream does not answer")

    outcome = Provisioner(uow, upstream, quotas).run_once()

    assert outcome is not None and outcome.status == DEFERRED
    assert uow.actions.rows[action.id].status == ACTION_RUNNING and uow.servers.rows[server_id].locked


def test_delete_ends_the_server_upstream_gives_its_quota_back_and_records_server_deleted(
    uow: FakeUnitOfWork, quotas: FakeQuotas, upstream: FakeUpstreamServers
) -> None:
    server_id = _created(uow, quotas, upstream)
    servers.start_action(server_id, DELETE, _anyone, uow)

    outcome = Provisioner(uow, upstream, quotas).run_once()

    assert outcome is not None and outcome.status == ACTION_SUCCESS
    stored = uow.servers.rows[server_id]
    assert stored.status == st.DELETED and stored.deleted_at is not None and not stored.locked
    assert upstream.find(server_id) == [] and quotas.held == {}
    assert uow.committed_types()[-1] == "server.deleted"
    servers.create(_request("web-2"), quotas, uow)  # the unit is free again
