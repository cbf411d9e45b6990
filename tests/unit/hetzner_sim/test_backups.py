"""The backup option as Hetzner has it: enabling it gives seven slots of images of type backup,
one automated backup a day (the simulator takes it at the start of the window, 22:00 UTC), the
eighth replacing the oldest; disabling it and deleting the server remove the backups; a server
is rebuilt from one. The clock is the simulator's manual clock, moved through ``/_sim/clock``."""

from __future__ import annotations

from datetime import UTC, datetime

from hcloud import Client
from hcloud.images import Image
from hcloud.server_types import ServerType
from hcloud.servers import BoundServer

from hetzner_sim.state import backup_times
from tests.unit.hetzner_sim.conftest import Sim

DAY = 86_400.0


def _server(client: Client, name: str) -> tuple[BoundServer, int]:
    made = client.servers.create(name=name, server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    assert made.server.id is not None
    return made.server, made.server.id


def _backups(client: Client, server_id: int) -> list[int]:
    """The ids of the server's backup images, oldest first."""
    found = client.images.get_all(type=["backup"], bound_to=[str(server_id)], sort=["created:asc"])
    return [int(image.id or 0) for image in found]


def test_backup_times_are_the_window_starts_after_the_moment() -> None:
    midnight = datetime(2026, 5, 1, tzinfo=UTC).timestamp()
    assert backup_times("22-02", midnight, midnight + DAY) == [midnight + 22 * 3600]
    assert backup_times("22-02", midnight + 22 * 3600, midnight + DAY) == []  # the start itself is past
    assert backup_times("22-02", midnight, midnight + 3 * DAY) == [midnight + 22 * 3600 + n * DAY for n in range(3)]


def test_seven_daily_backups_the_eighth_replaces_the_oldest_and_disabling_removes_them(
    sim: Sim, client: Client
) -> None:
    server, server_id = _server(client, "backed-up")
    client.servers.enable_backup(server).wait_until_finished()
    assert client.servers.get_by_id(server_id).backup_window == "22-02"
    assert _backups(client, server_id) == []
    created = []
    for day in range(1, 8):
        sim.control("POST", "clock", {"seconds": DAY})
        found = _backups(client, server_id)
        assert len(found) == day
        created.append(found[-1])
    assert _backups(client, server_id) == created
    first = client.images.get_by_id(created[0])
    assert first.type == "backup" and first.status == "available" and first.image_size == 2.5
    assert first.created is not None and first.created.hour == 22
    assert first.bound_to is not None and first.bound_to.id == server_id

    sim.control("POST", "clock", {"seconds": DAY})  # the eighth
    found = _backups(client, server_id)
    assert len(found) == 7 and found[:6] == created[1:] and created[0] not in found

    # A rebuild from a backup: the server's image is the backup.
    client.servers.rebuild(server, Image(id=found[0])).action.wait_until_finished()
    rebuilt = client.servers.get_by_id(server_id).image
    assert rebuilt is not None and rebuilt.id == found[0]

    client.servers.disable_backup(server).wait_until_finished()
    assert _backups(client, server_id) == []
    sim.control("POST", "clock", {"seconds": 2 * DAY})
    assert _backups(client, server_id) == []


def test_a_deleted_servers_backups_go_with_it_and_a_manual_backup_needs_the_option(sim: Sim, client: Client) -> None:
    server, server_id = _server(client, "short-lived")
    refused = sim.raw("POST", f"/servers/{server_id}/actions/create_image", json={"type": "backup"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input"
    client.servers.enable_backup(server).wait_until_finished()
    sim.control("POST", "clock", {"seconds": 2 * DAY})
    assert len(_backups(client, server_id)) == 2
    client.servers.delete(server).wait_until_finished()
    assert _backups(client, server_id) == []


def test_only_a_manual_clock_moves_and_a_bad_advance_is_refused(sim: Sim) -> None:
    import requests

    before = sim.control("GET", "clock")["now"]
    for body in ({"seconds": -1}, {"seconds": "soon"}, {"minutes": 1}):
        answer = requests.post(f"{sim.url}/_sim/clock", json=body, timeout=5)
        assert answer.status_code == 400, answer.text
    assert sim.control("GET", "clock")["now"] == before
