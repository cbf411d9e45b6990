"""A scratch database migrated with the audit migrations, rows written into audit_logs as the
projection would, and the audit gRPC API on a loopback port with principal verification on."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from grpc import aio

from audit_service.adapters.tables import audit_logs
from audit_service.bootstrap import Audit, bootstrap
from audit_service.entrypoints.grpc_server import add_servicers
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.audit.v1 import audit_service_pb2_grpc as pb_grpc
from cpshared.auth.principal import TrustedKeys, generate_private_key, service_principal, sign, user_principal
from cpshared.context import PRINCIPAL_HEADER
from cpshared.grpc.server import ServiceIdentity, serve
from cpshared.migrations import migrations_dir, upgrade

ISSUER_KEY = generate_private_key()
"""Signs the user principals of the tests, as identity would."""
SERVICE_KEY = generate_private_key()
"""Signs the principal of the service "gateway"."""
BASE_TIME = datetime(2026, 11, 1, 12, 0, 0)
_sequence = itertools.count(1)


@pytest.fixture
def audit_url(paths: LocalPaths) -> Iterator[str]:
    with MariaDB(paths.root).scratch_database("cp_test_au") as url:
        upgrade("audit", migrations_dir("audit"), url)
        yield url


@pytest.fixture
def audit(audit_url: str) -> Iterator[Audit]:
    app = bootstrap(audit_url, pool_size=5)
    try:
        yield app
    finally:
        app.close()


def insert_entry(engine: sa.Engine, **values: Any) -> int:
    """One audit_logs row as the projection writes it; ``values`` override the defaults
    (``minutes``: created_at that many minutes after BASE_TIME). Returns its id."""
    seq = next(_sequence)
    minutes = values.pop("minutes", seq)
    row: dict[str, Any] = {
        "action": "api_key.created",
        "created_at": BASE_TIME + timedelta(minutes=minutes),
        "event_id": os.urandom(16),
        "stream": "identity.events",
        "chain_id": "identity.events/0",
        "chain_seq": seq,
        "prev_hash": "0" * 64,
        "row_hash": f"{seq:064x}",
        **values,
    }
    row.setdefault("event_type", row["action"])
    with engine.begin() as conn:
        key = conn.execute(sa.insert(audit_logs).values(**row)).inserted_primary_key
        assert key is not None
        return int(key[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def stub(audit: Audit) -> AsyncIterator[pb_grpc.AuditServiceAsyncStub]:
    """The AuditService over a channel; pass each call's principal as x-principal metadata."""
    address = f"127.0.0.1:{_free_port()}"
    stop, started = asyncio.Event(), asyncio.Event()

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="audit", version="test"),
            address,
            lambda server: add_servicers(server, audit),
            grace=0.5,
            on_started=on_started,
            stop_event=stop,
            trusted=TrustedKeys(issuer=ISSUER_KEY.public_key(), services={"gateway": SERVICE_KEY.public_key()}),
        )
    )
    await asyncio.wait_for(started.wait(), timeout=10)
    async with aio.insecure_channel(address) as channel:
        yield pb_grpc.AuditServiceStub(channel)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


Metadata = tuple[tuple[str, str], ...]


def as_user(user_id: int, role: str = "client", organizations: dict[int, str] | None = None) -> Metadata:
    """Call metadata carrying a user principal signed as identity signs them."""
    principal = user_principal(user_id=user_id, role=role, organizations=organizations or {})
    return ((PRINCIPAL_HEADER, sign(principal, ISSUER_KEY)),)


def as_service() -> Metadata:
    """Call metadata carrying the gateway's service principal (signed now: it lives minutes)."""
    return ((PRINCIPAL_HEADER, sign(service_principal("gateway"), SERVICE_KEY)),)
