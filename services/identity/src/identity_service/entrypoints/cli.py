"""The identity service's operator commands: ``python -m identity_service.entrypoints.cli
create-admin --email …`` (run by ``cloudctl admin create`` and ``cloudctl up``) and ``retention``
(run by ``cloudctl retention run``: one JSON line, the sign-in attempts deleted).

It works on the identity database named by ``CP_DATABASE_URL`` with the identity service's
own use cases — the same checks and outbox events as the gRPC API — rather than calling the
gRPC server: `cloudctl up` makes the first admin right after the migrations, before any
service process runs, and an operator can still make one when the identity process is down.

The answer is one JSON object on stdout (user_id, email, password, token): the password and
the token exist nowhere else in clear. Exit status 3: an admin exists already (and no
``--force``); 1: the use case refused (the reason on stderr); 2: a setting is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from cpshared.errors import DomainError
from cpshared.logging import configure_logging
from cpshared.retention import run_retention
from cpshared.settings import DatabaseSettings, load_settings
from identity_service import SERVICE_NAME
from identity_service.bootstrap import Identity, bootstrap
from identity_service.config import RetentionSettings
from identity_service.domain import commands
from identity_service.domain.model import ADMIN_SCOPES, UserRole, UserStatus
from identity_service.domain.secrets import new_password
from identity_service.entrypoints.retention_keeper import login_activity_retention
from identity_service.service_layer import api_keys, users

ADMIN_NAME = "Administrator"
KEY_NAME = "first admin (cloudctl)"
ADMIN_EXISTS = 3


def create_admin(identity: Identity, email: str, *, force: bool) -> dict[str, object] | None:
    """An active admin with a random password and an admin API key; None when an admin exists
    already and ``force`` is not given."""
    if not force and users.admin_exists(identity.uow()):
        return None
    password = new_password()
    user = users.create_user(
        commands.CreateUser(
            name=ADMIN_NAME, email=email, password=password, role=UserRole.ADMIN, status=UserStatus.ACTIVE
        ),
        identity.uow(),
    )
    _key, token = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name=KEY_NAME, scopes=ADMIN_SCOPES), identity.uow()
    )
    return {"user_id": user.id, "email": user.email, "password": password, "token": token}


class RetentionCliSettings(DatabaseSettings, RetentionSettings):
    """The database and the retention's days."""


def retention() -> int:
    """``retention``: delete the sign-in attempts older than the retention now (one JSON line)."""
    configure_logging(SERVICE_NAME)
    for handler in logging.getLogger().handlers:  # stdout carries the answer only
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    settings = load_settings(RetentionCliSettings)
    identity = bootstrap(settings.database_url, pool_size=1)
    try:
        removed = run_retention(identity.engine, login_activity_retention(identity, settings))
    finally:
        identity.close()
    if removed is None:
        print("retention failed: another process is running the retention of login_activity", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {"table": "login_activity", "rows_removed": removed, "kept_days": settings.login_activity_retention_days}
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="identity_service.entrypoints.cli", description=__doc__.split("\n\n")[0])
    commands_ = parser.add_subparsers(dest="command", required=True)
    admin = commands_.add_parser("create-admin", help="an admin with a random password and an admin API key")
    admin.add_argument("--email", required=True, help="the admin's email address")
    admin.add_argument("--force", action="store_true", help="create one even if an admin exists")
    commands_.add_parser("retention", help="delete the sign-in attempts older than the retention now")
    args = parser.parse_args(argv)
    if args.command == "retention":
        return retention()

    settings = load_settings(DatabaseSettings)
    identity = bootstrap(settings.database_url, pool_size=1)
    try:
        made = create_admin(identity, args.email, force=args.force)
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        identity.close()
    if made is None:
        print("an admin exists already: use --force to add another", file=sys.stderr)
        return ADMIN_EXISTS
    print(json.dumps(made))
    return 0


if __name__ == "__main__":
    sys.exit(main())
