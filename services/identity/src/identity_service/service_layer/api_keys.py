"""API keys: creation (the only time the secret exists outside the caller), authentication,
the principal a key speaks for, revocation and listing."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import timedelta

from cpshared.auth.principal import Principal, user_principal
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed, Unauthenticated
from identity_service.domain import commands
from identity_service.domain.model import (
    MAX_RATE_LIMIT,
    ApiKey,
    User,
    UserStatus,
    check_name,
    check_rate_limit,
    check_scopes,
)
from identity_service.domain.secrets import api_key_digest, new_api_key_secret
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


def create_api_key(cmd: commands.CreateApiKey, uow: IdentityUnitOfWork) -> tuple[ApiKey, str]:
    """The new key and its secret: the only time the secret exists outside the caller."""
    name, scopes, rate_limit = (
        check_name(cmd.name, "the key's name"),
        check_scopes(cmd.scopes),
        check_rate_limit(cmd.rate_limit),
    )
    now = utcnow()
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise InvalidInput("expires_at must be in the future (leave it unset for a key that never expires)")
    new = new_api_key_secret()
    with uow:
        user = uow.users.get(cmd.user_id)
        if user is None:
            raise NotFound(f"user {cmd.user_id} does not exist")
        if user.status in (UserStatus.SUSPENDED, UserStatus.BANNED):
            raise PreconditionFailed(f"user {cmd.user_id} is {user.status.value}: a key for them would not work")
        if cmd.organization_id is not None and not uow.organizations.exists(cmd.organization_id):
            raise NotFound(f"organization {cmd.organization_id} does not exist")
        key = uow.api_keys.add(
            user_id=user.id,
            organization_id=cmd.organization_id,
            name=name,
            key_hash=new.digest,
            last_four=new.last_four,
            scopes=scopes,
            rate_limit=rate_limit,
            expires_at=cmd.expires_at,
            now=now,
        )
        key.created()
        uow.commit()
    return key, new.secret


MAX_ROTATION_GRACE = timedelta(days=7)


def update_api_key(cmd: commands.UpdateApiKey, uow: IdentityUnitOfWork) -> ApiKey:
    """Rename a live key or change its scopes or rate limit; what is not given stays."""
    name = check_name(cmd.name, "the key's name") if cmd.name is not None else None
    scopes = check_scopes(cmd.scopes) if cmd.scopes is not None else None
    if cmd.rate_limit is not None and not 1 <= cmd.rate_limit <= MAX_RATE_LIMIT:
        raise InvalidInput(f"rate_limit must be 1 to {MAX_RATE_LIMIT} requests per hour")
    with uow:
        key = _live_key(uow, cmd.api_key_id, cmd.owner_id)
        if key.update(name=name, scopes=scopes, rate_limit=cmd.rate_limit):
            uow.api_keys.save(key)
            uow.commit()
    return key


def rotate_api_key(cmd: commands.RotateApiKey, uow: IdentityUnitOfWork) -> tuple[ApiKey, str, ApiKey]:
    """(successor, its secret, the old key as it is now): the successor has the old key's name,
    scopes, rate limit, organization and expiry; the old key works for the grace period more."""
    if not 0 <= cmd.grace_period_seconds <= MAX_ROTATION_GRACE.total_seconds():
        longest = int(MAX_ROTATION_GRACE.total_seconds())
        raise InvalidInput(f"grace_period_seconds must be 0 (the old secret stops at once) to {longest} (seven days)")
    now = utcnow()
    new = new_api_key_secret()
    with uow:
        old = _live_key(uow, cmd.api_key_id, cmd.owner_id)
        successor = uow.api_keys.add(
            user_id=old.user_id,
            organization_id=old.organization_id,
            name=old.name,
            key_hash=new.digest,
            last_four=new.last_four,
            scopes=old.scopes,
            rate_limit=old.rate_limit,
            expires_at=old.expires_at,
            now=now,
        )
        successor.created()
        old.retire(successor.id, timedelta(seconds=cmd.grace_period_seconds), now)
        uow.api_keys.save(old)
        uow.commit()
    return successor, new.secret, old


def _live_key(uow: IdentityUnitOfWork, api_key_id: int, owner_id: int | None) -> ApiKey:
    """A key that works now, locked for the change; another user's, a revoked or an expired one
    answers as missing (a revoked key is gone from the API)."""
    key = uow.api_keys.get(api_key_id, for_update=True)
    if key is None or (owner_id is not None and key.user_id != owner_id) or key.revoked_at is not None:
        raise NotFound(f"API key {api_key_id} does not exist")
    if key.refusal(utcnow()) is not None:
        raise PreconditionFailed(f"API key {api_key_id} has expired: create a new one")
    return key


def authenticate_api_key(secret: str, uow: IdentityUnitOfWork) -> tuple[ApiKey, User]:
    with uow:
        key = uow.api_keys.by_hash(api_key_digest(secret)) if secret else None
        if key is None:
            raise Unauthenticated("the API key is not valid: check the Bearer token")
        refusal = key.refusal(utcnow())
        if refusal is not None:
            raise Unauthenticated(f"{refusal}: create a new one")
        user = uow.users.get(key.user_id)
        if user is None or user.status is not UserStatus.ACTIVE:
            raise Unauthenticated("the API key's account is not active")
    return key, replace(user, password_hash=None)


API_KEY_USE_RECORDED_EVERY = timedelta(seconds=60)
"""How stale a key's last_used_at may get: it is written at most once in this time."""


def _client_ip(ip: str) -> str | None:
    """The address as stored, or None when absent or not an address (it never fails a request)."""
    try:
        return str(ipaddress.ip_address(ip.strip())) if ip.strip() else None
    except ValueError:
        return None


def principal_for_api_key(secret: str, uow: IdentityUnitOfWork, client_ip: str = "") -> Principal:
    """Whom an API key speaks for, as the principal identity signs for the other services.

    A key bound to an organization acts only within it: its principal names that one
    organization (while its user is still a member), not every organization of the user.

    The key's last use (time and ``client_ip``) is written only when the stored one is older
    than API_KEY_USE_RECORDED_EVERY, by one conditional UPDATE: a busy key costs a write a
    minute rather than one per exchange.
    """
    key, user = authenticate_api_key(secret, uow)
    now = utcnow()
    with uow:
        memberships = uow.organizations.of_user(user.id)
        if key.last_used_at is None or key.last_used_at < now - API_KEY_USE_RECORDED_EVERY:
            uow.api_keys.note_use(key.id, _client_ip(client_ip), now, API_KEY_USE_RECORDED_EVERY)
            uow.commit()
    organizations = {m.organization_id: m.role.value for _, m in memberships}
    if key.organization_id is not None:
        organizations = {k: v for k, v in organizations.items() if k == key.organization_id}
    return user_principal(
        user_id=user.id,
        role=user.role.value,
        organizations=organizations,
        api_key_id=key.id,
        scopes=key.scopes,
        now=now,
    )


def revoke_api_key(api_key_id: int, uow: IdentityUnitOfWork, *, owner_id: int | None = None) -> ApiKey:
    """Revoke a key; with ``owner_id``, only a key of that user (another's answers as missing)."""
    with uow:
        key = uow.api_keys.get(api_key_id, for_update=True)
        if key is None or (owner_id is not None and key.user_id != owner_id):
            raise NotFound(f"API key {api_key_id} does not exist")
        if not key.revoke(utcnow()):
            return key
        uow.api_keys.save(key)
        uow.commit()
    return key


def list_api_keys(user_id: int, uow: IdentityUnitOfWork) -> list[ApiKey]:
    with uow:
        return uow.api_keys.of_user(user_id)
