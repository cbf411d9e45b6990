"""The signed principal assertion: what verifies, what is refused and why."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cpshared.auth.principal import (
    PRINCIPAL_LIFETIME,
    ExpiredPrincipal,
    InvalidPrincipal,
    Principal,
    ServiceAssertion,
    TrustedKeys,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    service_principal,
    sign,
    user_principal,
    verify,
    write_key_pair,
)
from cpshared.clock import ManualClock, set_clock
from cpshared.errors import Unauthenticated

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KEY = generate_private_key()


def ada(now: datetime = NOW) -> Principal:
    return user_principal(
        user_id=7,
        role="client",
        organizations={3: "owner", 11: "billing"},
        api_key_id=42,
        scopes=("servers:read", "servers:write"),
        now=now,
    )


def test_a_signed_principal_verifies_to_the_same_principal() -> None:
    principal = ada()
    verified = verify(sign(principal, KEY), KEY.public_key(), NOW + timedelta(minutes=1))
    assert verified == principal
    assert (verified.kind, verified.user_id, verified.role, verified.api_key_id) == ("user", 7, "client", 42)
    assert dict(verified.organizations) == {3: "owner", 11: "billing"}
    assert verified.scopes == ("servers:read", "servers:write")
    assert verified.role_in(3) == "owner" and verified.role_in(4) is None
    assert verified.expires_at - verified.issued_at == PRINCIPAL_LIFETIME


def test_a_principal_is_refused_once_its_lifetime_is_over_as_the_clock_moves() -> None:
    clock = ManualClock(NOW)
    previous = set_clock(clock)
    try:
        token = sign(user_principal(user_id=7, role="admin", organizations={}), KEY)
        clock.advance(PRINCIPAL_LIFETIME - timedelta(seconds=1))
        assert verify(token, KEY.public_key()).role == "admin"
        clock.advance(timedelta(seconds=1))
        with pytest.raises(ExpiredPrincipal, match="expired"):
            verify(token, KEY.public_key())
    finally:
        set_clock(previous)


def test_a_principal_issued_far_in_the_future_is_refused() -> None:
    token = sign(ada(NOW + timedelta(hours=1)), KEY)
    with pytest.raises(InvalidPrincipal, match="lifetime"):
        verify(token, KEY.public_key(), NOW)


def test_a_principal_signed_by_another_key_is_refused() -> None:
    token = sign(ada(), generate_private_key())
    with pytest.raises(InvalidPrincipal, match="signature"):
        verify(token, KEY.public_key(), NOW)


def test_a_tampered_payload_is_refused() -> None:
    version, payload, signature = sign(ada(), KEY).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["r"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidPrincipal, match="signature"):
        verify(f"{version}.{forged}.{signature}", KEY.public_key(), NOW)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "cp1.x", "cp2.e30.AAAA", "cp1.!!!.AAAA", "cp1.e30.AAAA", "cp1.W10.AAAA", "a.b.c.d"],
)
def test_a_malformed_assertion_is_refused_as_unauthenticated(token: str) -> None:
    with pytest.raises(InvalidPrincipal, match="malformed") as caught:
        verify(token, KEY.public_key(), NOW)
    assert isinstance(caught.value, Unauthenticated) and caught.value.code == "unauthorized"


def test_a_service_key_speaks_only_for_its_own_service_never_for_a_user() -> None:
    billing_key = generate_private_key()
    trusted = TrustedKeys(issuer=KEY.public_key(), services={"billing": billing_key.public_key()})
    billing = service_principal("billing", now=NOW)
    assert verify(sign(billing, billing_key), trusted, NOW).service == "billing"
    with pytest.raises(InvalidPrincipal, match="signature"):
        verify(sign(ada(), billing_key), trusted, NOW)
    with pytest.raises(InvalidPrincipal, match="no key is trusted"):
        verify(sign(service_principal("compute", now=NOW), billing_key), trusted, NOW)
    assert verify(sign(ada(), KEY), trusted, NOW).user_id == 7


def test_keys_load_from_pem_text_and_from_files(tmp_path: Path) -> None:
    private_file, public_file = write_key_pair(tmp_path / "secrets", "principal")
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600
    private = load_private_key(private_file)
    assert public_key_pem(load_public_key(public_file)) == public_key_pem(private)
    assert public_key_pem(load_private_key(private_key_pem(private))) == public_key_pem(private)
    assert public_key_pem(load_public_key(public_key_pem(private))) == public_file.read_text()
    token = sign(ada(), private)
    assert verify(token, load_public_key(str(public_file)), NOW).user_id == 7


def test_a_key_pair_is_made_once_and_kept(tmp_path: Path) -> None:
    first = write_key_pair(tmp_path, "principal")
    pem = first[0].read_text()
    assert write_key_pair(tmp_path, "principal") == first and first[0].read_text() == pem


def test_a_public_key_is_not_taken_for_a_private_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_private_key(public_key_pem(KEY))


def test_a_service_assertion_is_reused_and_renewed_before_it_expires() -> None:
    clock = ManualClock(NOW)
    previous = set_clock(clock)
    try:
        assertion = ServiceAssertion("billing", KEY)
        first = assertion.token()
        clock.advance(timedelta(minutes=2))
        assert assertion.token() == first
        clock.advance(PRINCIPAL_LIFETIME - ServiceAssertion.RENEW_BEFORE)
        renewed = assertion.token()
        assert renewed != first
        assert verify(renewed, KEY.public_key()).service == "billing"
    finally:
        set_clock(previous)
