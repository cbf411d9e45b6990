"""Accounts: creating a user (by an admin, a service, or inside a sign-up's unit of work) and
whether an admin exists yet."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists
from identity_service.domain import commands
from identity_service.domain.model import User, check_name, normalise_email
from identity_service.domain.passwords import check_new_password
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


def create_user(cmd: commands.CreateUser, uow: IdentityUnitOfWork) -> User:
    with uow:
        user = add_user(cmd, uow)
        uow.commit()
    return user


def add_user(cmd: commands.CreateUser, uow: IdentityUnitOfWork) -> User:
    """Create the account inside the caller's open unit of work; the caller commits it, with
    whatever else belongs to the same change (a sign-up's verification row)."""
    name, email = check_name(cmd.name), normalise_email(cmd.email)
    check_new_password(cmd.password, email=email, name=name)
    password_hash = uow.passwords.hash(cmd.password)
    now = utcnow()
    if uow.users.by_email(email) is not None:
        raise AlreadyExists(f"an account with email {email} exists already: sign in or use another email")
    try:
        user = uow.users.add(name, email, password_hash, cmd.role, cmd.status, now)
    except IntegrityError:  # the same email committed by a concurrent sign-up
        raise AlreadyExists(f"an account with email {email} exists already") from None
    user.created()
    return user


def admin_exists(uow: IdentityUnitOfWork) -> bool:
    with uow:
        return uow.users.admin_exists()
