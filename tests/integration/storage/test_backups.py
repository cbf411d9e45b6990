"""Servers' backups end to end: a server made and its backups enabled through the gateway with
the ``hcloud`` client (compute's worker carries the actions out on the simulator), storage's
consumer fed compute's events (and compute's storage's), the simulator's clock moved a day at a
time, and storage's worker mirroring upstream's backup images: seven daily backups, the eighth
expires the first; the server restored from one (``restoring`` while the rebuild runs); listed
and deleted through the gateway; a deleted server's backups expire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hcloud.images import Image
from hcloud.server_types import ServerType

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from compute_service.entrypoints.account_projection import AccountProjection
from cpshared.clock import ManualClock, get_clock, set_clock
from cpshared.events.catalog import REGISTRY
from cpshared.events.projection import ProjectionRunner
from cpshared.migrations import migrations_dir, upgrade
from storage_service.entrypoints.server_projection import ServerProjection
from tests.integration.gateway.test_servers_api import Worker, _client, _token
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.integration.monitoring.support import outbox_records

DAY = 86_400


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_bk_id") as identity_url,
        mariadb.scratch_database("cp_test_bk_gw") as gateway_url,
        mariadb.scratch_database("cp_test_bk_cp") as compute_url,
        mariadb.scratch_database("cp_test_bk_st") as storage_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("storage", migrations_dir("storage"), storage_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, storage_url=storage_url) as live:
            yield live


@pytest.fixture(scope="module")
def compute_worker(platform: LivePlatform) -> Iterator[Worker]:
    worker = Worker(platform)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


class Pipeline:
    """Compute's outbox fed to storage's consumer (as Kafka would deliver it), and storage's
    worker's backup pass, one step at a time."""

    def __init__(self, platform: LivePlatform) -> None:
        assert platform.compute is not None and platform.storage is not None and platform.simulator is not None
        self.platform = platform
        self.runner = ProjectionRunner(platform.storage.engine, ServerProjection())
        self.compute_runner = ProjectionRunner(platform.compute.engine, AccountProjection())
        self.seen = 0
        self.storage_seen = 0
        self.control = platform.simulator.removesuffix("/v1") + "/_sim"

    def follow_compute(self) -> None:
        assert self.platform.compute is not None
        records = outbox_records(self.platform.compute.engine, after=self.seen)
        if records:
            self.runner.apply_batch(records)
            self.seen = records[-1].offset

    def follow_storage(self) -> None:
        """Compute's consumer applies storage's new events (the backups it may rebuild from)."""
        assert self.platform.storage is not None
        records = [r for r in outbox_records(self.platform.storage.engine, after=self.storage_seen)]
        if records:
            self.compute_runner.apply_batch(records)
            self.storage_seen = records[-1].offset

    def days_pass(self, days: int = 1) -> None:
        httpx.post(f"{self.control}/clock", json={"seconds": days * DAY}, timeout=5).raise_for_status()
        self.mirror()

    def mirror(self) -> None:
        assert self.platform.storage is not None
        self.platform.storage.mirror_backups()

    def storage_events(self, event_type: str) -> list[Any]:
        assert self.platform.storage is not None
        with self.platform.storage.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT envelope FROM outbox WHERE event_type = :t ORDER BY id"), {"t": event_type}
            ).scalars()
            found = []
            for raw in rows:
                envelope = EventEnvelope.FromString(raw)
                found.append(REGISTRY.decode_payload(envelope.event_type, envelope.schema_version, envelope.payload))
        return found


