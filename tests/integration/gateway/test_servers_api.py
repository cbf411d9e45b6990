"""Servers through the gateway with the real ``hcloud`` client: ``api_endpoint=<gateway>/v1``
and a platform API token, nothing special-cased. Compute runs on a scratch database with
identity's quotas; compute's provisioning worker runs in a thread against the in-process
Hetzner simulator, so actions finish as in the stack. Every JSON answer is checked against
Hetzner's OpenAPI document with the simulator tests' validator."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hcloud import APIException, Client
from hcloud.images import Image
from hcloud.isos import Iso
from hcloud.locations import Location
from hcloud.server_types import ServerType
from websockets.sync.client import connect

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.config import WorkerSettings
from compute_service.entrypoints import worker
from compute_service.service_layer import servers as compute_servers
from compute_service.service_layer.provisioning import Provisioner
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserRole, UserStatus
from identity_service.service_layer import api_keys, users
from identity_service.service_layer import staff as identity_staff
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.unit.hetzner_sim import spec


class Worker:
    """Compute's provisioning worker (entrypoints.worker.run) in a thread, stoppable and restartable."""

    def __init__(self, platform: LivePlatform) -> None:
        assert platform.compute is not None and platform.simulator is not None
        upstream = HcloudServers(
            platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
        )
        self.provisioner = Provisioner(platform.compute.uow, upstream, platform.compute.quotas)
        self.settings = WorkerSettings.model_construct(
            worker_poll_interval=0.05, worker_sweep_interval=3600.0, upstream_retry_initial_seconds=0.05
        )
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=worker.run, args=(self.provisioner, self.settings, self.stop_event), daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(15)


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_sv_id") as identity_url,
        mariadb.scratch_database("cp_test_sv_gw") as gateway_url,
        mariadb.scratch_database("cp_test_sv_cp") as compute_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url) as live:
            yield live


@pytest.fixture(scope="module")
def running_worker(platform: LivePlatform) -> Iterator[Worker]:
    runner = Worker(platform)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def _token(platform: LivePlatform, email: str) -> str:
    user = users.create_user(
        commands.CreateUser(
            name="Server User", email=email, password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="hcloud", scopes=("*:read", "*:write"), rate_limit=100_000),
        platform.identity.uow(),
    )
    return secret


def _client(platform: LivePlatform, token: str, checked: list[str]) -> Client:
    client = Client(token=token, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.05)

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            path = (response.request.path_url or "").split("?")[0]
            spec.validate(str(response.request.method), path, response.status_code, response.json())
            checked.append(f"{response.request.method} {path} {response.status_code}")

    client._client._session.hooks["response"].append(check)
    return client


