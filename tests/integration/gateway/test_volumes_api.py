"""Volumes through the gateway with the real ``hcloud`` client: ``api_endpoint=<gateway>/v1``
and a platform API token. Storage runs on a scratch database with identity's quotas and
compute's servers; compute's and storage's workers run in threads against the in-process
Hetzner simulator, so actions finish as in the stack. Every JSON answer is checked against
Hetzner's OpenAPI document."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hcloud import APIException, Client
from hcloud.actions import ActionFailedException
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType
from hcloud.servers import BoundServer

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cloudplatform.identity.v1 import events_pb2 as identity_pb
from cpshared.events import catalog as events
from cpshared.events.envelope import new_event
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import IDENTITY_EVENTS
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserRole, UserStatus
from identity_service.service_layer import organizations as identity_organizations
from identity_service.service_layer import staff as identity_staff
from identity_service.service_layer import users
from storage_service.config import WorkerSettings as StorageWorkerSettings
from storage_service.domain.volumes import Locked
from storage_service.entrypoints import worker as storage_worker
from storage_service.entrypoints.server_projection import ServerProjection
from storage_service.service_layer import volumes as storage_volumes
from tests.integration.gateway.test_servers_api import Worker, _client, _token
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform


class StorageWorker:
    """Storage's worker (entrypoints.worker.run) in a thread."""

    def __init__(self, platform: LivePlatform) -> None:
        assert platform.storage is not None
        self.provisioner = platform.storage.provisioner()
        self.settings = StorageWorkerSettings.model_construct(
            worker_poll_interval=0.05, worker_sweep_interval=3600.0, upstream_retry_initial_seconds=0.05
        )
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=storage_worker.run, args=(self.provisioner, self.settings, self.stop_event), daemon=True
        )

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(15)


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_vol_id") as identity_url,
        mariadb.scratch_database("cp_test_vol_gw") as gateway_url,
        mariadb.scratch_database("cp_test_vol_cp") as compute_url,
        mariadb.scratch_database("cp_test_vol_st") as storage_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("storage", migrations_dir("storage"), storage_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, storage_url=storage_url) as live:
            yield live


@pytest.fixture(scope="module")
def workers(platform: LivePlatform) -> Iterator[None]:
    compute = Worker(platform)
    compute.start()
    storage = StorageWorker(platform)
    storage.thread.start()
    try:
        yield
    finally:
        storage.stop()
        compute.stop()


def _upstream_volumes(platform: LivePlatform) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{platform.simulator}/volumes",
        params={"per_page": 50},
        headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"},
        timeout=5,
    )
    answer.raise_for_status()
    return list(answer.json()["volumes"])


def _server(client: Client, name: str, location: str = "fsn1") -> BoundServer:
    created = client.servers.create(
        name=name,
        server_type=ServerType(name="cx22"),
        image=Image(name="ubuntu-24.04"),
        location=Location(name=location),
    )
    created.action.wait_until_finished(max_retries=400)
    return client.servers.get_by_id(created.server.id)


def _refused(call: Any, code: str) -> APIException:
    with pytest.raises(APIException) as refused:
        call()
    assert refused.value.code == code, refused.value
    return refused.value


def _live_rows(platform: LivePlatform) -> list[tuple[int, int, str, int | None]]:
    assert platform.storage is not None
    with platform.storage.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, size_gb, status, server_id FROM volumes WHERE deleted_at IS NULL ORDER BY id")
        )
        return [(r.id, r.size_gb, r.status, r.server_id) for r in rows]


def _admin(platform: LivePlatform) -> int:
    with platform.identity.uow() as uow:
        found = uow.users.by_email("volume-admin@example.com")
    if found is not None:
        return int(found.id)
    admin = users.create_user(
        commands.CreateUser(
            name="Volume Admin",
            email="volume-admin@example.com",
            password="a long enough password",
            role=UserRole.ADMIN,
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )
    return int(admin.id)


def _user_id(platform: LivePlatform, email: str) -> int:
    with platform.identity.uow() as uow:
        user = uow.users.by_email(email)
    assert user is not None
    return int(user.id)


def _quota(platform: LivePlatform, user_id: int, resource_type: str) -> int:
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=user_id), resource_type)
    return 0 if quota is None else int(quota.current_usage)


