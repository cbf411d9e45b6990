"""`cloudctl audit verify|digest|prune`: check the audit log's chains, sign their heads, prune.

They work on the audit database of the local stack with the audit service's own credentials
and its HMAC key (.local/secrets/audit-signing.key), or on any audit database given with
``--database-url`` and ``--key-file``. ``verify`` exits 1 and names every row it finds
altered, deleted or inserted.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from audit_service.integrity import create_digest, prune, verify
from cloudctl.paths import LocalPaths
from cloudctl.stack import Secrets, audit_signing_key_file, database_url
from cpshared.db import make_engine

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
console = Console()

DatabaseUrl = Annotated[str | None, typer.Option(help="The audit database (default: the local stack's).")]
KeyFile = Annotated[Path | None, typer.Option(help="The audit HMAC key, base64 (default: the local stack's).")]


def _target(url: str | None, key_file: Path | None) -> tuple[str, bytes]:
    paths = LocalPaths()
    url = url or database_url("audit", Secrets(paths).database_passwords()["audit"])
    key_path = key_file or Path(audit_signing_key_file(paths))
    return url, base64.b64decode(key_path.read_text().strip(), validate=True)


@app.command("verify")
def verify_command(database_url: DatabaseUrl = None, key_file: KeyFile = None) -> None:
    """Recompute every chain and check the latest signed digest; name every row that was tampered with."""
    url, key = _target(database_url, key_file)
    engine = make_engine(url, pool_size=1)
    try:
        report = verify(engine, key)
    finally:
        engine.dispose()
    digest = f"digest {report.digest_id}" if report.digest_id else "no digest yet"
    console.print(f"{report.rows} rows in {report.chains} chains, checked against {digest}")
    for finding in report.findings:
        console.print(f"[red]{finding}[/red]", highlight=False)
    if not report.intact:
        raise typer.Exit(1)
    console.print("[green]intact[/green]")


@app.command("digest")
def digest_command(database_url: DatabaseUrl = None, key_file: KeyFile = None) -> None:
    """Sign every chain's head now (the audit service does it at intervals)."""
    url, key = _target(database_url, key_file)
    engine = make_engine(url, pool_size=1)
    try:
        made = create_digest(engine, key, datetime.now(UTC))
    finally:
        engine.dispose()
    console.print(f"digest {made} signed" if made else "nothing moved since the latest digest")


@app.command("prune")
def prune_command(
    days: Annotated[int, typer.Option(min=1, help="Keep entries this many days.")] = 400,
    database_url: DatabaseUrl = None,
    key_file: KeyFile = None,
) -> None:
    """Delete entries older than the retention, leaving signed anchors so the rest still verifies."""
    url, key = _target(database_url, key_file)
    engine = make_engine(url, pool_size=1)
    try:
        removed = prune(engine, key, datetime.now(UTC), timedelta(days=days))
    finally:
        engine.dispose()
    console.print(f"{removed} entries older than {days} days removed")
