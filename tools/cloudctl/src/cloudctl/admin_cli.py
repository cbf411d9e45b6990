"""`cloudctl admin create`: the first admin, with a random password and an admin API key.

It runs the identity service's own operator command (``python -m
identity_service.entrypoints.cli create-admin``) on the identity database with the identity
service's own credentials — the same use cases, checks and outbox events as the gRPC API —
rather than calling the gRPC server: `cloudctl up` makes the first admin right after the
migrations, before any service process runs, and an operator can still make one when the
identity process is down. The password and the token are printed once and never stored in
clear: the token goes to .local/admin-token (mode 600) for local tooling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from cloudctl.paths import LocalPaths
from cloudctl.stack import Secrets, database_url

DEFAULT_EMAIL = "admin@cloudplatform.local"
IDENTITY_CLI = "identity_service.entrypoints.cli"
ADMIN_EXISTS = 3
"""The identity command's exit status when an admin exists already."""

app = typer.Typer(help="The platform's administrators.", no_args_is_help=True)


class AdminExists(RuntimeError):
    pass


class AdminRefused(RuntimeError):
    """The identity service refused to create the admin; the message says why."""


@dataclass(frozen=True)
class AdminCredentials:
    user_id: int
    email: str
    password: str
    token: str
    token_file: Path


def token_file(paths: LocalPaths) -> Path:
    return paths.local / "admin-token"


def write_token(path: Path, token: str) -> None:
    """Write ``token`` readable by its owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    tmp.replace(path)


def create_admin(identity_url: str, email: str, token_path: Path, *, force: bool = False) -> AdminCredentials:
    """An active admin user with a random password and an admin API key, its token in ``token_path``.

    The identity database's URL (with its password) travels in the environment, never on a
    command line that every user of the machine can read."""
    command = [sys.executable, "-m", IDENTITY_CLI, "create-admin", "--email", email, *(["--force"] if force else [])]
    env = os.environ | {"CP_DATABASE_URL": identity_url}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode == ADMIN_EXISTS:
        raise AdminExists(done.stderr.strip())
    if done.returncode != 0:
        raise AdminRefused(done.stderr.strip() or f"{IDENTITY_CLI} exited with {done.returncode}")
    made = json.loads(done.stdout)
    write_token(token_path, str(made["token"]))
    return AdminCredentials(
        user_id=int(made["user_id"]),
        email=str(made["email"]),
        password=str(made["password"]),
        token=str(made["token"]),
        token_file=token_path,
    )


def announce(credentials: AdminCredentials, say: Callable[[str], None]) -> None:
    say(f"first admin [bold]{credentials.email}[/bold] (user {credentials.user_id}) created")
    say(f"  password:  {credentials.password}")
    say(f"  API token: {credentials.token}")
    say(f"  the token is in {credentials.token_file} (mode 600); neither is shown again")


def identity_url_of_stack(paths: LocalPaths) -> str:
    return database_url("identity", Secrets(paths).database_passwords()["identity"])


def ensure_first_admin(paths: LocalPaths, say: Callable[[str], None] | None = None) -> Path | None:
    """For `cloudctl up`, after the migrations: make the first admin when there is none.

    Returns where the token was written, or None when an admin existed already.
    """
    try:
        credentials = create_admin(identity_url_of_stack(paths), DEFAULT_EMAIL, token_file(paths))
    except AdminExists:
        return None
    if say is None:
        from rich.console import Console

        say = Console().print
    announce(credentials, say)
    return credentials.token_file


@app.command()
def create(
    email: Annotated[str, typer.Option(help="The admin's email address.")] = DEFAULT_EMAIL,
    force: Annotated[bool, typer.Option("--force", help="Create one even if an admin exists.")] = False,
) -> None:
    """Create an admin with a random password and an admin API token (printed once)."""
    from rich.console import Console

    console = Console()
    paths = LocalPaths()
    try:
        credentials = create_admin(identity_url_of_stack(paths), email, token_file(paths), force=force)
    except AdminExists as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(1) from None
    except AdminRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    announce(credentials, console.print)
