"""The identity domain's rules, without a database."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest
from argon2 import PasswordHasher

from cpshared.errors import InvalidInput, LimitExceeded
from identity_service.domain import passwords
from identity_service.domain.model import (
    ApiKey,
    Quota,
    QuotaOwner,
    SettingType,
    check_rate_limit,
    check_scopes,
    normalise_email,
    parse_setting,
    setting_text,
)
from identity_service.domain.secrets import API_KEY_PREFIX, api_key_digest, new_api_key_secret

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def legacy_bcrypt_hash(password: str) -> str:
    """A hash as the seed's Laravel app wrote it: bcrypt with PHP's $2y$ prefix."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)


def test_new_password_hashes_are_argon2id_and_verify() -> None:
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse battery") == passwords.Verdict(ok=True)
    assert not passwords.verify_password(stored, "wrong horse battery").ok


def test_a_legacy_bcrypt_2y_hash_verifies_and_comes_with_an_argon2id_replacement() -> None:
    verdict = passwords.verify_password(legacy_bcrypt_hash("old laravel pw"), "old laravel pw")
    assert verdict.ok and verdict.new_hash is not None and verdict.new_hash.startswith("$argon2id$")
    assert passwords.verify_password(verdict.new_hash, "old laravel pw").ok


def test_a_wrong_password_against_a_legacy_hash_fails_without_replacement() -> None:
    assert passwords.verify_password(legacy_bcrypt_hash("old laravel pw"), "guess") == passwords.Verdict(ok=False)


def test_an_argon2id_hash_with_weaker_parameters_is_replaced_on_success() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("a fine password")
    verdict = passwords.verify_password(weak, "a fine password")
    assert verdict.ok and verdict.new_hash is not None and verdict.new_hash != weak


def test_an_account_without_a_password_never_verifies() -> None:
    assert not passwords.verify_password(None, "").ok
    assert not passwords.verify_password("not a hash", "x").ok


def test_an_api_key_secret_is_prefixed_high_entropy_and_stored_only_as_its_sha256() -> None:
    first, second = new_api_key_secret(), new_api_key_secret()
    assert first.secret.startswith(API_KEY_PREFIX) and len(first.secret) >= len(API_KEY_PREFIX) + 43
    assert first.secret != second.secret
    assert first.digest == hashlib.sha256(first.secret.encode()).hexdigest() == api_key_digest(first.secret)
    assert first.last_four == first.secret[-4:]
    assert first.secret not in first.digest


def test_an_api_key_is_refused_once_revoked_or_expired() -> None:
    key = ApiKey(1, 2, None, "k", "abcd", ("servers:read",), 1000, NOW + timedelta(hours=1), NOW)
    assert key.refusal(NOW) is None
    assert key.refusal(NOW + timedelta(hours=1)) == "the API key has expired"
    assert ApiKey(1, 2, None, "k", "abcd", (), 1000, None, NOW, revoked_at=NOW).refusal(NOW) == (
        "the API key was revoked"
    )


def test_scopes_are_resource_family_and_access() -> None:
    assert check_scopes(["servers:read", "servers:write", "servers:read"]) == ("servers:read", "servers:write")
    assert check_scopes(["*:read"]) == ("*:read",)
    for bad in ([], ["servers"], ["servers:delete"], ["Servers:read"]):
        with pytest.raises(InvalidInput):
            check_scopes(bad)


def test_rate_limit_zero_means_the_default_of_1000() -> None:
    assert check_rate_limit(0) == 1000
    assert check_rate_limit(50) == 50
    with pytest.raises(InvalidInput):
        check_rate_limit(-1)


def test_emails_are_normalised_and_checked() -> None:
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"
    with pytest.raises(InvalidInput):
        normalise_email("not-an-email")


def test_a_quota_refuses_a_reservation_beyond_its_limit_and_never_goes_below_zero() -> None:
    quota = Quota(1, QuotaOwner(user_id=7), "server", quota_limit=2, current_usage=1, version=3)
    reservation = quota.reserve("k1", 1, NOW)
    assert (quota.current_usage, quota.version) == (2, 4)
    with pytest.raises(LimitExceeded):
        quota.reserve("k2", 1, NOW)
    quota.release(replace(reservation, amount=5), NOW)
    assert quota.current_usage == 0


def test_a_quota_belongs_to_exactly_one_owner() -> None:
    with pytest.raises(InvalidInput):
        QuotaOwner()
    with pytest.raises(InvalidInput):
        QuotaOwner(user_id=1, organization_id=2)
    with pytest.raises(InvalidInput):
        QuotaOwner(user_id=0)


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        (SettingType.STRING, "help@example.com", "help@example.com"),
        (SettingType.INTEGER, 12, "12"),
        (SettingType.BOOLEAN, False, "false"),
        (SettingType.JSON, '{"a": [1, 2]}', '{"a": [1, 2]}'),
    ],
)
def test_a_setting_value_of_its_type_is_stored_as_canonical_text(kind: SettingType, value: object, stored: str) -> None:
    assert setting_text(kind, value) == stored
    assert parse_setting(kind, stored) == (value if kind is not SettingType.JSON else {"a": [1, 2]})


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (SettingType.INTEGER, "12"),
        (SettingType.INTEGER, True),
        (SettingType.BOOLEAN, 1),
        (SettingType.BOOLEAN, "true"),
        (SettingType.STRING, 5),
        (SettingType.JSON, "{not json"),
    ],
)
def test_a_setting_value_of_another_type_is_refused(kind: SettingType, value: object) -> None:
    with pytest.raises(InvalidInput):
        setting_text(kind, value)


def test_the_domain_imports_no_database_grpc_or_kafka() -> None:
    import identity_service.domain as domain

    assert domain.__file__ is not None
    forbidden = {"sqlalchemy", "grpc", "aiokafka", "pymysql", "faust"}
    for module in Path(domain.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text())
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {n.split(".")[0] for n in names} & forbidden, module.name
