"""An account's suspension reaches its servers: compute's projection of identity's events
(applied by the real projection runner on compute's scratch database, with its inbox), the
provisioning worker powering the servers off upstream on the simulator, and the lock."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from cloudplatform.identity.v1 import events_pb2 as identity_pb
from compute_service.adapters import tables as t
from compute_service.domain.servers import DELETE, POWER_OFF, POWER_ON, Locked
from compute_service.entrypoints.account_projection import AccountProjection
from compute_service.entrypoints.server_servicer import server_message
from compute_service.service_layer import servers, suspension
from cpshared.events import catalog as events
from cpshared.events.envelope import new_event
from cpshared.events.projection import ProjectionRunner, RawRecord
from tests.integration.compute.servers.conftest import Platform
from tests.integration.compute.servers.test_servers import _anyone, _drain, _new

_offsets = itertools.count()


def _identity_event(event_type: str, user_id: int) -> RawRecord:
    spec = {
        "user.suspended": events.USER_SUSPENDED,
        "user.banned": events.USER_BANNED,
        "user.activated": events.USER_ACTIVATED,
        "user.erased": events.USER_ERASED,
    }[event_type]
    payload = (
        identity_pb.UserErased(user_id=user_id, erased_by_user_id=1)
        if event_type == "user.erased"
        else identity_pb.UserStatusChanged(user_id=user_id, new_status=event_type.split(".")[1], changed_by_user_id=1)
    )
    event = new_event(spec, producer="identity", aggregate_id=user_id, aggregate_version=2, payload=payload)
    return RawRecord(
        event.topic.name, 0, next(_offsets), event.key, event.envelope.SerializeToString(), event.headers()
    )


def _runner(platform: Platform) -> ProjectionRunner:
    return ProjectionRunner(platform.compute.engine, AccountProjection())


def _server_events(platform: Platform, event_type: str) -> int:
    with platform.compute.engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT COUNT(*) FROM outbox WHERE event_type = :t"), {"t": event_type}).scalar_one()
        )


def _running(platform: Platform, count: int, user_id: int | None = None, prefix: str = "web") -> list[int]:
    made = [
        servers.create(
            _new(platform, f"{prefix}-{n}", user_id=user_id or platform.user_id),
            platform.compute.quotas,
            platform.compute.uow(),
        )[0].id
        for n in range(count)
    ]
    _drain(platform.provisioner())
    return made


def test_a_suspended_accounts_servers_end_stopped_and_locked_until_it_is_activated(platform: Platform) -> None:
    other = platform.new_user("other@example.com")
    platform.set_server_limit(5, other)
    mine = _running(platform, 2)
    theirs = _running(platform, 1, user_id=other, prefix="other")[0]
    suspended = _identity_event("user.suspended", platform.user_id)
    result = _runner(platform).apply_batch([suspended])
    assert result.applied == 1
    for server_id in mine:
        server = servers.get(server_id, _anyone, platform.compute.uow())
        assert server.suspended_at is not None and server.suspension_reason == "suspended"
        assert server_message(server).locked is True
        assert servers.list_actions(server_id, _anyone, platform.compute.uow())[0].command == POWER_OFF
    assert _server_events(platform, "server.suspended") == 2
    # Redelivered: the inbox skips it; nothing is suspended or stopped twice.
    assert _runner(platform).apply_batch([suspended]).duplicates == 1
    assert _server_events(platform, "server.suspended") == 2
    assert _drain(platform.provisioner()) == ["success", "success"]
    for server_id in mine:
        server = servers.get(server_id, _anyone, platform.compute.uow())
        assert server.status == "stopped" and server_message(server).locked is True
        assert platform.sim.labelled(server_id)[0]["status"] == "off"
        for command in (POWER_ON, POWER_OFF, DELETE):
            with pytest.raises(Locked, match="account that owns it is suspended") as refused:
                servers.start_action(server_id, command, _anyone, platform.compute.uow())
            assert refused.value.code == "locked"
    assert servers.get(theirs, _anyone, platform.compute.uow()).status == "running"  # another account's: untouched

    assert _runner(platform).apply_batch([_identity_event("user.activated", platform.user_id)]).applied == 1
    assert _server_events(platform, "server.unsuspended") == 2
    server = servers.get(mine[0], _anyone, platform.compute.uow())
    assert (server.suspended_at, server.status, server_message(server).locked) == (None, "stopped", False)
    servers.start_action(mine[0], POWER_ON, _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert servers.get(mine[0], _anyone, platform.compute.uow()).status == "running"
    assert servers.get(mine[1], _anyone, platform.compute.uow()).status == "stopped"  # stays off


def test_a_server_busy_when_its_account_is_banned_is_stopped_by_the_sweep_once_free(platform: Platform) -> None:
    server, _ = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())  # still creating
    assert _runner(platform).apply_batch([_identity_event("user.banned", platform.user_id)]).applied == 1
    assert [a.command for a in servers.list_actions(server.id, _anyone, platform.compute.uow())] == ["create_server"]
    assert suspension.enforce_suspensions(platform.compute.uow) == 0  # locked by its create: not yet
    assert _drain(platform.provisioner()) == ["success"]
    assert servers.get(server.id, _anyone, platform.compute.uow()).status == "running"
    assert suspension.enforce_suspensions(platform.compute.uow) == 1
    assert suspension.enforce_suspensions(platform.compute.uow) == 0  # locked by its stop now
    assert _drain(platform.provisioner()) == ["success"]
    stopped = servers.get(server.id, _anyone, platform.compute.uow())
    assert (stopped.status, stopped.suspension_reason) == ("stopped", "banned")
    assert suspension.enforce_suspensions(platform.compute.uow) == 0  # off: nothing more to do


def test_an_erased_accounts_servers_are_deleted_protection_or_not(platform: Platform) -> None:
    mine = _running(platform, 2)
    with platform.compute.engine.begin() as conn:
        conn.execute(sa.update(t.servers).where(t.servers.c.id == mine[0]).values(protection_delete=True))
    assert _runner(platform).apply_batch([_identity_event("user.erased", platform.user_id)]).applied == 1
    assert _drain(platform.provisioner()) == ["success", "success"]
    for server_id in mine:
        with platform.compute.uow() as uow:
            gone = uow.servers.get(server_id)
        assert gone is not None and gone.deleted_at is not None and gone.status == "deleted"
        assert platform.sim.labelled(server_id) == []
    assert platform.server_usage() == 0
    # Activating an erased account's id brings nothing back.
    assert _runner(platform).apply_batch([_identity_event("user.activated", platform.user_id)]).applied == 1
    assert _server_events(platform, "server.unsuspended") == 0
