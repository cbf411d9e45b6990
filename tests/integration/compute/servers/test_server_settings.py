"""The server actions that set something on the server (shutdown, reset, ISO, protection,
reverse DNS, backups) and those that hand a secret out once (console, root password), end to
end below the gateway: compute on a scratch database, the worker's rounds against a fresh
simulator through the real hcloud client."""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from google.protobuf.message import Message

from cloudplatform.compute.v1 import events_pb2
from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from compute_service.domain.server_settings import ServerNotRunning
from compute_service.domain.servers import POWER_OFF, RESET, SHUTDOWN, Locked, Protected, Server
from compute_service.service_layer import server_actions, server_settings, servers
from cpshared.errors import InvalidInput, PreconditionFailed
from tests.integration.compute.servers.conftest import Platform
from tests.integration.compute.servers.test_servers import _anyone, _drain, _events, _new


def _running(platform: Platform, name: str = "web-1") -> Server:
    server, _ = servers.create(_new(platform, name), platform.compute.quotas, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    return servers.get(server.id, _anyone, platform.compute.uow())


def _get(platform: Platform, server_id: int) -> Server:
    return servers.get(server_id, _anyone, platform.compute.uow())


def _last_payload(platform: Platform, event_type: str, message: type[Message]) -> object:
    with platform.compute.engine.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT envelope FROM outbox WHERE event_type = :t ORDER BY id DESC LIMIT 1"), {"t": event_type}
        ).scalar_one()
    envelope = EventEnvelope()
    envelope.ParseFromString(raw)
    payload = message()
    assert envelope.payload.Unpack(payload)
    return payload


def _backup_periods(platform: Platform, server_id: int) -> list[tuple[datetime, datetime | None]]:
    with platform.compute.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT started_at, ended_at FROM server_backup_periods WHERE server_id = :id ORDER BY id"),
            {"id": server_id},
        )
        return [(row.started_at, row.ended_at) for row in rows]


def _dump(platform: Platform) -> str:
    """Every value of every row of every compute table (the outbox's envelopes too), as text."""
    values: list[str] = []
    with platform.compute.engine.connect() as conn:
        for table in conn.execute(sa.text("SHOW TABLES")).scalars().all():
            query = sa.text(f"SELECT * FROM `{table}`")  # noqa: S608 - the names come from SHOW TABLES
            for row in conn.execute(query):
                for value in row:
                    values.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return "\n".join(values)


def test_shutdown_stops_the_server_and_reset_leaves_it_running(platform: Platform) -> None:
    server = _running(platform)
    action = servers.start_action(server.id, SHUTDOWN, _anyone, platform.compute.uow())
    assert action.command == "shutdown_server" and _get(platform, server.id).locked
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).status == "stopped"
    assert platform.sim.labelled(server.id)[0]["status"] == "off"
    assert servers.start_action(server.id, RESET, _anyone, platform.compute.uow()).command == "reset_server"
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).status == "running"
    assert _events(platform)[-2:] == ["server.status_changed", "server.status_changed"]


