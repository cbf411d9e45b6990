"""`cloudctl audit verify|digest|prune`: check the audit log's chains, sign their heads, prune.

Each runs the audit service's own operator command (``python -m audit_service.entrypoints.cli``)
on the audit database of the local stack with the audit service's own credentials and its
HMAC key (.local/secrets/audit-signing.key), or on any audit database given with
``--database-url`` and ``--key-file``. ``verify`` exits 1 and names every row it finds
altered, deleted or inserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from cloudctl.paths import LocalPaths
from cloudctl.stack import Secrets, audit_signing_key_file, database_url

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

AUDIT_CLI = "audit_service.entrypoints.cli"

DatabaseUrl = Annotated[str | None, typer.Option(help="The audit database (default: the local stack's).")]
KeyFile = Annotated[Path | None, typer.Option(help="The audit HMAC key, base64 (default: the local stack's).")]


def run_audit_command(args: list[str], url: str | None, key_file: Path | None) -> int:
    """Run one of the audit service's operator commands; its output goes straight through.

    The database URL (with its password) travels in the environment, never on a command line
    that every user of the machine can read."""
    paths = LocalPaths()
    env = os.environ | {
        "CP_DATABASE_URL": url or database_url("audit", Secrets(paths).database_passwords()["audit"]),
        "CP_AUDIT_SIGNING_KEY_FILE": str(key_file or audit_signing_key_file(paths)),
    }
    return subprocess.run([sys.executable, "-m", AUDIT_CLI, *args], env=env, check=False).returncode


def _exit(code: int) -> None:
    if code:
        raise typer.Exit(code)


@app.command("verify")
def verify_command(database_url: DatabaseUrl = None, key_file: KeyFile = None) -> None:
    """Recompute every chain and check the latest signed digest; name every row that was tampered with."""
    _exit(run_audit_command(["verify"], database_url, key_file))


@app.command("digest")
def digest_command(database_url: DatabaseUrl = None, key_file: KeyFile = None) -> None:
    """Sign every chain's head now (the audit service does it at intervals)."""
    _exit(run_audit_command(["digest"], database_url, key_file))


@app.command("prune")
def prune_command(
    days: Annotated[int, typer.Option(min=1, help="Keep entries this many days.")] = 400,
    database_url: DatabaseUrl = None,
    key_file: KeyFile = None,
) -> None:
    """Delete entries older than the retention, leaving signed anchors so the rest still verifies."""
    _exit(run_audit_command(["prune", "--days", str(days)], database_url, key_file))
