"""`cloudctl admin create`: the first admin, with a random password and an admin API key.

It goes straight to the identity database with the identity service's own credentials and
runs the identity service's handlers — the same code, checks and outbox events as the gRPC
API — rather than calling the gRPC server: `cloudctl up` makes the first admin right after
the migrations, before any service process runs, and an operator can still make one when
the identity process is down. The password and the token are printed once and never
stored in clear: the token goes to .local/admin-token (mode 600) for local tooling.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from cloudctl.paths import LocalPaths
from cloudctl.stack import Secrets, database_url
from cpshared.errors import DomainError
from identity_service.bootstrap import Identity, bootstrap
from identity_service.domain import commands
from identity_service.domain.model import ADMIN_SCOPES, UserRole, UserStatus
from identity_service.domain.secrets import new_password
from identity_service.service_layer import handlers

DEFAULT_EMAIL = "admin@cloudplatform.local"
ADMIN_NAME = "Administrator"
KEY_NAME = "first admin (cloudctl)"

app = typer.Typer(help="The platform's administrators.", no_args_is_help=True)


class AdminExists(RuntimeError):
    pass


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


def create_admin(identity: Identity, email: str, token_path: Path, *, force: bool = False) -> AdminCredentials:
    """An active admin user with a random password and an admin API key, its token in ``token_path``."""
    if not force and handlers.admin_exists(identity.uow()):
        raise AdminExists("an admin exists already: use --force to add another")
    password = new_password()
    user = handlers.create_user(
        commands.CreateUser(
            name=ADMIN_NAME, email=email, password=password, role=UserRole.ADMIN, status=UserStatus.ACTIVE
        ),
        identity.uow(),
    )
    _key, token = handlers.create_api_key(
        commands.CreateApiKey(user_id=user.id, name=KEY_NAME, scopes=ADMIN_SCOPES), identity.uow()
    )
    write_token(token_path, token)
    return AdminCredentials(user_id=user.id, email=user.email, password=password, token=token, token_file=token_path)


def announce(credentials: AdminCredentials, say: Callable[[str], None]) -> None:
    say(f"first admin [bold]{credentials.email}[/bold] (user {credentials.user_id}) created")
    say(f"  password:  {credentials.password}")
    say(f"  API token: {credentials.token}")
    say(f"  the token is in {credentials.token_file} (mode 600); neither is shown again")


def identity_from_stack(paths: LocalPaths) -> Identity:
    password = Secrets(paths).database_passwords()["identity"]
    return bootstrap(database_url("identity", password), pool_size=1)


def ensure_first_admin(paths: LocalPaths, say: Callable[[str], None] | None = None) -> Path | None:
    """For `cloudctl up`, after the migrations: make the first admin when there is none.

    Returns where the token was written, or None when an admin existed already.
    """
    identity = identity_from_stack(paths)
    try:
        try:
            credentials = create_admin(identity, DEFAULT_EMAIL, token_file(paths))
        except AdminExists:
            return None
    finally:
        identity.close()
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
    identity = identity_from_stack(paths)
    try:
        credentials = create_admin(identity, email, token_file(paths), force=force)
    except AdminExists as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(1) from None
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        identity.close()
    announce(credentials, console.print)