def test_a_volume_lives_its_whole_life_through_the_hcloud_client(platform: LivePlatform, workers: None) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "volumes@example.com"), checked)
    user_id = _user_id(platform, "volumes@example.com")
    first, second = _server(client, "vol-a"), _server(client, "vol-b")

    created = client.volumes.create(
        size=10, name="data-1", server=first, automount=True, format="ext4", labels={"env": "test"}
    )
    assert created.volume.status == "creating" and created.next_actions == []
    created.action.wait_until_finished(max_retries=400)  # GET /v1/actions/{id}: storage's id range
    volume = client.volumes.get_by_id(created.volume.id)
    assert (volume.size, volume.status, volume.format) == (10, "available", "ext4")
    assert volume.server is not None and volume.server.id == first.id
    assert volume.location.name == "fsn1" and volume.linux_device
    assert _quota(platform, user_id, "volume") == 1 and _quota(platform, user_id, "volume_gb") == 10

    assert [v.id for v in client.volumes.get_all(label_selector="env=test")] == [volume.id]
    assert client.volumes.get_all(label_selector="env=prod") == []
    assert [v.id for v in client.volumes.get_all(status=["available"])] == [volume.id]
    assert client.volumes.get_all(status=["creating"]) == []
    named = client.volumes.get_by_name("data-1")
    assert named is not None and named.id == volume.id
    assert client.servers.get_by_id(first.id).volumes[0].id == volume.id

    client.volumes.resize(volume, 20).wait_until_finished(max_retries=400)
    assert client.volumes.get_by_id(volume.id).size == 20
    assert _quota(platform, user_id, "volume_gb") == 20

    client.volumes.detach(volume).wait_until_finished(max_retries=400)
    assert client.volumes.get_by_id(volume.id).server is None
    client.volumes.attach(volume, second, automount=False).wait_until_finished(max_retries=400)
    attached = client.volumes.get_by_id(volume.id)
    assert attached.server is not None and attached.server.id == second.id

    client.volumes.change_protection(volume, delete=True).wait_until_finished(max_retries=400)
    assert client.volumes.get_by_id(volume.id).protection["delete"] is True
    _refused(lambda: client.volumes.delete(volume), "protected")
    client.volumes.change_protection(volume, delete=False).wait_until_finished(max_retries=400)
    _refused(lambda: client.volumes.delete(volume), "resource_in_use")  # still attached
    client.volumes.detach(volume).wait_until_finished(max_retries=400)
    assert client.volumes.delete(volume) is True
    _refused(lambda: client.volumes.get_by_id(volume.id), "not_found")

    deadline = time.monotonic() + 30
    while _live_rows(platform) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_rows(platform) == []
    assert [v for v in _upstream_volumes(platform) if v["labels"].get("cp_volume_id") == str(volume.id)] == []
    assert _quota(platform, user_id, "volume") == 0 and _quota(platform, user_id, "volume_gb") == 0
    actions = [a for a in client.volumes.actions.get_all() if {"id": volume.id, "type": "volume"} in a.resources]
    assert {a.command for a in actions} == {
        "create_volume",
        "resize_volume",
        "detach_volume",
        "attach_volume",
        "change_protection",
        "delete_volume",
    }
    assert all(a.status == "success" for a in actions)
    assert any(line.startswith("POST /v1/volumes 201") for line in checked)


def test_bad_input_is_refused_in_hetzners_format_and_changes_nothing(platform: LivePlatform, workers: None) -> None:
    client = _client(platform, _token(platform, "bad-volumes@example.com"), [])
    other = _client(platform, _token(platform, "other-volumes@example.com"), [])
    server = _server(client, "bad-a")
    far = _server(client, "bad-far", location="nbg1")
    foreign = _server(other, "foreign")
    made = client.volumes.create(size=10, name="keep", location=Location(name="fsn1"))
    made.action.wait_until_finished(max_retries=400)
    volume = client.volumes.get_by_id(made.volume.id)
    before_rows, before_upstream = _live_rows(platform), _upstream_volumes(platform)

    _refused(lambda: client.volumes.create(size=9, name="small", location=Location(name="fsn1")), "invalid_input")
    _refused(lambda: client.volumes.create(size=10241, name="big", location=Location(name="fsn1")), "invalid_input")
    _refused(lambda: client.volumes.create(size=10, name="nowhere", location=Location(name="mars")), "invalid_input")
    _refused(
        lambda: client.volumes.create(size=10, name="odd", location=Location(name="fsn1"), format="ntfs"),
        "invalid_input",
    )
    _refused(lambda: client.volumes.create(size=10, name="keep", location=Location(name="fsn1")), "uniqueness_error")
    _refused(lambda: client.volumes.create(size=10, name="theirs", server=foreign), "not_found")
    _refused(lambda: client.volumes.resize(volume, 5), "invalid_input")
    _refused(lambda: client.volumes.resize(volume, 10), "invalid_input")
    _refused(lambda: client.volumes.attach(volume, far), "invalid_input")
    _refused(lambda: client.volumes.attach(volume, foreign), "not_found")
    _refused(lambda: other.volumes.get_by_id(volume.id), "not_found")
    _refused(lambda: other.volumes.delete(volume), "not_found")
    _refused(lambda: client.volumes.detach(volume), "invalid_input")
    client.volumes.attach(volume, server).wait_until_finished(max_retries=400)
    _refused(lambda: client.volumes.attach(volume, server), "invalid_input")
    _refused(lambda: client.volumes.delete(volume), "resource_in_use")

    assert [(r[0], r[1]) for r in _live_rows(platform)] == [(r[0], r[1]) for r in before_rows]
    assert [v["id"] for v in _upstream_volumes(platform)] == [v["id"] for v in before_upstream]


