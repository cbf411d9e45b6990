"""An organization's suspension reaches the servers it owns, and only those: they are stopped
and locked with their organization and unlocked (still off) when it is activated; its owner's
own servers are the owner's. Nothing is deleted."""

from __future__ import annotations

from datetime import UTC, datetime

from compute_service.domain import server_status as st
from compute_service.domain.servers import Server
from compute_service.service_layer import suspension
from tests.unit.compute.fakes import FakeActionRepository, FakeServerRepository

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _server(servers: FakeServerRepository, name: str, organization_id: int | None) -> int:
    server = Server(
        id=0,
        user_id=42,
        organization_id=organization_id,
        name=name,
        status=st.RUNNING,
        server_type_id=1,
        datacenter_id=1,
        image_id=1,
    )
    return servers.add(server, NOW).id


def test_an_organizations_servers_are_stopped_locked_and_unlocked_with_it() -> None:
    servers, actions = FakeServerRepository(), FakeActionRepository()
    acme = [_server(servers, f"acme-{n}", 7) for n in range(2)]
    own = _server(servers, "owner-own", None)
    other = _server(servers, "other-org", 8)

    recorded = suspension.suspend_organization(servers, actions, 7)
    assert [e.envelope.event_type for e in recorded].count("server.suspended") == 2
    for server_id in acme:
        server = servers.rows[server_id]
        assert server.suspended_at is not None and server.deleted_at is None
    assert sorted(a.server_id or 0 for a in actions.rows.values() if a.command == "stop_server") == acme
    for server_id in (own, other):
        assert servers.rows[server_id].suspended_at is None

    assert suspension.suspend_organization(servers, actions, 7) == []  # once

    lifted = suspension.reactivate_organization(servers, 7)
    assert [e.envelope.event_type for e in lifted] == ["server.unsuspended", "server.unsuspended"]
    assert all(servers.rows[server_id].suspended_at is None for server_id in acme)
    assert all(servers.rows[server_id].deleted_at is None for server_id in acme)