def test_an_iso_is_attached_upstream_shown_and_detached(platform: Platform) -> None:
    server = _running(platform)
    with pytest.raises(PreconditionFailed, match="no ISO"):
        server_settings.detach_iso(server.id, _anyone, platform.compute.uow())
    server_settings.attach_iso(server.id, "virtio-win-0.1.248.iso", _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    attached = _get(platform, server.id)
    assert attached.iso is not None and attached.iso["name"] == "virtio-win-0.1.248.iso" and attached.iso["id"]
    assert platform.sim.labelled(server.id)[0]["iso"]["name"] == "virtio-win-0.1.248.iso"
    with platform.compute.engine.connect() as conn:
        mounted = conn.execute(sa.text("SELECT iso_mounted FROM servers WHERE id = :id"), {"id": server.id}).scalar()
    assert mounted == "virtio-win-0.1.248.iso"
    assert _events(platform)[-1] == "server.iso_changed"
    server_settings.detach_iso(server.id, _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).iso is None
    # An ISO upstream does not know ends the action in error with upstream's code.
    server_settings.attach_iso(server.id, "no-such.iso", _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["error"]
    failed = servers.list_actions(server.id, _anyone, platform.compute.uow())[0]
    assert (failed.command, failed.error_code) == ("attach_iso", "invalid_input")
    assert not _get(platform, server.id).locked


def test_protection_blocks_delete_and_rebuild_until_lifted(platform: Platform) -> None:
    server = _running(platform)
    with pytest.raises(InvalidInput, match="same value"):
        server_settings.change_protection(server.id, True, False, _anyone, platform.compute.uow())
    action = server_settings.change_protection(server.id, True, True, _anyone, platform.compute.uow())
    assert (action.command, action.status, action.progress) == ("change_protection", "success", 100)
    protected = _get(platform, server.id)
    assert (protected.protection_delete, protected.protection_rebuild, protected.locked) == (True, True, False)
    with pytest.raises(Protected):
        servers.start_action(server.id, "delete_server", _anyone, platform.compute.uow())
    with pytest.raises(Protected):
        server_actions.rebuild(server.id, "debian-12", _anyone, platform.compute.uow())
    payload = _last_payload(platform, "server.protection_changed", events_pb2.ServerProtectionChanged)
    assert isinstance(payload, events_pb2.ServerProtectionChanged) and payload.delete and payload.rebuild
    server_settings.change_protection(server.id, False, False, _anyone, platform.compute.uow())
    servers.start_action(server.id, "delete_server", _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]


def test_reverse_dns_is_set_upstream_for_the_servers_own_addresses_only(platform: Platform) -> None:
    server = _running(platform)
    assert server.ipv4_address and server.ipv6_network
    inside_v6 = str(ipaddress.ip_network(server.ipv6_network)[5])
    with pytest.raises(InvalidInput, match="IPv4 address of server"):
        server_settings.change_dns_ptr(server.id, "192.0.2.1", "x.example.com", _anyone, platform.compute.uow())
    with pytest.raises(InvalidInput, match="IPv6 network"):
        server_settings.change_dns_ptr(server.id, "2001:db8:ffff::1", "x.example.com", _anyone, platform.compute.uow())
    server_settings.change_dns_ptr(server.id, server.ipv4_address, "web.example.com", _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    server_settings.change_dns_ptr(server.id, inside_v6, "v6.example.com", _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).dns_ptrs == {server.ipv4_address: "web.example.com", inside_v6: "v6.example.com"}
    upstream = platform.sim.labelled(server.id)[0]["public_net"]
    assert upstream["ipv4"]["dns_ptr"] == "web.example.com"
    assert {"ip": inside_v6, "dns_ptr": "v6.example.com"} in upstream["ipv6"]["dns_ptr"]
    assert _events(platform)[-1] == "server.dns_ptr_changed"
    server_settings.change_dns_ptr(server.id, server.ipv4_address, None, _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).dns_ptrs == {inside_v6: "v6.example.com"}


def _backup_plan(platform: Platform, percentage: Decimal = Decimal(20), active: bool = True) -> None:
    with platform.billing.begin() as conn:
        conn.execute(
            sa.text("UPDATE pricing_plans SET percentage = :percentage, active = :active WHERE code = 'backup'"),
            {"percentage": percentage, "active": active},
        )


def test_backups_cost_what_billings_backup_plan_says_when_they_are_enabled(platform: Platform) -> None:
    """The share is billing's plan's when the customer asks: the action, the event and the backup
    period carry it; without an active backup plan backups are not offered."""
    server = _running(platform)
    try:
        _backup_plan(platform, percentage=Decimal("37.5"))
        server_settings.set_backup(server.id, True, _anyone, platform.compute.uow(), platform.compute.backup_pricing)
        _backup_plan(platform, percentage=Decimal(20))  # a change after the request prices later enablings only
        assert _drain(platform.provisioner()) == ["success"]
        payload = _last_payload(platform, "server.backup_changed", events_pb2.ServerBackupChanged)
        assert isinstance(payload, events_pb2.ServerBackupChanged)
        assert payload.backup_price_percent == "37.50"
        with platform.compute.engine.connect() as conn:
            percent = conn.execute(
                sa.text("SELECT price_percent FROM server_backup_periods WHERE server_id = :id"), {"id": server.id}
            ).scalar_one()
        assert percent == Decimal("37.50")
        server_settings.set_backup(server.id, False, _anyone, platform.compute.uow(), platform.compute.backup_pricing)
        assert _drain(platform.provisioner()) == ["success"]
        _backup_plan(platform, Decimal(20), active=False)
        with pytest.raises(PreconditionFailed, match="backups are not offered"):
            server_settings.set_backup(
                server.id, True, _anyone, platform.compute.uow(), platform.compute.backup_pricing
            )
        assert not _get(platform, server.id).backup_enabled and not _get(platform, server.id).locked
    finally:
        _backup_plan(platform)


def test_backups_are_switched_upstream_and_the_event_carries_what_billing_prices_them_with(
    platform: Platform,
) -> None:
    server = _running(platform)
    with pytest.raises(PreconditionFailed, match="disabled already"):
        server_settings.set_backup(server.id, False, _anyone, platform.compute.uow(), platform.compute.backup_pricing)
    server_settings.set_backup(server.id, True, _anyone, platform.compute.uow(), platform.compute.backup_pricing)
    assert _drain(platform.provisioner()) == ["success"]
    enabled = _get(platform, server.id)
    assert enabled.backup_enabled and enabled.backup_window
    payload = _last_payload(platform, "server.backup_changed", events_pb2.ServerBackupChanged)
    assert isinstance(payload, events_pb2.ServerBackupChanged)
    with platform.compute.engine.connect() as conn:
        price = conn.execute(sa.text("SELECT price_hourly FROM server_types WHERE code = 'cx22'")).scalar_one()
    assert (payload.backup_enabled, payload.server_type, payload.datacenter) == (True, "cx22", enabled.datacenter)
    assert (payload.server_price_hourly, payload.backup_price_percent) == (str(price), "20.00")  # billing's plan
    opened = _backup_periods(platform, server.id)
    assert len(opened) == 1 and opened[0][1] is None  # metering bills backups from here on
    server_settings.set_backup(server.id, False, _anyone, platform.compute.uow(), platform.compute.backup_pricing)
    assert _drain(platform.provisioner()) == ["success"]
    assert (_get(platform, server.id).backup_enabled, _get(platform, server.id).backup_window) == (False, "")
    closed = _backup_periods(platform, server.id)
    assert len(closed) == 1 and closed[0][0] == opened[0][0] and closed[0][1] is not None
    assert closed[0][1] >= closed[0][0]


def test_a_server_created_with_backups_has_them_metered_from_its_creation(platform: Platform) -> None:
    percent = platform.compute.backup_pricing.backup_percent()
    server, _ = servers.create(
        _new(platform, "saved", backups=True, backup_price_percent=percent),
        platform.compute.quotas,
        platform.compute.uow(),
    )
    periods = _backup_periods(platform, server.id)
    with platform.compute.engine.connect() as conn:
        created = conn.execute(sa.text("SELECT created_at FROM servers WHERE id = :id"), {"id": server.id}).scalar()
    assert periods == [(created, None)]
    assert _drain(platform.provisioner()) == ["success"]
    # Upstream has the backup option from the start (its daily backups), and the window shows.
    assert platform.sim.labelled(server.id)[0]["backup_window"] == "22-02"
    assert _get(platform, server.id).backup_window == "22-02"
    assert _backup_periods(platform, _running(platform, "plain").id) == []


def test_a_server_created_with_start_after_create_false_stays_off(platform: Platform) -> None:
    server, _ = servers.create(
        _new(platform, "cold", start_after_create=False), platform.compute.quotas, platform.compute.uow()
    )
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).status == "stopped"
    assert platform.sim.labelled(server.id)[0]["status"] == "off"


def test_console_and_root_password_are_shown_once_and_found_nowhere(
    platform: Platform, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = _running(platform)
    action, wss_url, console_password = server_settings.request_console(
        server.id, _anyone, platform.compute.uow(), platform.compute.upstream()
    )
    assert action.command == "request_console" and wss_url.startswith(("ws://", "wss://"))
    assert len(console_password) >= 10
    with pytest.raises(Locked):  # locked until upstream's action has finished
        server_settings.request_console(server.id, _anyone, platform.compute.uow(), platform.compute.upstream())
    assert _drain(platform.provisioner()) == ["success"]
    reset, password = server_settings.reset_password(
        server.id, _anyone, platform.compute.uow(), platform.compute.upstream()
    )
    assert reset.command == "reset_password" and len(password) >= 15
    assert _drain(platform.provisioner()) == ["success"]

    stored = _get(platform, server.id).root_password_hash
    assert stored is not None and stored.startswith("$argon2id$")
    assert PasswordHasher().verify(stored, password)
    assert server_settings.verify_root_password(_get(platform, server.id), password)
    assert not server_settings.verify_root_password(_get(platform, server.id), console_password)

    dump = _dump(platform)
    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text
    # Positive controls: the scan reads the servers row (the hash), the outbox's envelopes (the
    # events of both actions, by their action ids) and the logs of these calls.
    assert stored in dump
    assert "server.console_requested" in dump and "server.password_reset" in dump
    assert "server_action_started" in logs and str(reset.id) in logs
    token = wss_url.rsplit("token=", 1)[-1]
    for secret in (password, console_password, wss_url, token):
        assert secret not in dump
        assert secret not in logs


def test_every_settings_action_is_refused_while_the_owner_is_suspended(platform: Platform) -> None:
    server = _running(platform)
    with platform.compute.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE servers SET suspended_at = NOW(6), suspension_reason = 'suspended' WHERE id = :id"),
            {"id": server.id},
        )
    uow, upstream = platform.compute.uow, platform.compute.upstream()
    for attempt in (
        lambda: servers.start_action(server.id, SHUTDOWN, _anyone, uow()),
        lambda: servers.start_action(server.id, RESET, _anyone, uow()),
        lambda: server_settings.attach_iso(server.id, "virtio-win-0.1.248.iso", _anyone, uow()),
        lambda: server_settings.change_protection(server.id, True, True, _anyone, uow()),
        lambda: server_settings.change_dns_ptr(server.id, server.ipv4_address or "", "x.example.com", _anyone, uow()),
        lambda: server_settings.set_backup(server.id, True, _anyone, uow(), platform.compute.backup_pricing),
        lambda: server_settings.request_console(server.id, _anyone, uow(), upstream),
        lambda: server_settings.reset_password(server.id, _anyone, uow(), upstream),
    ):
        with pytest.raises(Locked, match="suspended"):
            attempt()
    assert _drain(platform.provisioner()) == []
    assert _get(platform, server.id).root_password_hash is None


def test_a_password_reset_that_fails_upstream_keeps_no_hash(platform: Platform) -> None:
    server = _running(platform)
    platform.sim.fault(
        method="POST",
        path="/v1/servers/*/actions/reset_password",
        kind="action_error",
        code="action_failed",
        message="qemu guest agent not running",
    )
    _, password = server_settings.reset_password(
        server.id, _anyone, platform.compute.uow(), platform.compute.upstream()
    )
    assert password and _get(platform, server.id).root_password_hash is not None
    assert _drain(platform.provisioner()) == ["error"]
    failed = servers.list_actions(server.id, _anyone, platform.compute.uow())[0]
    assert (failed.command, failed.error_code) == ("reset_password", "action_failed")
    after = _get(platform, server.id)
    assert (after.root_password_hash, after.locked) == (None, False)


def test_a_root_password_is_reset_only_on_a_running_server(platform: Platform) -> None:
    server = _running(platform)
    servers.start_action(server.id, POWER_OFF, _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).status == "stopped"
    actions_before = servers.list_actions(server.id, _anyone, platform.compute.uow())
    with pytest.raises(ServerNotRunning, match="power it on first") as refused:
        server_settings.reset_password(server.id, _anyone, platform.compute.uow(), platform.compute.upstream())
    assert refused.value.code == "server_not_running"
    stopped = _get(platform, server.id)
    assert (stopped.root_password_hash, stopped.locked) == (None, False)
    assert servers.list_actions(server.id, _anyone, platform.compute.uow()) == actions_before
