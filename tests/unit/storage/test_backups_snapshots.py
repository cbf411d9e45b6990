"""Servers' backups and snapshots in storage, on in-memory fakes: the worker's mirror records
each backup image once, expires the ones upstream rotated out (seven kept), deletes upstream
what a customer deleted; a deleted server's backups and disabled backups expire; snapshots are
recorded from compute's image events (billed from when they are available) and a volume
snapshot is refused with ``not_supported``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cpshared.clock import ManualClock, set_clock
from cpshared.errors import NotFound
from cpshared.events.envelope import PendingEvent
from storage_service.domain import backups as b
from storage_service.domain.backups import BackupBusy, UpstreamBackup
from storage_service.domain.metering import snapshot_prices
from storage_service.domain.snapshots import NotSupported
from storage_service.domain.volumes import Volume
from storage_service.service_layer import backups, snapshots
from tests.unit.storage.fakes import FakeUnitOfWork, FakeUpstreamBackups, Store

START = datetime(2026, 4, 1, 22, 0, tzinfo=UTC)
SERVER, UPSTREAM_SERVER, USER = 5, 9005, 7


@pytest.fixture(autouse=True)
def _clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def _mine(user_id: int, organization_id: int | None) -> None:
    if user_id != USER or organization_id is not None:
        raise NotFound("not yours")


def _stranger(user_id: int, organization_id: int | None) -> None:
    raise NotFound("not yours")


class World:
    def __init__(self) -> None:
        self.store = Store()
        self.upstream = FakeUpstreamBackups()
        self.next_image = 500
        with self.uow() as uow:
            backups.server_created(uow.backups, SERVER, USER, None, enabled=True)
            backups.server_upstream_known(uow.backups, SERVER, UPSTREAM_SERVER)
            uow.commit()

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def daily_backup(self, day: int) -> int:
        """Upstream's backup of ``day`` (from 0), keeping the newest seven as Hetzner does."""
        self.next_image += 1
        self.upstream.images[self.next_image] = UpstreamBackup(
            self.next_image, UPSTREAM_SERVER, f"backup {day}", "available", Decimal("2.50"), START + timedelta(days=day)
        )
        for old in sorted(self.upstream.images)[: -b.SLOTS]:
            del self.upstream.images[old]
        return self.next_image

    def events(self, event_type: str) -> list[PendingEvent]:
        return [e for e in self.store.outbox if e.envelope.event_type == event_type]


def test_seven_daily_backups_are_kept_the_eighth_expires_the_first_and_a_pass_again_records_nothing() -> None:
    world = World()
    for day in range(7):
        world.daily_backup(day)
        backups.mirror(world.uow, world.upstream)
    _, listed = backups.list_backups(SERVER, _mine, world.uow())
    assert len(listed) == 7 and len(world.events("backup.created")) == 7
    first = listed[-1]
    assert first.type == b.AUTOMATED and first.status == b.AVAILABLE and first.size_gb == Decimal("2.50")
    assert first.expires_at == first.created_at + timedelta(days=7)
    world.daily_backup(7)
    done = backups.mirror(world.uow, world.upstream)
    assert (done.created, done.expired) == (1, 1)
    _, listed = backups.list_backups(SERVER, _mine, world.uow())
    assert first.id not in [x.id for x in listed] and len(listed) == 7
    assert [e.envelope.aggregate_id for e in world.events("backup.expired")] == [str(first.id)]
    assert backups.mirror(world.uow, world.upstream) == backups.Mirrored()


def test_a_deleted_backup_is_gone_at_once_and_deleted_upstream_by_the_next_pass() -> None:
    world = World()
    image = world.daily_backup(0)
    backups.mirror(world.uow, world.upstream)
    _, (backup,) = backups.list_backups(SERVER, _mine, world.uow())
    with pytest.raises(NotFound):
        backups.delete_backup(SERVER, backup.id, _stranger, world.uow())
    with pytest.raises(NotFound):
        backups.delete_backup(SERVER + 1, backup.id, _mine, world.uow())
    assert backups.delete_backup(SERVER, backup.id, _mine, world.uow()).status == b.DELETING
    assert backups.list_backups(SERVER, _mine, world.uow())[1] == []
    with pytest.raises(NotFound):
        backups.delete_backup(SERVER, backup.id, _mine, world.uow())
    assert backups.mirror(world.uow, world.upstream).deleted == 1
    assert world.upstream.deleted == [image] and world.store.backups == {}
    assert len(world.events("backup.deleted")) == 1 and world.events("backup.expired") == []


def test_a_server_storage_never_heard_of_is_recorded_when_its_backups_are_enabled_and_found_upstream() -> None:
    world = World()
    with world.uow() as uow:
        backups.backup_option_changed(uow.backups, 6, USER, None, enabled=True)
        uow.commit()
    world.upstream.servers[6] = 9006
    world.next_image += 1
    world.upstream.images[world.next_image] = UpstreamBackup(
        world.next_image, 9006, "older server", "available", Decimal("2.50"), START
    )
    assert backups.mirror(world.uow, world.upstream).created == 1
    assert world.store.backup_servers[6].upstream_id == 9006


