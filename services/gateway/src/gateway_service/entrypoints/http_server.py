"""The gateway's HTTP server process (uvicorn)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from cpshared.logging import get_logger
from cpshared.process import start_process
from cpshared.runtime import open_migrated_database
from cpshared.settings import load_settings
from gateway_service import SERVICE_NAME
from gateway_service.app import create_app
from gateway_service.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def server_config(app: ASGIApp, host: str, port: int, *, trusted_proxies: str = "") -> uvicorn.Config:
    """How the gateway is served: no ``server`` banner, no access log of uvicorn's (the request log
    is the gateway's own), keep-alive connections closed after 5 idle seconds, and
    ``X-Forwarded-For`` / ``X-Forwarded-Proto`` honoured only from ``trusted_proxies``
    (``CP_TRUSTED_PROXIES``: addresses or networks, comma-separated); without any, the client is
    always the peer (uvicorn's own default would trust loopback, and so anything a local proxy
    or tunnel lets through)."""
    proxies = [p.strip() for p in trusted_proxies.split(",") if p.strip()]
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or [],
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
    )


def main() -> None:
    settings = load_settings(Settings)
    start_process(SERVICE_NAME, settings)
    engine = open_migrated_database(SERVICE_NAME, settings, MIGRATIONS)
    get_logger("gateway.http").info("gateway_starting", host=settings.http_host, port=settings.http_port)
    try:
        config = server_config(
            create_app(settings, engine),
            settings.http_host,
            settings.http_port,
            trusted_proxies=settings.trusted_proxies,
        )
        uvicorn.Server(config).run()
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
