"""The monitoring service's operator commands: ``python -m monitoring_service.entrypoints.cli
retention`` (run by ``cloudctl retention run``): server_metrics' day partitions, then alert_history.

It works on the monitoring database named by ``CP_DATABASE_URL`` with the retention settings
(``CP_METRICS_RETENTION_DAYS``, ``CP_METRICS_PARTITIONS_AHEAD_DAYS``) and the keeper's own pass,
so it works whether or not the monitoring process runs. The answer is one JSON object per table on stdout;
the logs go to stderr; exit status 1: the run failed (the reason is the last line on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from sqlalchemy import exc as sa_exc

from cpshared.logging import configure_logging
from cpshared.retention import run_retention
from cpshared.settings import load_settings
from monitoring_service import SERVICE_NAME
from monitoring_service.bootstrap import bootstrap
from monitoring_service.config import CliSettings
from monitoring_service.entrypoints.retention_keeper import alert_history_retention, retention_pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitoring_service.entrypoints.cli", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("retention", help="drop the day partitions of server_metrics older than the retention now")
    parser.parse_args(argv)
    configure_logging(SERVICE_NAME)
    for handler in logging.getLogger().handlers:  # stdout carries the answer only
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    settings = load_settings(CliSettings)
    monitoring = bootstrap(settings.database_url, pool_size=1)
    try:
        report = retention_pass(monitoring, settings)
        alerts = run_retention(monitoring.engine, alert_history_retention(monitoring, settings))
    except sa_exc.SQLAlchemyError as exc:
        print(f"retention failed: {exc}", file=sys.stderr)
        return 1
    finally:
        monitoring.close()
    if report is None or alerts is None:
        print("retention failed: another process is running the retention", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "table": "server_metrics",
                "kept_from": report.kept_from.isoformat(),
                "partitions_dropped": report.dropped,
                "partitions_created": len(report.created),
                "rows_removed": report.rows_removed,
            }
        )
    )
    print(json.dumps({"table": "alert_history", "rows_removed": alerts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
