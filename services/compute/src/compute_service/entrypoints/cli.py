"""The compute service's operator commands: ``python -m compute_service.entrypoints.cli
sync-catalog`` (run by ``cloudctl compute sync-catalog``).

It works on the compute database named by ``CP_DATABASE_URL`` and the upstream named by
``CP_HCLOUD_ENDPOINT`` / ``CP_HCLOUD_TOKEN_FILE``, with compute's own use case — the same code,
checks and outbox events as the server's start-up sync — so it works whether or not the compute
process runs. The answer is one JSON object on stdout (what was added and updated); the logs go
to stderr as JSON lines; exit status 1: the sync failed (the reason is the last line on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from compute_service import SERVICE_NAME
from compute_service.bootstrap import bootstrap
from compute_service.config import ComputeSettings
from compute_service.service_layer import catalog
from cpshared.errors import DomainError
from cpshared.logging import configure_logging
from cpshared.settings import DatabaseSettings, load_settings


class CliSettings(DatabaseSettings, ComputeSettings):
    """The database and the upstream (no gRPC server, no Kafka: the sync writes to the outbox)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compute_service.entrypoints.cli", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "sync-catalog", help="upsert server types and system images from upstream (prices and availability are kept)"
    )
    parser.parse_args(argv)
    configure_logging(SERVICE_NAME)
    for handler in logging.getLogger().handlers:  # stdout carries the answer only
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)

    settings = load_settings(CliSettings)
    compute = bootstrap(
        settings.database_url,
        pool_size=1,
        hcloud_endpoint=settings.hcloud_endpoint,
        hcloud_token_file=settings.hcloud_token_file,
    )
    try:
        report = catalog.sync_catalog(compute.catalog_source(), compute.uow())
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        compute.close()
    print(
        json.dumps(
            {
                "server_types_created": report.server_types_created,
                "server_types_updated": report.server_types_updated,
                "images_created": report.images_created,
                "images_updated": report.images_updated,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
