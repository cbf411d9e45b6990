"""The identity use cases on the real MariaDB: accounts, API keys, settings, the outbox."""

from __future__ import annotations

from datetime import timedelta

import bcrypt
import pytest
import sqlalchemy as sa

from cpshared.clock import ManualClock, set_clock, utcnow
from cpshared.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed, Unauthenticated
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import ADMIN_SCOPES, User, UserRole, UserStatus
from identity_service.service_layer import api_keys, logins, settings, users
from tests.integration.identity.support import PASSWORD, event_types, make_user, outbox_events

SEED_SETTINGS = {
    "maintenance_mode": ("false", "boolean"),
    "signup_enabled": ("true", "boolean"),
    "default_server_limit": ("10", "integer"),
    "billing_cycle_day": ("1", "integer"),
    "support_email": ("support@cloudplatform.local", "string"),
}
LOCKOUT_SETTINGS = {"login_max_failures": ("5", "integer"), "login_lockout_minutes": ("15", "integer")}
# Volumes' total size has a default of its own (identity_0006): the shared default of 10 would be 10 GB.
QUOTA_SETTINGS = {"default_volume_gb_limit": ("10240", "integer")}
# Organization trials (identity_0010): none by default; their limits while one lasts.
TRIAL_SETTINGS = {
    "organization_trial_days": ("0", "integer"),
    "trial_server_limit": ("2", "integer"),
    "trial_volume_gb_limit": ("100", "integer"),
    "trial_floating_ip_limit": ("1", "integer"),
}
# Password reset tokens' lifetime (identity_0011).
RESET_SETTINGS = {"password_reset_minutes": ("30", "integer")}


def test_the_migrated_schema_has_the_seed_settings_the_lockout_policy_and_no_user(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        tables = set(conn.execute(sa.text("SHOW TABLES")).scalars())
        seeded_settings = {
            k: (v, t) for k, v, t in conn.execute(sa.text("SELECT `key`, `value`, `type` FROM system_settings"))
        }
        user_count = conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one()
    assert {
        "users",
        "organizations",
        "organization_users",
        "api_keys",
        "login_activity",
        "system_settings",
        "resource_quotas",
        "quota_reservations",
        "outbox",
        "password_resets",
    } <= tables
    assert seeded_settings == SEED_SETTINGS | LOCKOUT_SETTINGS | QUOTA_SETTINGS | TRIAL_SETTINGS | RESET_SETTINGS
    assert user_count == 0


def test_create_user_hashes_the_password_with_argon2id_and_records_user_created(
    identity: Identity, engine: sa.Engine
) -> None:
    user = make_user(identity, email="Ada@Example.com")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password FROM users WHERE id = :id"), {"id": user.id}).scalar_one()
    assert user.email == "ada@example.com" and user.password_hash is None
    assert stored.startswith("$argon2id$")
    [event] = outbox_events(engine)
    assert event.event_type == "user.created" and event.envelope.aggregate_id == str(user.id)
    assert event.topic == "identity.events"


def test_second_create_with_the_same_email_is_refused(identity: Identity) -> None:
    make_user(identity)
    with pytest.raises(AlreadyExists):
        make_user(identity, email="ADA@example.com")


def _login(identity: Identity, email: str, password: str) -> User:
    return logins.login(commands.Login(email=email, password=password, ip="127.0.0.1"), identity.uow())


def test_login_accepts_the_right_password_only(identity: Identity) -> None:
    user = make_user(identity)
    assert _login(identity, "ada@example.com", PASSWORD).id == user.id
    for email, password in (("ada@example.com", "wrong password"), ("nobody@example.com", PASSWORD)):
        with pytest.raises(Unauthenticated, match="email or the password is wrong"):
            _login(identity, email, password)


def test_a_legacy_bcrypt_password_verifies_once_and_is_rehashed_to_argon2id(
    identity: Identity, engine: sa.Engine
) -> None:
    user = make_user(identity)
    legacy = bcrypt.hashpw(b"laravel password", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET password = :p WHERE id = :id"), {"p": legacy, "id": user.id})

    _login(identity, "ada@example.com", "laravel password")

    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password FROM users WHERE id = :id"), {"id": user.id}).scalar_one()
    assert stored.startswith("$argon2id$")
    _login(identity, "ada@example.com", "laravel password")


def test_an_api_key_authenticates_until_revoked(identity: Identity, engine: sa.Engine) -> None:
    user = make_user(identity)
    key, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="ci", scopes=("servers:read",)), identity.uow()
    )
    assert secret.startswith("cpk_") and key.last_four == secret[-4:] and key.rate_limit == 1000

    found, owner = api_keys.authenticate_api_key(secret, identity.uow())
    assert (found.id, found.user_id, found.scopes, owner.role) == (key.id, user.id, ("servers:read",), UserRole.CLIENT)

    api_keys.revoke_api_key(key.id, identity.uow())
    again = api_keys.revoke_api_key(key.id, identity.uow())
    assert again.revoked_at is not None
    with pytest.raises(Unauthenticated, match="revoked"):
        api_keys.authenticate_api_key(secret, identity.uow())
    with pytest.raises(Unauthenticated, match="not valid"):
        api_keys.authenticate_api_key(secret + "x", identity.uow())
    assert event_types(engine) == ["user.created", "api_key.created", "api_key.revoked"]
    [listed] = api_keys.list_api_keys(user.id, identity.uow())
    assert listed.id == key.id and listed.revoked_at is not None