def test_an_erased_users_backups_are_deleted_upstream_by_the_next_pass() -> None:
    world = World()
    images = [world.daily_backup(0), world.daily_backup(1)]
    backups.mirror(world.uow, world.upstream)
    with world.uow() as uow:
        assert backups.account_erased(uow.backups, USER + 1) == 0
        assert backups.account_erased(uow.backups, USER) == 2
        uow.commit()
    assert backups.mirror(world.uow, world.upstream).deleted == 2
    assert sorted(world.upstream.deleted) == images and world.store.backups == {}


def test_a_restoring_backup_cannot_be_deleted() -> None:
    world = World()
    world.daily_backup(0)
    backups.mirror(world.uow, world.upstream)
    (backup,) = world.store.backups.values()
    backup.status = b.RESTORING
    with pytest.raises(BackupBusy):
        backups.delete_backup(SERVER, backup.id, _mine, world.uow())


def test_disabled_backups_and_a_deleted_server_expire_the_backups() -> None:
    world = World()
    world.daily_backup(0)
    world.daily_backup(1)
    backups.mirror(world.uow, world.upstream)
    world.upstream.images.clear()  # upstream removes them when compute disables the option
    with world.uow() as uow:
        expired = backups.backup_option_changed(uow.backups, SERVER, USER, None, enabled=False)
        uow.commit()
    assert len(expired) == 2 and world.store.backups == {}
    world.daily_backup(2)  # upstream would not make it; a server not enabled records nothing
    assert backups.mirror(world.uow, world.upstream).created == 0
    with world.uow() as uow:
        backups.backup_option_changed(uow.backups, SERVER, USER, None, enabled=True)
        uow.commit()
    assert backups.mirror(world.uow, world.upstream).created == 1
    with world.uow() as uow:
        gone = backups.server_deleted(uow.backups, SERVER)
        uow.commit()
    assert len(gone) == 1 and world.store.backups == {}
    with pytest.raises(NotFound):
        backups.list_backups(SERVER, _mine, world.uow())
    with world.uow() as uow:
        assert backups.server_deleted(uow.backups, 404) == []


def _image(uow: FakeUnitOfWork, image_id: int, image_type: str, status: str, size_gb: str, at: datetime) -> list[str]:
    recorded = snapshots.image_created(
        uow.snapshots,
        image_id=image_id,
        image_type=image_type,
        user_id=USER,
        organization_id=None,
        server_id=SERVER,
        status=status,
        size_gb=size_gb,
        at=at,
    )
    return [e.envelope.event_type for e in recorded]


def test_a_snapshot_is_recorded_from_compute_s_image_events_and_billed_from_when_it_is_available() -> None:
    world = World()
    made_at, ready_at = START, START + timedelta(minutes=5)
    with world.uow() as uow:
        assert _image(uow, 31, "snapshot", "creating", "", made_at) == []
        assert _image(uow, 31, "snapshot", "available", "2.5", ready_at) == ["snapshot.created"]
        assert _image(uow, 31, "snapshot", "available", "2.5", ready_at) == []  # redelivered
        assert _image(uow, 32, "backup", "available", "2.5", ready_at) == []  # billed with the backup option
        uow.commit()
    snapshot = world.store.snapshots[31]
    assert snapshot.size_gb == Decimal("2.50") and snapshot.created_at == ready_at and 32 not in world.store.snapshots
    with world.uow() as uow:
        deleted = snapshots.image_deleted(uow.snapshots, 31, ready_at + timedelta(days=1))
        assert snapshots.image_deleted(uow.snapshots, 31, ready_at + timedelta(days=2)) == []
        assert snapshots.image_deleted(uow.snapshots, 999, ready_at) == []
        uow.commit()
    assert [e.envelope.event_type for e in deleted] == ["snapshot.deleted"]


def test_a_snapshot_costs_its_size_times_the_plan_per_month_and_a_730th_of_it_an_hour() -> None:
    hourly, monthly = snapshot_prices(Decimal("2.50"), Decimal("0.0119"))
    assert monthly == Decimal("0.029750") and hourly == Decimal("0.000041")


def test_a_volume_snapshot_is_not_supported_and_another_tenants_volume_is_not_found() -> None:
    world = World()
    with pytest.raises(NotFound):
        snapshots.snapshot_volume(1, _mine, world.uow())
    world.store.volumes[1] = Volume.new(
        user_id=USER,
        organization_id=None,
        name="data",
        size_gb=10,
        location="fsn1",
        datacenter_id=1,
        fmt="ext4",
        labels={},
    )
    world.store.volumes[1].id = 1
    with pytest.raises(NotSupported) as refused:
        snapshots.snapshot_volume(1, _mine, world.uow())
    assert refused.value.code == "not_supported" and "no volume snapshots" in str(refused.value)


def test_a_backup_image_compute_made_is_recorded_as_manual() -> None:
    world = World()
    world.upstream.images[77] = UpstreamBackup(77, UPSTREAM_SERVER, "by hand", "available", None, START, manual=True)
    backups.mirror(world.uow, world.upstream)
    (backup,) = world.store.backups.values()
    assert backup.type == b.MANUAL and backup.size_gb is None