def _public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_a_server_is_created_run_powered_and_deleted_with_the_hcloud_client(
    platform: LivePlatform, running_worker: Worker
) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "servers@example.com"), checked)
    key = client.ssh_keys.create(name="laptop", public_key=_public_key())

    created = client.servers.create(
        name="web-1",
        server_type=ServerType(name="cx22"),
        image=Image(name="ubuntu-24.04"),
        location=Location(name="fsn1"),
        ssh_keys=[key],
        labels={"env": "test"},
    )
    assert created.root_password is None
    assert created.server.status == "initializing"
    assert created.action.command == "create_server" and created.action.status == "running"
    created.action.wait_until_finished(max_retries=400)
    action: Any = created.action  # hcloud's types say status is still "running" here
    assert action.status == "success"
    server_id = created.server.id
    assert server_id is not None

    server: Any = client.servers.get_by_id(server_id)  # the attributes below are set once provisioned
    assert server.status == "running"
    assert server.public_net.ipv4.ip and server.public_net.ipv6.ip
    assert server.server_type.name == "cx22" and server.location.name == "fsn1"
    assert server.image is not None and server.image.name == "ubuntu-24.04"
    assert server.labels == {"env": "test"}

    assert [s.id for s in client.servers.get_all(label_selector="env=test")] == [server.id]
    assert client.servers.get_all(label_selector="env=prod") == []
    assert [s.id for s in client.servers.get_all(name="web-1")] == [server.id]
    assert [s.id for s in client.servers.get_all(status=["running"])] == [server.id]

    off = server.power_off()
    assert off.command == "stop_server"
    off.wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server_id).status == "off"

    # Change type while off: without upgrade_disk the disk keeps its size.
    disk = server.primary_disk_size
    server.change_type(ServerType(name="cx32"), upgrade_disk=False).wait_until_finished(max_retries=400)
    changed: Any = client.servers.get_by_id(server_id)
    assert (changed.server_type.name, changed.primary_disk_size, changed.status) == ("cx32", disk, "off")

    server.power_on().wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server_id).status == "running"
    server.reboot().wait_until_finished(max_retries=400)

    rebuilt = server.rebuild(Image(name="debian-12"))
    assert rebuilt.action.command == "rebuild_server" and rebuilt.root_password is None
    rebuilt.action.wait_until_finished(max_retries=400)
    after: Any = client.servers.get_by_id(server_id)
    assert after.image.name == "debian-12" and after.status == "running"

    rescue = server.enable_rescue()
    assert rescue.root_password  # shown this once
    rescue.action.wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server_id).rescue_enabled

    made = server.create_image(description="before the upgrade", labels={"kind": "backup"})
    assert made.image.type == "snapshot" and made.image.status == "creating"
    made.action.wait_until_finished(max_retries=400)
    snapshot: Any = client.images.get_by_id(made.image.id)
    assert (snapshot.status, snapshot.description, snapshot.labels) == (
        "available",
        "before the upgrade",
        {"kind": "backup"},
    )
    assert snapshot.created_from.id == server_id
    assert [i.id for i in client.images.get_all(type=["snapshot"])] == [snapshot.id]
    assert {i.type for i in client.images.get_all()} == {"system", "snapshot"}
    client.images.update(snapshot, description="kept")
    assert client.images.get_by_id(snapshot.id).description == "kept"

    renamed: Any = server.update(name="web-renamed", labels={"env": "test", "tier": "web"})
    assert (renamed.name, renamed.labels) == ("web-renamed", {"env": "test", "tier": "web"})
    assert [s.id for s in client.servers.get_all(label_selector="tier=web")] == [server_id]

    # /v1/servers/{id}/metrics is answered by monitoring from the samples it stored:
    # tests/integration/monitoring/test_stored_metrics.py.

    succeeded = client.servers.actions.get_all(status=["success"], sort=["id:desc"])
    assert succeeded[0].id > off.id and {a.command for a in succeeded} >= {"create_server", "create_image"}
    one = client._client.request("GET", f"/servers/{server_id}/actions/{off.id}")
    assert one["action"]["command"] == "stop_server"

    commands_seen = {a.command for a in server.get_actions()}
    assert {
        "create_server",
        "stop_server",
        "start_server",
        "reboot_server",
        "change_server_type",
        "rebuild_server",
        "enable_rescue",
        "create_image",
    } <= commands_seen
    assert client.actions.get_by_id(off.id).status == "success"

    deletion = server.delete()
    assert deletion.command == "delete_server"
    deletion.wait_until_finished(max_retries=400)
    with pytest.raises(APIException) as missing:
        client.servers.get_by_id(server_id)
    assert missing.value.code == "not_found"
    client.images.delete(snapshot)
    assert client.images.get_all(type=["snapshot"]) == []
    assert checked, "no answer was validated"
    for route in ("change_type 201", "rebuild 201", "enable_rescue 201", "create_image 201"):
        assert f"POST /v1/servers/{server_id}/actions/{route}" in checked