def test_a_server_holds_sixteen_volumes_and_quotas_bound_count_and_gb(platform: LivePlatform, workers: None) -> None:
    email = "many-volumes@example.com"
    client = _client(platform, _token(platform, email), [])
    user_id, admin = _user_id(platform, email), _admin(platform)
    for resource_type, limit in (("volume", 20), ("volume_gb", 200)):
        identity_staff.set_quota_limit(
            identity_staff.SetQuotaLimit(
                acting_user_id=admin, owner=QuotaOwner(user_id=user_id), resource_type=resource_type, quota_limit=limit
            ),
            platform.identity.uow,
        )
    server = _server(client, "full")
    created = [client.volumes.create(size=10, name=f"v-{n}", server=server) for n in range(16)]
    for answer in created:
        answer.action.wait_until_finished(max_retries=400)
    upstream = len(_upstream_volumes(platform))
    _refused(lambda: client.volumes.create(size=10, name="v-16", server=server), "resource_limit_exceeded")
    loose = client.volumes.create(size=10, name="loose", location=Location(name="fsn1"))
    loose.action.wait_until_finished(max_retries=400)
    _refused(lambda: client.volumes.attach(loose.volume, server), "resource_limit_exceeded")
    # 17 volumes, 170 GB of 200: a 40 GB one is over the GB quota, a resize by 40 GB too.
    _refused(
        lambda: client.volumes.create(size=40, name="huge", location=Location(name="fsn1")), "resource_limit_exceeded"
    )
    _refused(lambda: client.volumes.resize(loose.volume, 50), "resource_limit_exceeded")
    assert len(_upstream_volumes(platform)) == upstream + 1
    assert _quota(platform, user_id, "volume") == 17 and _quota(platform, user_id, "volume_gb") == 170
    assert client.volumes.get_by_id(loose.volume.id).size == 10


def _server_deleted(server_id: int, user_id: int) -> RawRecord:
    event = new_event(
        events.SERVER_DELETED,
        producer="compute",
        aggregate_id=server_id,
        aggregate_version=9,
        payload=compute_pb.ServerDeleted(server_id=server_id, user_id=user_id, name="gone", action_id=1),
    )
    return RawRecord(event.topic.name, 0, 0, event.key, event.envelope.SerializeToString(), event.headers())


def test_a_deleted_servers_volumes_are_detached_and_stay(platform: LivePlatform, workers: None) -> None:
    email = "server-gone@example.com"
    client = _client(platform, _token(platform, email), [])
    server = _server(client, "doomed")
    made = client.volumes.create(size=10, name="stays", server=server)
    made.action.wait_until_finished(max_retries=400)
    client.servers.delete(server).wait_until_finished(max_retries=400)
    assert platform.storage is not None
    runner = ProjectionRunner(platform.storage.engine, ServerProjection())
    record = _server_deleted(server.id, _user_id(platform, email))
    assert runner.apply_batch([record]).applied == 1
    assert runner.apply_batch([record]).applied == 0  # redelivered: its inbox row says it was applied

    volume = client.volumes.get_by_id(made.volume.id)
    assert volume.server is None and volume.status == "available"
    with platform.storage.engine.connect() as conn:
        detached = conn.execute(
            sa.text("SELECT COUNT(*) FROM outbox WHERE event_type = 'volume.detached' AND message_key = :id"),
            {"id": str(volume.id)},
        ).scalar_one()
    assert detached == 1
    upstream = [v for v in _upstream_volumes(platform) if v["labels"].get("cp_volume_id") == str(volume.id)]
    assert len(upstream) == 1 and upstream[0]["server"] is None
    # It attaches elsewhere afterwards, as any detached volume.
    other = _server(client, "successor")
    client.volumes.attach(volume, other).wait_until_finished(max_retries=400)
    assert client.volumes.get_by_id(volume.id).server.id == other.id


