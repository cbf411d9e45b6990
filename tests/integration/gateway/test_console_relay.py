"""The platform's console: single-use tickets in the gateway's database, and the gateway's
``/v1/console`` websocket relaying a real websocket client to the Hetzner simulator's console
(the gateway under uvicorn, the simulator under uvicorn, ``websockets`` as the client)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hcloud import Client
from hcloud.images import Image
from hcloud.server_types import ServerType
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from cpshared.clock import ManualClock
from gateway_service.app import create_app
from gateway_service.config import BACKENDS, Settings
from gateway_service.console.tickets import TICKET_TTL, ConsoleTickets, console_tickets
from tests.integration.gateway import conftest as gateway_conftest
from tests.integration.live import SIMULATOR_TOKEN, simulator_in_thread


@pytest.fixture
def gateway(gateway_url: str, engine: sa.Engine, clock: ManualClock) -> Iterator[str]:
    """The gateway (the console route needs no backend), on the test's clock; its ws:// base."""
    settings = Settings.model_validate(
        {
            "service_name": "gateway",
            "metrics_port": 0,
            "database_url": gateway_url,
            **{f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS},
        }
    )
    with contextlib.contextmanager(gateway_conftest.serve)(create_app(settings, engine, clock=clock)) as url:
        yield url.replace("http://", "ws://")


@pytest.fixture(scope="module")
def simulator() -> Iterator[Client]:
    with simulator_in_thread() as endpoint:
        yield Client(token=SIMULATOR_TOKEN, api_endpoint=endpoint, poll_interval=0.01)


def upstream_console(simulator: Client) -> str:
    """A console URL as upstream answers it: its host, its server id, its token."""
    created = simulator.servers.create(
        name=f"console-{secrets.token_hex(4)}", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04")
    )
    created.action.wait_until_finished()
    return str(simulator.servers.request_console(created.server).wss_url)


def refused(url: str) -> int:
    with pytest.raises(InvalidStatus) as excinfo:
        connect(url, open_timeout=10)
    return int(excinfo.value.response.status_code)


def test_a_ticket_is_redeemed_once_stored_only_as_its_hash_and_lapses(engine: sa.Engine, clock: ManualClock) -> None:
    tickets = ConsoleTickets(engine, clock=clock)
    ticket = tickets.issue("wss://upstream.example/?server_id=42&token=abc", 7)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(console_tickets)).all()
    assert len(rows) == 1 and rows[0].server_id == 7
    assert ticket.encode() not in rows[0].ticket_sha256 and len(rows[0].ticket_sha256) == 32
    assert tickets.redeem(ticket) == "wss://upstream.example/?server_id=42&token=abc"
    assert tickets.redeem(ticket) is None  # spent
    assert tickets.redeem("") is None and tickets.redeem("x" * 500) is None and tickets.redeem("made-up") is None

    lapsed = tickets.issue("wss://upstream.example/?token=old", 7)
    clock.advance(TICKET_TTL)
    assert tickets.redeem(lapsed) is None
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(console_tickets)).scalar_one() == 0

    forgotten = tickets.issue("wss://upstream.example/?token=forgotten", 8)
    clock.advance(TICKET_TTL + timedelta(seconds=1))
    tickets.issue("wss://upstream.example/?token=new", 9)  # prunes the lapsed one
    with engine.connect() as conn:
        assert conn.execute(sa.select(console_tickets.c.server_id)).scalars().all() == [9]
    assert tickets.redeem(forgotten) is None


def test_the_gateway_relays_a_websocket_to_upstreams_console_once_per_ticket(
    gateway: str, engine: sa.Engine, clock: ManualClock, simulator: Client
) -> None:
    ticket = ConsoleTickets(engine, clock=clock).issue(upstream_console(simulator), 1)
    url = f"{gateway}/v1/console?ticket={ticket}"
    with connect(url, subprotocols=["binary"], open_timeout=10) as websocket:  # type: ignore[list-item]
        assert websocket.subprotocol == "binary"  # noVNC's, asked of upstream and accepted there
        assert websocket.recv(timeout=10) == b"RFB 003.008\n"  # the simulator's greeting, relayed
        websocket.send(b"RFB 003.008\n")
        assert websocket.recv(timeout=10) == b"RFB 003.008\n"
        websocket.send("a text frame")
        assert websocket.recv(timeout=10) == "a text frame"
    assert refused(url) == 403  # single use


def test_the_gateway_refuses_unknown_lapsed_and_unreachable_consoles(
    gateway: str, engine: sa.Engine, clock: ManualClock, simulator: Client
) -> None:
    tickets = ConsoleTickets(engine, clock=clock)
    assert refused(f"{gateway}/v1/console") == 403
    assert refused(f"{gateway}/v1/console?ticket=made-up") == 403

    lapsed = tickets.issue(upstream_console(simulator), 1)
    clock.advance(TICKET_TTL)
    assert refused(f"{gateway}/v1/console?ticket={lapsed}") == 403

    # Upstream's own token spent (a ticket forged on a used upstream URL): upstream refuses,
    # and so does the gateway, without a 5xx.
    used = upstream_console(simulator)
    with connect(used, open_timeout=10):
        pass
    assert refused(f"{gateway}/v1/console?ticket={tickets.issue(used, 1)}") == 403
    # Upstream unreachable.
    assert refused(f"{gateway}/v1/console?ticket={tickets.issue('ws://127.0.0.1:9/console', 1)}") == 403