def test_listing_pages_through_more_than_fifty_servers_by_label(platform: LivePlatform, running_worker: Worker) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "fleet@example.com"), checked)
    _raise_server_limit(platform, "fleet@example.com", 60)
    made = [
        client.servers.create(
            name=f"fleet-{n}",
            server_type=ServerType(name="cx22"),
            image=Image(name="ubuntu-24.04"),
            labels={"fleet": "yes", "parity": "even" if n % 2 == 0 else "odd"},
        )
        for n in range(53)
    ]
    client.servers.create(name="other", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    with pytest.raises(APIException) as taken:
        client.servers.update(made[0].server, name="fleet-1")
    assert taken.value.code == "uniqueness_error"
    every = client.servers.get_all(label_selector="fleet=yes")  # hcloud pages at 50: two pages
    assert sorted(s.id or 0 for s in every) == sorted(m.server.id or 0 for m in made)
    assert len(client.servers.get_all(label_selector="fleet=yes,parity=even")) == 27
    assert len(client.servers.get_all(label_selector="fleet")) == 53
    assert len(client.servers.get_all(label_selector="!fleet")) == 1
    page = client.servers.get_list(label_selector="fleet=yes", page=2, per_page=50)
    assert page.meta.pagination is not None
    assert len(page.servers) == 3 and page.meta.pagination.total_entries == 53
    assert any("page=2" in call or call.startswith("GET /v1/servers ") for call in checked)
    for created in made:
        created.action.wait_until_finished(max_retries=400)


def _raise_server_limit(platform: LivePlatform, email: str, limit: int) -> None:
    with platform.identity.uow() as uow:
        found = uow.users.by_email(email)
        assert found is not None
        user_id = found.id
    admin = users.create_user(
        commands.CreateUser(
            name="Limit Admin",
            email=f"admin-for-{email}",
            password="a long enough password",
            role=UserRole.ADMIN,
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=admin.id, owner=QuotaOwner(user_id=user_id), resource_type="server", quota_limit=limit
        ),
        platform.identity.uow,
    )


def test_another_tenants_server_is_not_found(platform: LivePlatform, running_worker: Worker) -> None:
    checked: list[str] = []
    owner = _client(platform, _token(platform, "owner@example.com"), checked)
    stranger = _client(platform, _token(platform, "stranger@example.com"), checked)
    created = owner.servers.create(name="mine", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    server_id = created.server.id
    assert server_id is not None
    for call in (
        lambda: stranger.servers.get_by_id(server_id),
        lambda: stranger.actions.get_by_id(created.action.id),
        lambda: stranger.servers.power_off(created.server),
    ):
        with pytest.raises(APIException) as refused:
            call()
        assert refused.value.code == "not_found"
    created.action.wait_until_finished(max_retries=400)


def test_an_action_already_running_locks_the_server(platform: LivePlatform, running_worker: Worker) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "locked@example.com"), checked)
    created = client.servers.create(name="busy", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    created.action.wait_until_finished(max_retries=400)
    running_worker.stop()  # the next action stays running until the worker is back
    server_id = created.server.id
    assert server_id is not None
    try:
        server = client.servers.get_by_id(server_id)
        reboot = server.reboot()
        assert client.servers.get_by_id(server_id).locked
        with pytest.raises(APIException) as refused:
            server.power_off()
        assert refused.value.code == "locked"
    finally:
        running_worker.start()
    reboot.wait_until_finished(max_retries=400)
    assert not client.servers.get_by_id(server_id).locked
    assert f"POST /v1/servers/{server_id}/actions/poweroff 423" in checked


def test_a_used_up_quota_is_resource_limit_exceeded(platform: LivePlatform, running_worker: Worker) -> None:
    checked: list[str] = []
    token = _token(platform, "quota@example.com")
    client = _client(platform, token, checked)
    with platform.identity.uow() as uow:
        found = uow.users.by_email("quota@example.com")
        assert found is not None
        user_id = found.id
    admin = users.create_user(
        commands.CreateUser(
            name="Quota Admin",
            email="quota-admin@example.com",
            password="a long enough password",
            role=UserRole.ADMIN,
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=admin.id, owner=QuotaOwner(user_id=user_id), resource_type="server", quota_limit=1
        ),
        platform.identity.uow,
    )
    first = client.servers.create(name="one", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    with pytest.raises(APIException) as refused:
        client.servers.create(name="two", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    assert refused.value.code == "resource_limit_exceeded"
    assert "POST /v1/servers 403" in checked
    first.action.wait_until_finished(max_retries=400)


def test_the_settings_actions_and_the_secrets_shown_once_work_with_the_hcloud_client(
    platform: LivePlatform, running_worker: Worker
) -> None:
    checked: list[str] = []
    token = _token(platform, "settings@example.com")
    client = _client(platform, token, checked)
    key = client.ssh_keys.create(name="laptop", public_key=_public_key())
    created = client.servers.create(
        name="tuned", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"), ssh_keys=[key]
    )
    created.action.wait_until_finished(max_retries=400)
    server_id = created.server.id
    assert server_id is not None
    server: Any = client.servers.get_by_id(server_id)

    shutdown = server.shutdown()
    assert shutdown.command == "shutdown_server"
    shutdown.wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server_id).status == "off"
    with pytest.raises(APIException) as not_running:  # Hetzner resets it only on a running server
        server.reset_password()
    assert not_running.value.code == "server_not_running"
    assert f"POST /v1/servers/{server_id}/actions/reset_password 422" in checked
    reset = server.reset()
    assert reset.command == "reset_server"
    reset.wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server_id).status == "running"

    server.attach_iso(Iso(name="virtio-win-0.1.248.iso")).wait_until_finished(max_retries=400)
    with_iso: Any = client.servers.get_by_id(server_id)
    assert with_iso.iso is not None and with_iso.iso.name == "virtio-win-0.1.248.iso"
    server.detach_iso().wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server_id).iso is None

    protection = server.change_protection(delete=True, rebuild=True)
    assert (protection.command, protection.status) == ("change_protection", "success")
    assert client.servers.get_by_id(server_id).protection == {"delete": True, "rebuild": True}
    with pytest.raises(APIException) as protected:
        server.delete()
    assert protected.value.code == "protected"
    with pytest.raises(APIException) as no_rebuild:
        server.rebuild(Image(name="debian-12"))
    assert no_rebuild.value.code == "protected"
    server.change_protection(delete=False, rebuild=False)

    ipv4 = server.public_net.ipv4.ip
    ipv6 = str(ipaddress.ip_network(server.public_net.ipv6.ip)[7])
    server.change_dns_ptr(ipv4, "tuned.example.com").wait_until_finished(max_retries=400)
    server.change_dns_ptr(ipv6, "v6.tuned.example.com").wait_until_finished(max_retries=400)
    named: Any = client.servers.get_by_id(server_id)
    assert named.public_net.ipv4.dns_ptr == "tuned.example.com"
    assert named.public_net.ipv6.dns_ptr == [{"ip": ipv6, "dns_ptr": "v6.tuned.example.com"}]
    with pytest.raises(APIException) as foreign:
        server.change_dns_ptr("192.0.2.77", "not.mine.example.com")
    assert foreign.value.code == "invalid_input"
    server.change_dns_ptr(ipv4, None).wait_until_finished(max_retries=400)
    reset_ptr: Any = client.servers.get_by_id(server_id)
    assert reset_ptr.public_net.ipv4.dns_ptr == ""

    server.enable_backup().wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server_id).backup_window
    server.disable_backup().wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server_id).backup_window is None

    console = server.request_console()
    # The platform's own websocket with a single-use ticket: no upstream host, no upstream id.
    url = urlsplit(console.wss_url)
    assert (url.scheme, url.netloc, url.path) == ("ws", urlsplit(platform.gateway).netloc, "/v1/console")
    assert list(parse_qs(url.query)) == ["ticket"] and console.password
    assert platform.simulator is not None and urlsplit(platform.simulator).netloc not in console.wss_url
    with connect(console.wss_url, open_timeout=10) as websocket:  # relayed to the simulator's console
        assert websocket.recv(timeout=10) == b"RFB 003.008\n"
        websocket.send(b"ping")
        assert websocket.recv(timeout=10) == b"ping"
    console.action.wait_until_finished(max_retries=400)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"console-{server_id}"}
    console_url = f"{platform.gateway}/v1/servers/{server_id}/actions/request_console"
    first = requests.post(console_url, headers=headers, timeout=10)
    replayed = requests.post(console_url, headers=headers, timeout=10)
    assert first.status_code == replayed.status_code == 201 and first.json()["wss_url"]
    assert replayed.headers["Idempotent-Replayed"] == "true"  # the ticket and password are not kept
    assert (replayed.json()["wss_url"], replayed.json()["password"]) == (None, None)
    client.actions.get_by_id(first.json()["action"]["id"]).wait_until_finished(max_retries=400)
    password = server.reset_password()
    assert password.root_password and password.action.command == "reset_password"
    password.action.wait_until_finished(max_retries=400)
    reset_url = f"{platform.gateway}/v1/servers/{server_id}/actions/reset_password"
    reset_headers = {**headers, "Idempotency-Key": f"reset-{server_id}"}
    first = requests.post(reset_url, headers=reset_headers, timeout=30)
    replayed = requests.post(reset_url, headers=reset_headers, timeout=30)
    assert first.status_code == replayed.status_code == 201 and first.json()["root_password"]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["root_password"] is None  # a root password is kept nowhere, not even for a replay
    client.actions.get_by_id(first.json()["action"]["id"]).wait_until_finished(max_retries=400)

    cold = client.servers.create(
        name="cold", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"), start_after_create=False
    )
    assert cold.root_password  # no SSH keys: upstream's root password, shown this once
    cold.action.wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(cold.server.id or 0).status == "off"

    for route in (
        "shutdown 201",
        "reset 201",
        "attach_iso 201",
        "detach_iso 201",
        "change_protection 201",
        "change_dns_ptr 201",
        "change_dns_ptr 400",
        "enable_backup 201",
        "disable_backup 201",
        "request_console 201",
        "reset_password 201",
    ):
        assert f"POST /v1/servers/{server_id}/actions/{route}" in checked
    assert f"DELETE /v1/servers/{server_id} 423" in checked