def _fault(platform: LivePlatform, **rule: Any) -> None:
    assert platform.simulator is not None
    control = platform.simulator.removesuffix("/v1")
    httpx.post(f"{control}/_sim/faults", json=rule, timeout=5).raise_for_status()


def _clear_faults(platform: LivePlatform) -> None:
    assert platform.simulator is not None
    httpx.delete(f"{platform.simulator.removesuffix('/v1')}/_sim/faults", timeout=5).raise_for_status()


def test_upstream_faults_are_retried_without_a_second_volume_and_a_refusal_ends_in_error(
    platform: LivePlatform, workers: None
) -> None:
    client = _client(platform, _token(platform, "faults@example.com"), [])
    try:
        # Upstream makes the volume but the answer is lost (502): the retry finds it by its label.
        _fault(platform, method="POST", path="/v1/volumes", kind="drop", times=1)
        _fault(platform, method="POST", path="/v1/volumes", kind="rate_limit", times=1)
        made = client.volumes.create(size=10, name="flaky", location=Location(name="fsn1"))
        made.action.wait_until_finished(max_retries=400)
        owned = [v for v in _upstream_volumes(platform) if v["labels"].get("cp_volume_id") == str(made.volume.id)]
        assert len(owned) == 1
        assert client.volumes.get_by_id(made.volume.id).status == "available"

        # A refusal for good: the action ends in error with upstream's code, the size stays.
        _fault(
            platform, method="POST", path="/v1/volumes/*/actions/resize", kind="error", status=422, code="invalid_input"
        )
        resize = client.volumes.resize(made.volume, 30)
        with pytest.raises(ActionFailedException):
            resize.wait_until_finished(max_retries=400)
        action = client.actions.get_by_id(resize.id)
        assert action.status == "error" and action.error["code"] == "invalid_input"
        assert client.volumes.get_by_id(made.volume.id).size == 10 and owned[0]["size"] == 10
    finally:
        _clear_faults(platform)


def _identity_record(spec: Any, payload: Any, aggregate_id: int, offset: int) -> RawRecord:
    """An identity event as storage's consumer reads it from identity.events."""
    event = new_event(spec, producer="identity", aggregate_id=aggregate_id, aggregate_version=offset, payload=payload)
    return RawRecord(IDENTITY_EVENTS.name, 0, offset, event.key, event.envelope.SerializeToString(), event.headers())


def _apply_twice(platform: LivePlatform, record: RawRecord) -> None:
    assert platform.storage is not None
    runner = ProjectionRunner(platform.storage.engine, ServerProjection())
    assert runner.apply_batch([record]).applied == 1
    assert runner.apply_batch([record]).applied == 0  # redelivered: changes nothing twice


def _status(user_id: int, old: str, new: str) -> identity_pb.UserStatusChanged:
    return identity_pb.UserStatusChanged(user_id=user_id, old_status=old, new_status=new)


def _blocked(platform: LivePlatform, volume_id: int) -> bool:
    assert platform.storage is not None
    with platform.storage.engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT blocked FROM volumes WHERE id = :id"), {"id": volume_id}).scalar_one())


