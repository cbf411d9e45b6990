"""The audit service's operator commands: ``python -m audit_service.entrypoints.cli
verify|digest|prune`` (run by ``cloudctl audit …``).

They work on the audit database named by ``CP_DATABASE_URL`` with the HMAC key named by
``CP_AUDIT_SIGNING_KEY_FILE``. ``verify`` exits 1 and names every row it finds altered,
deleted or inserted; a missing or unusable setting exits 2 with the variable to set.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from pydantic_settings import SettingsConfigDict

from audit_service.bootstrap import bootstrap
from audit_service.config import AuditKeySettings
from audit_service.service_layer.integrity import create_digest, prune, verify
from cpshared.clock import utcnow
from cpshared.settings import ENV_PREFIX, DatabaseSettings, load_settings


class CliSettings(DatabaseSettings, AuditKeySettings):
    """The database and the key: all an operator command needs (no Kafka, no gRPC port)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audit_service.entrypoints.cli", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("verify", help="recompute every chain and check the latest signed digest")
    commands.add_parser("digest", help="sign every chain's head now")
    pruning = commands.add_parser("prune", help="delete entries older than the retention, leaving signed anchors")
    pruning.add_argument("--days", type=int, help="keep entries this many days (default: CP_AUDIT_RETENTION_DAYS)")
    args = parser.parse_args(argv)
    if args.command == "prune" and args.days is not None and args.days < 1:
        parser.error("--days must be 1 or more")

    settings = load_settings(CliSettings)
    key = settings.signing_key()
    audit = bootstrap(settings.database_url, pool_size=1)
    try:
        if args.command == "verify":
            report = verify(audit.chains, key)
            digest = f"digest {report.digest_id}" if report.digest_id else "no digest yet"
            print(f"{report.rows} rows in {report.chains} chains, checked against {digest}")
            for finding in report.findings:
                print(finding)
            if not report.intact:
                return 1
            print("intact")
        elif args.command == "digest":
            made = create_digest(audit.chains, key, utcnow())
            print(f"digest {made} signed" if made else "nothing moved since the latest digest")
        else:
            days = args.days if args.days is not None else settings.audit_retention_days
            removed = prune(audit.chains, key, utcnow(), timedelta(days=days))
            print(f"{removed} entries older than {days} days removed")
    finally:
        audit.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
