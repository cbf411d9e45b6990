"""Storage's volumes on in-memory fakes: the aggregate's rules, the handlers (quotas reserved and
given back, nothing changed by a refusal) and the worker (crash-safe: a worker killed after
upstream made the volume adopts it on the next round; a refusal ends the action in error with
upstream's code; a lasting outage leaves it running)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cpshared.errors import AlreadyExists, InvalidInput, LimitExceeded, NotFound, PreconditionFailed
from storage_service.domain import volumes as v
from storage_service.domain.volumes import ServerInfo
from storage_service.service_layer import reactions, volumes
from storage_service.service_layer.ports import VolumeSpec
from storage_service.service_layer.provisioning import DEFERRED, Provisioner
from tests.unit.storage.fakes import FakeQuotas, FakeServers, FakeUnitOfWork, FakeUpstream, Store

USER = 7


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


def _mine(user_id: int, organization_id: int | None) -> None:
    if user_id != USER or organization_id is not None:
        raise NotFound("not yours")


class World:
    def __init__(self) -> None:
        self.store = Store()
        self.upstream = FakeUpstream()
        self.servers = FakeServers()
        self.quotas = FakeQuotas()
        self.add_server(1, "fsn1")

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def add_server(self, server_id: int, location: str, user_id: int = USER) -> None:
        self.servers.servers[server_id] = ServerInfo(server_id, user_id, None, location, True)
        self.upstream.servers[server_id] = 9000 + server_id

    def create(self, name: str = "data", size: int = 10, **kwargs: object) -> volumes.Created:
        cmd = volumes.CreateVolume(user_id=USER, organization_id=None, name=name, size_gb=size, **kwargs)  # type: ignore[arg-type]
        if not cmd.location and not cmd.server_id:
            cmd = volumes.CreateVolume(user_id=USER, organization_id=None, name=name, size_gb=size, location="fsn1")
        return volumes.create(cmd, self.uow(), self.servers, self.quotas)

    def provisioner(self) -> Provisioner:
        return Provisioner(self.uow, self.upstream, self.quotas)

    def drain(self) -> None:
        provisioner = self.provisioner()
        while provisioner.run_once() is not None:
            pass

    def volume(self, volume_id: int) -> v.Volume:
        return self.store.volumes[volume_id]

    def events(self) -> list[str]:
        return [event.envelope.event_type for event in self.store.outbox]


@pytest.fixture
def world() -> Iterator[World]:
    yield World()


@pytest.mark.parametrize("size", [9, 10241, 0, -5])
def test_a_size_outside_10_to_10240_gb_is_refused_and_nothing_is_reserved(world: World, size: int) -> None:
    with pytest.raises(InvalidInput, match="size"):
        world.create(size=size)
    assert world.store.volumes == {} and world.quotas.held == {}


def test_creating_reserves_a_volume_and_its_gb_and_the_worker_makes_it_upstream(world: World) -> None:
    created = world.create(size=25)
    assert created.volume.status == v.CREATING and created.action.status == v.ACTION_RUNNING
    assert world.quotas.used("volume") == 1 and world.quotas.used("volume_gb") == 25
    world.drain()
    volume = world.volume(created.volume.id)
    assert volume.status == v.AVAILABLE and not volume.locked and volume.hetzner_id in world.upstream.volumes
    assert world.events() == ["volume.created", "volume.provisioned"]


def test_a_worker_killed_after_upstream_made_the_volume_adopts_it_and_makes_no_second(world: World) -> None:
    created = world.create()

    class Killed(BaseException):
        pass

    original = world.upstream.wait

    def die_after_create(action_id: int) -> None:
        raise Killed()

    world.upstream.wait = die_after_create  # type: ignore[method-assign]
    with pytest.raises(Killed):
        world.provisioner().run_once()
    assert world.upstream.created == 1 and world.volume(created.volume.id).status == v.CREATING
    world.upstream.wait = original  # type: ignore[method-assign]
    world.drain()
    assert world.upstream.created == 1 and len(world.upstream.volumes) == 1
    assert world.volume(created.volume.id).hetzner_id == next(iter(world.upstream.volumes))


def test_an_upstream_refusal_ends_the_action_in_error_with_upstreams_code(world: World) -> None:
    world.upstream.refuse["create"] = "resource_limit_exceeded"
    created = world.create()
    world.drain()
    action = world.store.actions[created.action.id]
    assert (action.status, action.error_code) == (v.ACTION_ERROR, "resource_limit_exceeded")
    assert world.volume(created.volume.id).status == v.ERROR
    assert "volume.action_failed" in world.events()


def test_upstream_unavailable_leaves_the_action_running_for_later(world: World) -> None:
    created = world.create()
    world.upstream.unavailable = True
    outcome = world.provisioner().run_once()
    assert outcome is not None and outcome.status == DEFERRED
    assert world.store.actions[created.action.id].status == v.ACTION_RUNNING
    world.upstream.unavailable = False
    world.drain()
    assert world.volume(created.volume.id).status == v.AVAILABLE


def test_a_volume_made_on_a_server_is_attached_there(world: World) -> None:
    created = world.create(server_id=1, automount=True)
    world.drain()
    volume = world.volume(created.volume.id)
    assert (volume.status, volume.server_id, volume.location) == (v.ATTACHED, 1, "fsn1")
    assert world.upstream.volumes[volume.hetzner_id].server_id == 9001
    assert world.events()[-1] == "volume.attached"


def test_attach_rules_location_tenant_attached_and_sixteen_per_server(world: World) -> None:
    world.add_server(2, "nbg1")
    world.add_server(3, "fsn1", user_id=99)
    created = world.create()
    world.drain()
    volume_id = created.volume.id
    with pytest.raises(InvalidInput, match="location"):
        volumes.attach(volume_id, 2, False, _mine, world.uow(), world.servers)
    with pytest.raises(NotFound):
        volumes.attach(volume_id, 3, False, _mine, world.uow(), world.servers)
    with pytest.raises(NotFound):
        volumes.attach(volume_id, 404, False, _mine, world.uow(), world.servers)
    volumes.attach(volume_id, 1, False, _mine, world.uow(), world.servers)
    with pytest.raises(v.Locked):
        volumes.attach(volume_id, 1, False, _mine, world.uow(), world.servers)
    world.drain()
    with pytest.raises(InvalidInput, match="attached"):
        volumes.attach(volume_id, 1, False, _mine, world.uow(), world.servers)
    for n in range(15):
        world.create(name=f"more-{n}", server_id=1)
    world.drain()
    with pytest.raises(LimitExceeded):
        world.create(name="seventeenth", server_id=1)
    loose = world.create(name="loose")
    world.drain()
    with pytest.raises(LimitExceeded):
        volumes.attach(loose.volume.id, 1, False, _mine, world.uow(), world.servers)


def test_resize_only_grows_and_reserves_the_difference(world: World) -> None:
    created = world.create(size=10)
    world.drain()
    for size in (10, 5, 10241):
        with pytest.raises(InvalidInput, match="size"):
            volumes.resize(created.volume.id, size, _mine, world.uow(), world.quotas)
    assert world.quotas.used("volume_gb") == 10
    volumes.resize(created.volume.id, 30, _mine, world.uow(), world.quotas)
    world.drain()
    assert world.volume(created.volume.id).size_gb == 30 and world.quotas.used("volume_gb") == 30
    world.quotas.limits["volume_gb"] = 40
    with pytest.raises(LimitExceeded):
        volumes.resize(created.volume.id, 50, _mine, world.uow(), world.quotas)
    assert world.volume(created.volume.id).size_gb == 30 and not world.volume(created.volume.id).locked


def test_a_refused_resize_gives_its_gb_back(world: World) -> None:
    created = world.create(size=10)
    world.drain()
    world.upstream.refuse["resize"] = "invalid_input"
    volumes.resize(created.volume.id, 20, _mine, world.uow(), world.quotas)
    world.drain()
    assert world.volume(created.volume.id).size_gb == 10 and world.quotas.used("volume_gb") == 10


def test_a_quota_refused_half_way_leaves_nothing_reserved(world: World) -> None:
    world.quotas.limits["volume_gb"] = 15
    with pytest.raises(LimitExceeded):
        world.create(size=20)
    assert world.quotas.held == {} and world.store.volumes == {}


def test_delete_honours_protection_and_attachment_and_gives_every_quota_back(world: World) -> None:
    created = world.create(size=10, server_id=1)
    world.drain()
    volume_id = created.volume.id
    volumes.change_protection(volume_id, True, _mine, world.uow())
    with pytest.raises(v.Protected):
        volumes.delete(volume_id, _mine, world.uow())
    volumes.change_protection(volume_id, False, _mine, world.uow())
    with pytest.raises(v.InUse):
        volumes.delete(volume_id, _mine, world.uow())
    volumes.detach(volume_id, _mine, world.uow())
    world.drain()
    volumes.resize(volume_id, 20, _mine, world.uow(), world.quotas)
    world.drain()
    volumes.delete(volume_id, _mine, world.uow())
    with pytest.raises(NotFound):  # gone for its tenant at once
        volumes.get(volume_id, _mine, world.uow())
    world.drain()
    assert world.volume(volume_id).deleted_at is not None and world.upstream.volumes == {}
    assert world.quotas.held == {}


def test_another_tenants_volume_is_not_found_and_names_are_unique_per_tenant(world: World) -> None:
    created = world.create(name="same")
    with pytest.raises(NotFound):
        volumes.get(created.volume.id, lambda user_id, org: (_ for _ in ()).throw(NotFound("x")), world.uow())
    with pytest.raises(AlreadyExists):
        world.create(name="same")


def test_a_volume_being_changed_is_locked(world: World) -> None:
    created = world.create()
    with pytest.raises(v.Locked):
        volumes.resize(created.volume.id, 20, _mine, world.uow(), world.quotas)
    world.upstream.refuse["create"] = "server_error_permanent"
    world.drain()
    with pytest.raises(PreconditionFailed):  # in error: only deleting is left
        volumes.resize(created.volume.id, 20, _mine, world.uow(), world.quotas)
    volumes.delete(created.volume.id, _mine, world.uow())
    world.drain()
    assert world.quotas.held == {}


def test_a_deleted_servers_idle_volumes_are_detached_and_stay(world: World) -> None:
    created = world.create(server_id=1)
    world.drain()
    with world.uow() as uow:
        events = reactions.server_deleted(uow.volumes, 1)
        uow.commit()
    assert [e.envelope.event_type for e in events] == ["volume.detached"]
    volume = world.volume(created.volume.id)
    assert (volume.server_id, volume.status, volume.deleted_at) == (None, v.AVAILABLE, None)


def test_a_suspended_accounts_volumes_refuse_every_change_until_it_is_active_again(world: World) -> None:
    created = world.create(server_id=1)
    world.drain()
    with world.uow() as uow:
        assert reactions.account_suspended(uow.volumes, user_id=USER) == 1
        assert reactions.account_suspended(uow.volumes, user_id=USER) == 0  # once
        assert reactions.account_suspended(uow.volumes, organization_id=5) == 0  # not the organization's
        uow.commit()
    volume_id = created.volume.id
    for refused in (
        lambda: volumes.resize(volume_id, 20, _mine, world.uow(), world.quotas),
        lambda: volumes.detach(volume_id, _mine, world.uow()),
        lambda: volumes.change_protection(volume_id, True, _mine, world.uow()),
        lambda: volumes.update(volume_id, "other", None, _mine, world.uow()),
        lambda: volumes.delete(volume_id, _mine, world.uow()),
    ):
        with pytest.raises(v.Locked, match="suspended"):
            refused()
    volume = world.volume(volume_id)
    assert (volume.size_gb, volume.server_id, volume.name, volume.deleted_at) == (10, 1, "data", None)
    with world.uow() as uow:
        assert reactions.account_activated(uow.volumes, user_id=USER) == 1
        uow.commit()
    volumes.resize(volume_id, 20, _mine, world.uow(), world.quotas)
    world.drain()
    assert world.volume(volume_id).size_gb == 20


def test_an_erased_accounts_volumes_are_detached_and_deleted_a_busy_one_when_its_action_ends(world: World) -> None:
    attached = world.create(name="attached", server_id=1)
    world.drain()
    volumes.change_protection(attached.volume.id, True, _mine, world.uow())
    world.drain()
    busy = world.create(name="busy")  # its create has not run yet
    with world.uow() as uow:
        events = reactions.account_erased(uow.volumes, uow.actions, USER)
        uow.commit()
    assert [e.envelope.event_type for e in events] == ["volume.detached"]
    left = world.volume(busy.volume.id)
    assert left.deleted_at is None and left.blocked and left.erased  # its create runs first
    with pytest.raises(v.Locked):
        volumes.delete(busy.volume.id, _mine, world.uow())
    world.drain()
    for volume_id in (attached.volume.id, busy.volume.id):
        gone = world.volume(volume_id)
        assert gone.deleted_at is not None and gone.server_id is None  # protected or not
        assert world.upstream.find(volume_id) == []
    assert world.quotas.held == {}


def test_the_sweep_deletes_upstream_volumes_no_live_volume_owns(world: World) -> None:
    created = world.create()
    world.drain()
    stray, _ = world.upstream.create(VolumeSpec(created.volume.id + 100, "x", 10, "fsn1", "", {}))
    duplicate = world.upstream.volumes[world.volume(created.volume.id).hetzner_id]
    twin = duplicate.__class__(**{**duplicate.__dict__, "id": 999})
    world.upstream.volumes[999] = twin
    assert world.provisioner().sweep() == [999]
    assert stray.id in world.upstream.volumes  # a platform id the database never had: not ours to judge


def test_sizes_are_recorded_when_made_and_when_upstream_grew_the_volume(world: World) -> None:
    created = world.create(size=10)
    world.drain()
    volumes.resize(created.volume.id, 30, _mine, world.uow(), world.quotas)
    world.upstream.refuse["resize"] = "invalid_input"
    world.drain()
    assert [(v_id, size) for v_id, size, _ in world.store.size_periods] == [(created.volume.id, 10)]
    world.upstream.refuse.clear()
    volumes.resize(created.volume.id, 40, _mine, world.uow(), world.quotas)
    world.drain()
    assert [size for _, size, _ in world.store.size_periods] == [10, 40]
