"""``python -m hetzner_sim``: serve the simulator on CP_HETZNER_SIM_HOST:CP_HETZNER_SIM_PORT.

Settings (environment): CP_HETZNER_SIM_HOST (127.0.0.1), CP_HETZNER_SIM_PORT (8090),
CP_HETZNER_SIM_TOKEN (sim-token; several separated by commas, one project each) or
CP_HETZNER_SIM_TOKEN_FILE (a file holding them, e.g. a mounted secret),
CP_HETZNER_SIM_ACTION_SECONDS (0.5), CP_METRICS_PORT (Prometheus metrics; none if unset).
"""

from __future__ import annotations

import os

import uvicorn
from prometheus_client import start_http_server

from hetzner_sim.app import create_app
from hetzner_sim.state import SimConfig


def main() -> None:
    host = os.environ.get("CP_HETZNER_SIM_HOST", "127.0.0.1")
    port = int(os.environ.get("CP_HETZNER_SIM_PORT", "8090"))
    config = SimConfig(action_seconds=float(os.environ.get("CP_HETZNER_SIM_ACTION_SECONDS", "0.5")))
    metrics_port = os.environ.get("CP_METRICS_PORT")
    if metrics_port:
        start_http_server(int(metrics_port), addr=host)
    uvicorn.run(create_app(config), host=host, port=port, log_level=os.environ.get("CP_LOG_LEVEL", "info").lower())


if __name__ == "__main__":
    main()
