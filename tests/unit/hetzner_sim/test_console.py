"""The simulator's console websocket: request_console's URL opens it once, within a minute,
for its server; it greets with VNC's RFB version and echoes frames (a real websocket client)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hcloud import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.unit.hetzner_sim.conftest import OTHER_TOKEN, Sim
from tests.unit.hetzner_sim.test_hcloud_client import create


def test_the_console_url_opens_a_websocket_once(sim: Sim, client: Client) -> None:
    server = create(client, "console-1")
    console = server.request_console()
    url = urlsplit(console.wss_url)
    assert url.scheme == "ws" and f"http://{url.netloc}" == sim.url and url.path == "/console"
    assert parse_qs(url.query)["server_id"] == [str(server.id)]

    with connect(console.wss_url, subprotocols=["binary"]) as websocket:  # type: ignore[list-item]
        assert websocket.subprotocol == "binary"
        assert websocket.recv(timeout=5) == b"RFB 003.008\n"
        websocket.send(b"RFB 003.008\n")
        assert websocket.recv(timeout=5) == b"RFB 003.008\n"
        websocket.send("text too")
        assert websocket.recv(timeout=5) == "text too"

    with pytest.raises(InvalidStatus) as used:
        connect(console.wss_url)
    assert used.value.response.status_code == 403


def test_a_console_token_lapses_and_is_bound_to_its_server(sim: Sim, client: Client) -> None:
    server = create(client, "console-2")
    lapsed = server.request_console().wss_url
    sim.clock.advance(timedelta(seconds=61).total_seconds())
    with pytest.raises(InvalidStatus):
        connect(lapsed)

    other = create(sim.client(OTHER_TOKEN), "console-3")
    token = parse_qs(urlsplit(server.request_console().wss_url).query)["token"][0]
    with pytest.raises(InvalidStatus):
        connect(f"{sim.url.replace('http', 'ws')}/console?server_id={other.id}&token={token}")
    with pytest.raises(InvalidStatus):
        connect(f"{sim.url.replace('http', 'ws')}/console?server_id={server.id}&token=made-up")