def test_isos_are_listed_read_and_attached_by_what_the_list_answers(
    platform: LivePlatform, running_worker: Worker
) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "isos@example.com"), checked)
    every = client.isos.get_all()
    assert [iso.name for iso in every] == [
        "virtio-win-0.1.248.iso",
        "FreeBSD-14.1-RELEASE-amd64-dvd1",
        "FreeBSD-14.1-RELEASE-arm64-dvd1",
    ]
    assert [iso.name for iso in client.isos.get_all(architecture=["arm"])] == ["FreeBSD-14.1-RELEASE-arm64-dvd1"]
    wildcard = client.isos.get_all(architecture=["x86"], include_architecture_wildcard=True)
    assert [iso.architecture for iso in wildcard] == [None, "x86"]
    freebsd = client.isos.get_by_name("FreeBSD-14.1-RELEASE-amd64-dvd1")
    assert freebsd is not None and freebsd.id is not None and freebsd.type == "public"
    assert client.isos.get_by_id(freebsd.id).description == "FreeBSD 14.1 x86"
    second = client.isos.get_list(page=2, per_page=2)
    assert [iso.name for iso in second.isos] == ["FreeBSD-14.1-RELEASE-arm64-dvd1"]
    pagination = second.meta.pagination
    assert pagination is not None and pagination.total_entries == 3 and pagination.next_page is None
    with pytest.raises(APIException) as missing:
        client.isos.get_by_id(987_654)
    assert missing.value.code == "not_found"

    created = client.servers.create(
        name="installer", server_type=ServerType(name="cx22"), image=Image(name="debian-12")
    )
    created.action.wait_until_finished(max_retries=400)
    assert created.server.id is not None
    server: Any = client.servers.get_by_id(created.server.id)
    server.attach_iso(Iso(id=freebsd.id)).wait_until_finished(max_retries=400)  # by the listed id
    attached: Any = client.servers.get_by_id(created.server.id)
    assert attached.iso is not None and (attached.iso.id, attached.iso.name) == (freebsd.id, freebsd.name)
    assert {"GET /v1/isos 200", f"GET /v1/isos/{freebsd.id} 200", "GET /v1/isos/987654 404"} <= set(checked)


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


