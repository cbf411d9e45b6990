"""A scratch database migrated with the identity migrations, the service wired to it, and its
gRPC API on a loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from grpc import aio

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cpshared.grpc.server import ServiceIdentity, serve
from cpshared.migrations import migrations_dir, upgrade
from identity_service.bootstrap import Identity, bootstrap
from identity_service.entrypoints.grpc_identity import add_identity_servicer


@pytest.fixture
def identity_url(paths: LocalPaths) -> Iterator[str]:
    with MariaDB(paths.root).scratch_database("cp_test_id") as url:
        upgrade("identity", migrations_dir("identity"), url)
        yield url


@pytest.fixture
def identity(identity_url: str) -> Iterator[Identity]:
    app = bootstrap(identity_url, pool_size=10)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def engine(identity: Identity) -> sa.Engine:
    return identity.engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def stub(identity: Identity) -> AsyncIterator[pb_grpc.IdentityServiceAsyncStub]:
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, identity),
            grace=0.5,
            stop_event=stop,
        )
    )
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        yield pb_grpc.IdentityServiceStub(channel)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
