"""The server quota through the gateway with the real hcloud client: with a limit of 10, ten
servers are created and run, the 11th answers ``resource_limit_exceeded`` (403) and nothing is
created for it, neither in the platform nor upstream (the simulator's servers are counted)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from hcloud import APIException
from hcloud.images import Image
from hcloud.server_types import ServerType

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserRole, UserStatus
from identity_service.service_layer import staff as identity_staff
from identity_service.service_layer import users
from tests.integration.gateway.test_servers_api import Worker, _client, _token
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform

LIMIT = 10


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_sq_id") as identity_url,
        mariadb.scratch_database("cp_test_sq_gw") as gateway_url,
        mariadb.scratch_database("cp_test_sq_cp") as compute_url,
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


def _upstream_servers(platform: LivePlatform) -> list[dict[str, object]]:
    answer = httpx.get(
        f"{platform.simulator}/servers",
        params={"per_page": 50},
        headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"},
        timeout=5,
    )
    answer.raise_for_status()
    return list(answer.json()["servers"])


def test_the_eleventh_server_over_a_limit_of_ten_is_refused_and_creates_nothing_upstream(
    platform: LivePlatform, running_worker: Worker
) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "ten@example.com"), checked)
    with platform.identity.uow() as uow:
        user = uow.users.by_email("ten@example.com")
        assert user is not None
    admin = users.create_user(
        commands.CreateUser(
            name="Limit Admin",
            email="limit-admin@example.com",
            password="a long enough password",
            role=UserRole.ADMIN,
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=admin.id, owner=QuotaOwner(user_id=user.id), resource_type="server", quota_limit=LIMIT
        ),
        platform.identity.uow,
    )
    assert _upstream_servers(platform) == []
    created = [
        client.servers.create(name=f"s-{n}", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
        for n in range(LIMIT)
    ]
    for answer in created:
        answer.action.wait_until_finished(max_retries=400)
    assert len(_upstream_servers(platform)) == LIMIT

    with pytest.raises(APIException) as refused:
        client.servers.create(name="s-eleventh", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04"))
    assert refused.value.code == "resource_limit_exceeded"
    assert "POST /v1/servers 403" in checked

    # Nothing was made for it: no platform server, no action for the worker, nothing upstream.
    assert platform.compute is not None
    with platform.compute.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM servers")).scalar_one() == LIMIT
        assert conn.execute(sa.text("SELECT COUNT(*) FROM actions WHERE status = 'running'")).scalar_one() == 0
    names = sorted(s.name or "" for s in client.servers.get_all())
    assert names == sorted(f"s-{n}" for n in range(LIMIT))
    assert client.servers.get_all(name="s-eleventh") == []
    upstream = _upstream_servers(platform)
    assert len(upstream) == LIMIT
    assert sorted(str(s["name"]) for s in upstream) == names
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=user.id), "server")
    assert quota is not None and int(quota.current_usage) == LIMIT