def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_a_suspended_accounts_volumes_are_locked_and_an_erased_ones_detached_and_deleted(
    platform: LivePlatform, workers: None
) -> None:
    email = "suspended-volumes@example.com"
    token = _token(platform, email)
    client = _client(platform, token, [])
    user_id = _user_id(platform, email)
    server = _server(client, "susp-a")
    attached = client.volumes.create(size=10, name="susp-attached", server=server)
    attached.action.wait_until_finished(max_retries=400)
    loose = client.volumes.create(size=20, name="susp-loose", location=Location(name="fsn1"))
    loose.action.wait_until_finished(max_retries=400)
    client.volumes.change_protection(attached.volume, delete=True).wait_until_finished(max_retries=400)
    ids = [attached.volume.id, loose.volume.id]

    _apply_twice(platform, _identity_record(events.USER_SUSPENDED, _status(user_id, "active", "suspended"), user_id, 1))
    assert all(_blocked(platform, volume_id) for volume_id in ids)
    volume, other = client.volumes.get_by_id(ids[0]), client.volumes.get_by_id(ids[1])  # reads still answer
    before = _live_rows(platform)
    for refused in (
        lambda: client.volumes.resize(other, 30),
        lambda: client.volumes.attach(other, server),
        lambda: client.volumes.detach(volume),
        lambda: client.volumes.change_protection(volume, delete=False),
        lambda: client.volumes.update(other, name="renamed"),
        lambda: client.volumes.delete(other),
    ):
        _refused(refused, "locked")
    answer = httpx.post(
        f"{platform.gateway}/v1/volumes/{ids[1]}/actions/resize",
        json={"size": 40},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 423 and answer.json()["error"]["code"] == "locked"
    assert _live_rows(platform) == before  # nothing changed, nothing deleted

    _apply_twice(platform, _identity_record(events.USER_ACTIVATED, _status(user_id, "suspended", "active"), user_id, 2))
    assert not any(_blocked(platform, volume_id) for volume_id in ids)
    client.volumes.resize(other, 30).wait_until_finished(max_retries=400)
    assert client.volumes.get_by_id(ids[1]).size == 30

    erased = identity_pb.UserErased(user_id=user_id, erased_by_user_id=1)
    _apply_twice(platform, _identity_record(events.USER_ERASED, erased, user_id, 3))
    assert platform.storage is not None
    for volume_id in ids:  # the protected, attached one too
        _wait(lambda v=volume_id: v not in {row[0] for row in _live_rows(platform)}, f"volume {volume_id} is deleted")
        _refused(lambda v=volume_id: client.volumes.get_by_id(v), "not_found")
    mine = {str(volume_id) for volume_id in ids}
    assert [v for v in _upstream_volumes(platform) if v["labels"].get("cp_volume_id") in mine] == []
    with platform.storage.engine.connect() as conn:
        detached = conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM outbox WHERE event_type = 'volume.detached' AND message_key = :id"
                " AND envelope LIKE '%account_erased%'"
            ),
            {"id": str(ids[0])},
        ).scalar_one()
    assert detached == 1
    assert _quota(platform, user_id, "volume") == 0 and _quota(platform, user_id, "volume_gb") == 0
    assert client.servers.get_by_id(server.id).volumes == []


def test_a_suspended_organizations_volumes_are_locked_until_it_is_active_again(
    platform: LivePlatform, workers: None
) -> None:
    email = "org-volumes@example.com"
    _token(platform, email)
    user_id = _user_id(platform, email)
    organization, _ = identity_organizations.create_organization(
        commands.CreateOrganization(acting_user_id=user_id, name="Volume Org", slug="volume-org"),
        platform.identity.uow(),
    )
    storage = platform.storage
    assert storage is not None
    own = storage_volumes.create(
        storage_volumes.CreateVolume(user_id=user_id, organization_id=None, name="own", size_gb=10, location="fsn1"),
        storage.uow(),
        storage.servers,
        storage.quotas,
    ).volume
    theirs = storage_volumes.create(
        storage_volumes.CreateVolume(
            user_id=user_id, organization_id=organization.id, name="theirs", size_gb=10, location="fsn1"
        ),
        storage.uow(),
        storage.servers,
        storage.quotas,
    ).volume
    _wait(lambda: all(row[2] == "available" for row in _live_rows(platform) if row[0] in (own.id, theirs.id)), "made")

    suspended = identity_pb.OrganizationStatusChanged(
        organization_id=organization.id, old_status="active", new_status="suspended"
    )
    _apply_twice(platform, _identity_record(events.ORGANIZATION_SUSPENDED, suspended, organization.id, 1))
    assert _blocked(platform, theirs.id) and not _blocked(platform, own.id)  # a member's own volumes are theirs

    def anyone(user_id: int, organization_id: int | None) -> None:
        return None

    with pytest.raises(Locked):
        storage_volumes.resize(theirs.id, 20, anyone, storage.uow(), storage.quotas)
    activated = identity_pb.OrganizationStatusChanged(
        organization_id=organization.id, old_status="suspended", new_status="active"
    )
    _apply_twice(platform, _identity_record(events.ORGANIZATION_ACTIVATED, activated, organization.id, 2))
    assert not _blocked(platform, theirs.id)
    storage_volumes.resize(theirs.id, 20, anyone, storage.uow(), storage.quotas)