def test_a_server_without_ssh_keys_answers_its_root_password_once_and_keeps_only_its_hash(
    platform: LivePlatform, running_worker: Worker
) -> None:
    assert platform.compute is not None
    checked: list[str] = []
    token = _token(platform, "no-keys@example.com")
    client = _client(platform, token, checked)
    created = client.servers.create(name="no-keys", server_type=ServerType(name="cx22"), image=Image(name="debian-12"))
    password = created.root_password
    assert password and len(password) >= 12
    created.action.wait_until_finished(max_retries=400)
    server = compute_servers.get(created.server.id or 0, _anyone, platform.compute.uow())
    assert server.status == "running" and server.root_password_hash
    assert password not in server.root_password_hash and server.has_root_password(password)
    with platform.compute.engine.connect() as conn:
        stored = " ".join(
            str(value)
            for table in ("servers", "actions", "outbox")
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            for value in row
        )
    assert password not in stored
    assert "POST /v1/servers 201" in checked
    # The answer an Idempotency-Key keeps for a replay holds no root password either.
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "no-keys-again"}
    body = {"name": "no-keys-again", "server_type": "cx22", "image": "debian-12"}
    first = requests.post(f"{platform.gateway}/v1/servers", json=body, headers=headers, timeout=30)
    replayed = requests.post(f"{platform.gateway}/v1/servers", json=body, headers=headers, timeout=30)
    assert first.status_code == replayed.status_code == 201 and first.json()["root_password"]
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.json()["root_password"] is None
    client.actions.get_by_id(first.json()["action"]["id"]).wait_until_finished(max_retries=400)
    rebuilt = client.servers.rebuild(created.server, Image(name="ubuntu-24.04"))
    assert rebuilt.root_password and rebuilt.root_password != password  # a new one, shown once
    rebuilt.action.wait_until_finished(max_retries=400)
    after = compute_servers.get(created.server.id or 0, _anyone, platform.compute.uow())
    assert after.has_root_password(rebuilt.root_password) and not after.has_root_password(password)

    key = client.ssh_keys.create(name="rescuer", public_key=_public_key())
    keyed = client.servers.create(
        name="with-keys", server_type=ServerType(name="cx22"), image=Image(name="debian-12"), ssh_keys=[key]
    )
    assert keyed.root_password is None  # as at Hetzner: SSH keys, no password
    keyed.action.wait_until_finished(max_retries=400)
    rescue = client.servers.enable_rescue(keyed.server, ssh_keys=[key.id or 0])  # type: ignore[list-item]
    assert isinstance(rescue.root_password, str) and rescue.root_password  # Hetzner's is never null
    rescue.action.wait_until_finished(max_retries=400)
    assert f"POST /v1/servers/{keyed.server.id}/actions/enable_rescue 201" in checked