def _backups(platform: LivePlatform, token: str, server_id: int) -> dict[str, Any]:
    answer = httpx.get(
        f"{platform.gateway}/v1/servers/{server_id}/backups", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _upstream_backups(platform: LivePlatform) -> list[int]:
    answer = httpx.get(
        f"{platform.simulator}/images",
        params={"type": "backup", "per_page": 50},
        headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"},
        timeout=5,
    )
    answer.raise_for_status()
    return sorted(int(image["id"]) for image in answer.json()["images"])


def test_seven_daily_backups_the_eighth_expires_the_first_and_a_deleted_server_takes_them(
    platform: LivePlatform, compute_worker: Worker
) -> None:
    pipeline = Pipeline(platform)
    token = _token(platform, "backups@example.com")
    client = _client(platform, token, [])
    made = client.servers.create(
        name="backed-up", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04")
    )
    made.action.wait_until_finished(max_retries=400)
    assert made.server.id is not None
    server = client.servers.get_by_id(made.server.id)
    assert server.id is not None
    server.enable_backup().wait_until_finished(max_retries=400)
    pipeline.follow_compute()
    listed = _backups(platform, token, server.id)
    assert listed["backups"] == [] and listed["backups_enabled"] is True

    ids: list[int] = []
    for day in range(1, 8):
        pipeline.days_pass()
        listed = _backups(platform, token, server.id)
        assert len(listed["backups"]) == day, listed
        newest = listed["backups"][0]
        assert newest["type"] == "automated" and newest["status"] == "available" and newest["server"] == server.id
        assert newest["image_size"] == 2.5
        ids.append(newest["id"])
    first = listed["backups"][-1]
    created = first["created"]
    assert first["id"] == ids[0]
    assert first["expires"] is not None
    assert datetime.fromisoformat(first["expires"]) - datetime.fromisoformat(created) == timedelta(days=7)

    pipeline.days_pass()  # the eighth: upstream's oldest gives way, storage expires it
    listed = _backups(platform, token, server.id)
    assert [b["id"] for b in listed["backups"]][1:] == list(reversed(ids[1:]))
    assert ids[0] not in [b["id"] for b in listed["backups"]] and len(listed["backups"]) == 7
    expired = pipeline.storage_events("backup.expired")
    assert [(e.backup_id, e.reason) for e in expired] == [(ids[0], "rotated")]
    assert len(pipeline.storage_events("backup.created")) == 8
    pipeline.mirror()
    assert len(pipeline.storage_events("backup.created")) == 8  # a pass again records nothing twice

    # Restore: the server rebuilt from one of its backups with the hcloud client (Hetzner's
    # rebuild with the backup's id); the backup is "restoring" while compute's action runs.
    pipeline.follow_storage()
    chosen = ids[2]
    compute_worker.stop()
    rebuilt = client.servers.rebuild(server, Image(id=chosen))
    pipeline.follow_compute()
    restoring = {b["id"]: b["status"] for b in _backups(platform, token, server.id)["backups"]}
    assert restoring[chosen] == "restoring" and list(restoring.values()).count("restoring") == 1
    compute_worker.start()
    rebuilt.action.wait_until_finished(max_retries=400)
    pipeline.follow_compute()
    assert all(b["status"] == "available" for b in _backups(platform, token, server.id)["backups"])
    upstream_server = httpx.get(
        f"{platform.simulator}/servers",
        params={"label_selector": f"cp_server_id={server.id}"},
        headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"},
        timeout=5,
    ).json()["servers"][0]
    assert upstream_server["image"]["type"] == "backup" and upstream_server["image"]["id"] in _upstream_backups(
        platform
    )
    for wrong in (ids[0], 10**12 + 999_999):  # expired, or never a backup: refused, nothing changes
        refused = httpx.post(
            f"{platform.gateway}/v1/servers/{server.id}/actions/rebuild",
            json={"image": str(wrong)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input", refused.text

    # Delete one: gone from the list at once, upstream by the worker's next pass.
    doomed = ids[3]
    headers = {"Authorization": f"Bearer {token}"}
    deleted = httpx.delete(f"{platform.gateway}/v1/servers/{server.id}/backups/{doomed}", headers=headers, timeout=10)
    assert deleted.status_code == 200 and deleted.json()["backup"]["status"] == "deleting", deleted.text
    again = httpx.delete(f"{platform.gateway}/v1/servers/{server.id}/backups/{doomed}", headers=headers, timeout=10)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert doomed not in [b["id"] for b in _backups(platform, token, server.id)["backups"]]
    before = _upstream_backups(platform)
    pipeline.mirror()
    assert len(_upstream_backups(platform)) == len(before) - 1
    assert [(e.backup_id, e.reason) for e in pipeline.storage_events("backup.deleted")] == [(doomed, "requested")]

    # Another tenant sees nothing of it; nonsense is a 4xx.
    stranger = _token(platform, "stranger@example.com")
    other = httpx.get(
        f"{platform.gateway}/v1/servers/{server.id}/backups",
        headers={"Authorization": f"Bearer {stranger}"},
        timeout=10,
    )
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    for path in (f"/v1/servers/{server.id}/backups/0", "/v1/servers/0/backups", f"/v1/servers/{server.id}/backups/x"):
        method = httpx.delete if path.endswith(("/0", "/x")) else httpx.get
        answer = method(f"{platform.gateway}{path}", headers=headers, timeout=10)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)
    assert len(_backups(platform, token, server.id)["backups"]) == 6

    # The server deleted: upstream deletes its backups, storage expires them.
    client.servers.delete(server).wait_until_finished(max_retries=400)
    pipeline.follow_compute()
    reasons = [e.reason for e in pipeline.storage_events("backup.expired")]
    assert reasons == ["rotated"] + ["server_deleted"] * 6
    assert platform.storage is not None
    with platform.storage.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM backups")).scalar_one() == 0
    gone = httpx.get(f"{platform.gateway}/v1/servers/{server.id}/backups", headers=headers, timeout=10)
    assert gone.status_code == 404
    pipeline.days_pass()
    assert len(pipeline.storage_events("backup.created")) == 8  # none for a deleted server


def test_a_snapshot_is_recorded_and_metered_per_gb_month_until_deleted_and_a_volume_one_is_not_supported(
    platform: LivePlatform, compute_worker: Worker
) -> None:
    """compute's create_image makes a snapshot; storage records it from compute's image events
    and its worker meters it by the hour from billing's snapshot plan (2.50 GB x 0.0119 a month,
    a 730th of it an hour) until the image is deleted."""
    assert platform.storage is not None
    start = datetime(2026, 5, 4, 10, 20, tzinfo=UTC)
    previous = set_clock(ManualClock(start))
    try:
        clock = get_clock()
        assert isinstance(clock, ManualClock)
        pipeline = Pipeline(platform)
        pipeline.follow_compute()
        token = _token(platform, "snapshots@example.com")
        client = _client(platform, token, [])
        made = client.servers.create(name="snap", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
        made.action.wait_until_finished(max_retries=400)
        assert made.server.id is not None
        server = client.servers.get_by_id(made.server.id)
        image = server.create_image(description="before the upgrade", type="snapshot")
        image.action.wait_until_finished(max_retries=400)
        pipeline.follow_compute()
        (created,) = pipeline.storage_events("snapshot.created")
        assert (created.snapshot_id, created.resource_id, created.size_gb) == (image.image.id, server.id, "2.50")
        clock.advance(timedelta(hours=3))  # 13:20: the hours 10, 11 and 12 have ended
        platform.storage.meter().run()
        snapshot_hours = [
            e for e in _usage(platform) if e.resource_type == "snapshot" and e.resource_id == image.image.id
        ]
        assert [(e.product, e.price_hourly, e.price_monthly) for e in snapshot_hours] == [
            ("2.50 GB", "0.000041", "0.029750")
        ] * 3
        client.images.delete(image.image)
        pipeline.follow_compute()
        assert len(pipeline.storage_events("snapshot.deleted")) == 1
        clock.advance(timedelta(hours=5))
        platform.storage.meter().run()
        snapshot_hours = [
            e for e in _usage(platform) if e.resource_type == "snapshot" and e.resource_id == image.image.id
        ]
        assert len(snapshot_hours) == 4  # the started hour of its deletion, then nothing

        volume = httpx.post(
            f"{platform.gateway}/v1/volumes/999999/actions/create_snapshot",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert volume.status_code == 404  # none of the caller's: not found before anything else
    finally:
        set_clock(previous)


def _usage(platform: LivePlatform) -> list[Any]:
    assert platform.storage is not None
    with platform.storage.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT envelope FROM outbox WHERE event_type = 'usage.recorded' ORDER BY id")
        ).scalars()
        envelopes = [EventEnvelope.FromString(raw) for raw in rows]
    return [REGISTRY.decode_payload(e.event_type, e.schema_version, e.payload) for e in envelopes]