def test_an_api_key_stops_working_when_it_expires(identity: Identity) -> None:
    user = make_user(identity)
    clock = ManualClock(utcnow())
    previous = set_clock(clock)
    try:
        _key, secret = api_keys.create_api_key(
            commands.CreateApiKey(
                user_id=user.id, name="short", scopes=ADMIN_SCOPES, expires_at=clock.now() + timedelta(hours=1)
            ),
            identity.uow(),
        )
        api_keys.authenticate_api_key(secret, identity.uow())
        clock.advance(timedelta(hours=1, seconds=1))
        with pytest.raises(Unauthenticated, match="expired"):
            api_keys.authenticate_api_key(secret, identity.uow())
    finally:
        set_clock(previous)


def test_api_keys_are_refused_for_missing_or_suspended_users_and_past_expiry(identity: Identity) -> None:
    with pytest.raises(NotFound):
        api_keys.create_api_key(commands.CreateApiKey(user_id=999, name="k", scopes=("servers:read",)), identity.uow())
    suspended = users.create_user(
        commands.CreateUser("Sus", "sus@example.com", PASSWORD, UserRole.CLIENT, UserStatus.SUSPENDED), identity.uow()
    )
    with pytest.raises(PreconditionFailed):
        api_keys.create_api_key(
            commands.CreateApiKey(user_id=suspended.id, name="k", scopes=("servers:read",)), identity.uow()
        )
    user = make_user(identity)
    with pytest.raises(InvalidInput, match="future"):
        api_keys.create_api_key(
            commands.CreateApiKey(user_id=user.id, name="k", scopes=("servers:read",), expires_at=utcnow()),
            identity.uow(),
        )


def test_no_secret_or_password_is_stored_in_clear_in_any_column_of_any_table(
    identity: Identity, engine: sa.Engine
) -> None:
    user = make_user(identity)
    _key, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="ci", scopes=("servers:write",)), identity.uow()
    )
    _login(identity, "ada@example.com", PASSWORD)

    needles = [secret.encode(), secret.removeprefix("cpk_").encode(), PASSWORD.encode()]
    scanned = 0
    with engine.connect() as conn:
        for table in conn.execute(sa.text("SHOW TABLES")).scalars():
            for row in conn.execute(sa.text(f"SELECT * FROM `{table}`")):  # noqa: S608 - names from SHOW TABLES
                for value in row:
                    if value is None:
                        continue
                    data = value if isinstance(value, bytes) else str(value).encode()
                    scanned += 1
                    assert not any(n in data for n in needles), f"a secret is in clear in {table}"
    assert scanned > 50  # users, api_keys, outbox envelopes, settings were all looked at


def test_settings_are_typed_and_each_change_records_setting_changed(identity: Identity, engine: sa.Engine) -> None:
    limit = settings.get_setting("default_server_limit", identity.uow())
    assert limit.typed_value() == 10

    changed = settings.set_setting(commands.SetSetting("default_server_limit", 25), identity.uow())
    settings.set_setting(commands.SetSetting("default_server_limit", 25), identity.uow())  # no change, no event
    settings.set_setting(commands.SetSetting("signup_enabled", False), identity.uow())

    assert changed.typed_value() == 25 and changed.version == 2
    assert settings.get_setting("signup_enabled", identity.uow()).typed_value() is False
    for key, value in (("default_server_limit", "25"), ("signup_enabled", 1), ("maintenance_mode", "yes")):
        with pytest.raises(InvalidInput):
            settings.set_setting(commands.SetSetting(key, value), identity.uow())
    with pytest.raises(NotFound):
        settings.set_setting(commands.SetSetting("no_such_setting", "x"), identity.uow())
    events = outbox_events(engine)
    assert [e.event_type for e in events] == ["setting.changed", "setting.changed"]
    payload = events[0].payload
    assert (payload.key, payload.old_value, payload.new_value) == ("default_server_limit", "10", "25")  # type: ignore[attr-defined]
    assert events[0].envelope.aggregate_version == 2