def test_a_snapshot_is_protected_listed_with_its_actions_and_serves_new_servers_of_its_tenant_only(
    platform: LivePlatform, running_worker: Worker
) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "snapshots@example.com"), checked)
    stranger = _client(platform, _token(platform, "snapshot-stranger@example.com"), checked)
    origin = client.servers.create(name="origin", server_type=ServerType(name="cx22"), image=Image(name="debian-12"))
    origin.action.wait_until_finished(max_retries=400)
    made = client.servers.create_image(origin.server, description="golden", type="snapshot")
    made.action.wait_until_finished(max_retries=400)
    snapshot: Any = client.images.get_by_id(made.image.id or 0)
    assert (snapshot.status, snapshot.protection) == ("available", {"delete": False})

    protect = client.images.change_protection(snapshot, delete=True)
    assert (protect.command, protect.status, protect.progress) == ("change_protection", "success", 100)
    assert protect.resources == [{"id": snapshot.id, "type": "image"}]
    assert client.images.get_by_id(snapshot.id).protection == {"delete": True}
    with pytest.raises(APIException) as protected:
        client.images.delete(snapshot)
    assert protected.value.code == "protected"
    assert [i.id for i in client.images.get_all(type=["snapshot"])] == [snapshot.id]  # nothing changed

    # Its actions: the create_image that made it (about its server and it) and the protection.
    actions = client.images.get_actions(snapshot, sort=["id:asc"])
    assert [a.command for a in actions] == ["create_image", "change_protection"]
    assert actions[0].resources == [{"id": origin.server.id, "type": "server"}, {"id": snapshot.id, "type": "image"}]
    assert [a.id for a in client.images.actions.get_all()] == [a.id for a in actions]
    assert client.images.actions.get_all(status=["error"]) == []
    assert client.images.actions.get_by_id(protect.id).command == "change_protection"
    one = client._client.request("GET", f"/images/{snapshot.id}/actions/{protect.id}")
    assert one["action"]["id"] == protect.id
    assert client.actions.get_by_id(protect.id).status == "success"  # how clients wait for it
    with pytest.raises(APIException) as not_an_image_action:
        client._client.request("GET", f"/images/actions/{origin.action.id}")
    assert not_an_image_action.value.code == "not_found"
    system = client.images.get_by_name_and_architecture("debian-12", "x86")
    assert system is not None and client.images.get_actions(system) == []
    with pytest.raises(APIException) as unsupported:
        client.images.change_protection(system, delete=True)
    assert unsupported.value.code == "unsupported_error"

    # A server from the snapshot, by its id: made upstream from the upstream image behind it.
    clone = client.servers.create(
        name="clone", server_type=ServerType(name="cx32"), image=Image(id=snapshot.id), location=Location(name="fsn1")
    )
    assert clone.root_password
    clone.action.wait_until_finished(max_retries=400)
    cloned: Any = client.servers.get_by_id(clone.server.id or 0)
    assert cloned.status == "running" and cloned.image is not None and cloned.image.id == snapshot.id
    assert cloned.image.type == "snapshot"

    # Another tenant's snapshot is no image at all to anyone else.
    for call in (
        lambda: stranger.servers.create(name="theft", server_type=ServerType(name="cx22"), image=Image(id=snapshot.id)),
        lambda: stranger.images.change_protection(snapshot, delete=False),
        lambda: stranger.images.get_actions(snapshot),
        lambda: stranger.images.actions.get_by_id(protect.id),
    ):
        with pytest.raises(APIException) as refused:
            call()
        assert refused.value.code in ("invalid_input", "not_found")
    assert stranger.images.actions.get_all() == []
    assert stranger.servers.get_all() == []

    client.images.change_protection(snapshot, delete=False)
    client.images.delete(snapshot)
    assert client.images.get_all(type=["snapshot"]) == []
    for route in (
        f"POST /v1/images/{snapshot.id}/actions/change_protection 201",
        f"DELETE /v1/images/{snapshot.id} 423",
        f"GET /v1/images/{snapshot.id}/actions 200",
        "GET /v1/images/actions 200",
        f"GET /v1/images/actions/{protect.id} 200",
        f"POST /v1/images/{system.id}/actions/change_protection 400",
        "POST /v1/servers 400",
    ):
        assert route in checked, route
