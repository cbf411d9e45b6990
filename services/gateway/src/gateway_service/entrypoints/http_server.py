"""The gateway's HTTP server process (uvicorn)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from cpshared.logging import get_logger
from cpshared.process import start_process
from cpshared.runtime import open_migrated_database
from cpshared.settings import load_settings
from gateway_service import SERVICE_NAME
from gateway_service.app import create_app
from gateway_service.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def main() -> None:
    settings = load_settings(Settings)
    start_process(SERVICE_NAME, settings)
    engine = open_migrated_database(SERVICE_NAME, settings, MIGRATIONS)
    get_logger("gateway.http").info("gateway_starting", host=settings.http_host, port=settings.http_port)
    try:
        uvicorn.run(
            create_app(settings, engine),
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
