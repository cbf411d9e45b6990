"""The session token formats: the signed access token and the refresh token with its MAC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from cpshared.auth.principal import _b64, generate_private_key, sign, user_principal
from cpshared.auth.session_token import (
    ACCESS_TOKEN_LIFETIME,
    InvalidSessionToken,
    is_access_token,
    new_access_claims,
    new_refresh_token,
    peek_access_token,
    refresh_mac_key,
    refresh_token_session,
    sign_access_token,
    token_digest,
    verify_access_token,
)

KEY = generate_private_key()
NOW = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)


def access_token(now: datetime = NOW) -> str:
    claims = new_access_claims(7, 42, now=now, session_expires_at=now + timedelta(days=30))
    return sign_access_token(claims, KEY)


def test_an_access_token_names_its_session_and_user_and_lives_fifteen_minutes() -> None:
    token = access_token()
    assert is_access_token(token) and token.count(".") == 2 and token.startswith("cps1.")
    claims = verify_access_token(token, KEY.public_key(), NOW)
    assert (claims.session_id, claims.user_id) == (7, 42)
    assert claims.issued_at == NOW.replace(microsecond=0)
    assert claims.expires_at - claims.issued_at == ACCESS_TOKEN_LIFETIME
    assert peek_access_token(token) == claims


def test_an_access_token_never_outlives_its_session() -> None:
    claims = new_access_claims(7, 42, now=NOW, session_expires_at=NOW + timedelta(minutes=3))
    assert claims.expires_at == (NOW + timedelta(minutes=3)).replace(microsecond=0)


def test_an_expired_access_token_is_refused() -> None:
    with pytest.raises(InvalidSessionToken, match="expired"):
        verify_access_token(access_token(), KEY.public_key(), NOW + ACCESS_TOKEN_LIFETIME)


def _other_user(token: str) -> str:
    version, _, signature = token.split(".")
    forged = _b64(b'{"exp":9999999999,"iat":1772366400,"sid":7,"uid":43}')
    return f"{version}.{forged}.{signature}"


MANGLED: list[Callable[[str], str]] = [
    _other_user,
    lambda t: t.replace("cps1.", "cp1."),
    lambda t: "cps1.e30.AA",
    lambda t: t + ".more",
]


@pytest.mark.parametrize("mangle", MANGLED)
def test_a_tampered_or_malformed_access_token_is_refused(mangle: Callable[[str], str]) -> None:
    with pytest.raises(InvalidSessionToken):
        verify_access_token(mangle(access_token()), KEY.public_key(), NOW)


def test_a_token_signed_by_another_key_is_refused() -> None:
    other = sign_access_token(
        new_access_claims(7, 42, now=NOW, session_expires_at=NOW + timedelta(days=1)), generate_private_key()
    )
    with pytest.raises(InvalidSessionToken, match="signature"):
        verify_access_token(other, KEY.public_key(), NOW)


def test_a_principal_assertion_does_not_pass_for_an_access_token() -> None:
    principal = sign(user_principal(user_id=42, role="client", organizations={}, now=NOW), KEY)
    assert not is_access_token(principal)
    with pytest.raises(InvalidSessionToken):
        verify_access_token(principal, KEY.public_key(), NOW)


def test_a_refresh_token_is_recognised_only_with_the_key_that_made_it() -> None:
    mac_key = refresh_mac_key(KEY)
    first, second = new_refresh_token(7, mac_key), new_refresh_token(7, mac_key)
    assert first.startswith("cpr_") and first != second and token_digest(first) != token_digest(second)
    assert refresh_token_session(first, mac_key) == 7
    assert refresh_token_session(first, refresh_mac_key(generate_private_key())) is None
    forged = "cpr_" + first[4:-3] + ("AAA" if not first.endswith("AAA") else "BBB")
    assert refresh_token_session(forged, mac_key) is None
    assert refresh_token_session("cpr_short", mac_key) is None
    assert refresh_token_session("cpk_" + first[4:], mac_key) is None
    assert len(token_digest(first)) == 64
