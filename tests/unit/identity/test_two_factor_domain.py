"""Two-factor rules without I/O: the secret box, TOTP codes and their time steps, recovery codes."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from cloudctl.paths import LocalPaths
from cloudctl.stack import process_specs
from identity_service.domain.two_factor import (
    RECOVERY_ALPHABET,
    RECOVERY_CODE_COUNT,
    SealedSecretError,
    SecretBox,
    TwoFactor,
    matching_step,
    new_data_key_text,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    recovery_code_digest,
)

NOW = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def code_at(when: datetime, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(when)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(os.urandom(32))


def test_a_sealed_secret_opens_for_its_user_and_never_shows_the_secret(box: SecretBox) -> None:
    sealed = box.seal(SECRET, 42)
    assert sealed.startswith("v1:") and SECRET not in sealed and len(sealed.split(":")) == 3
    assert box.open(sealed, 42) == SECRET
    assert box.seal(SECRET, 42) != sealed  # a fresh nonce every time


def test_a_sealed_secret_does_not_open_for_another_user_or_with_another_key(box: SecretBox) -> None:
    sealed = box.seal(SECRET, 42)
    with pytest.raises(SealedSecretError):
        box.open(sealed, 43)
    with pytest.raises(SealedSecretError):
        SecretBox(os.urandom(32)).open(sealed, 42)


@pytest.mark.parametrize("part", [1, 2])
def test_a_tampered_sealed_secret_does_not_open(box: SecretBox, part: int) -> None:
    pieces = box.seal(SECRET, 42).split(":")
    raw = bytearray(base64.b64decode(pieces[part]))
    raw[0] ^= 1
    pieces[part] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SealedSecretError):
        box.open(":".join(pieces), 42)


@pytest.mark.parametrize("sealed", ["", "v1:", "v2:AAAA:BBBB", "v1:not base64!:AAAA", SECRET])
def test_garbage_is_refused_as_not_sealed(box: SecretBox, sealed: str) -> None:
    with pytest.raises(SealedSecretError):
        box.open(sealed, 42)


def test_the_key_must_be_32_bytes_of_base64() -> None:
    assert SecretBox.from_base64(new_data_key_text() + "\n")
    with pytest.raises(ValueError, match="32"):
        SecretBox.from_base64(base64.b64encode(os.urandom(16)).decode())
    with pytest.raises(ValueError, match="base64"):
        SecretBox.from_base64("not base64 at all!")
    assert "key" not in repr(SecretBox(os.urandom(32))).replace("<key hidden>", "")


def test_a_new_secret_is_160_bits_of_base32_and_the_uri_names_issuer_and_email() -> None:
    secret = new_totp_secret()
    assert len(base64.b32decode(secret)) == 20
    uri = provisioning_uri(secret, "ada@example.com")
    assert uri.startswith("otpauth://totp/Cloud%20Platform:ada%40example.com?")
    assert f"secret={secret}" in uri and "issuer=Cloud%20Platform" in uri


def test_a_code_is_right_for_its_step_and_one_step_either_side() -> None:
    step = pyotp.TOTP(SECRET).timecode(NOW)
    assert matching_step(SECRET, code_at(NOW), NOW, None) == step
    assert matching_step(SECRET, code_at(NOW - timedelta(seconds=30)), NOW, None) == step - 1
    assert matching_step(SECRET, code_at(NOW + timedelta(seconds=30)), NOW, None) == step + 1
    assert matching_step(SECRET, code_at(NOW - timedelta(seconds=60)), NOW, None) is None
    assert matching_step(SECRET, code_at(NOW), NOW, None) == matching_step(
        SECRET, code_at(NOW)[:3] + " " + code_at(NOW)[3:], NOW, None
    )


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12345x"])
def test_malformed_codes_are_wrong(code: str) -> None:
    assert matching_step(SECRET, code, NOW, None) is None


def test_a_time_step_accepted_once_is_never_accepted_again() -> None:
    state = TwoFactor(sealed_secret="v1:x:y", confirmed_at=NOW)
    after = state.after_totp(SECRET, code_at(NOW), NOW)
    assert after is not None and after.last_totp_step == pyotp.TOTP(SECRET).timecode(NOW)
    assert after.after_totp(SECRET, code_at(NOW), NOW) is None
    # Nor an older step still inside the window.
    assert after.after_totp(SECRET, code_at(NOW - timedelta(seconds=30)), NOW) is None
    later = NOW + timedelta(seconds=30)
    assert after.after_totp(SECRET, code_at(later), later) is not None


def test_recovery_codes_are_ten_distinct_readable_codes() -> None:
    codes = new_recovery_codes()
    assert len(codes) == RECOVERY_CODE_COUNT == len(set(codes))
    for code in codes:
        assert [len(group) for group in code.split("-")] == [4, 4, 4]
        assert set(code.replace("-", "")) <= set(RECOVERY_ALPHABET)


def test_a_recovery_code_is_used_up_once_and_is_bound_to_its_user() -> None:
    codes = new_recovery_codes()
    state = TwoFactor(sealed_secret="v1:x:y", confirmed_at=NOW).with_recovery_codes(codes, 42)
    assert all(code not in digest for code in codes for digest in state.recovery_digests)
    after = state.after_recovery_code(codes[3].upper().replace("-", " "), 42)
    assert after is not None and len(after.recovery_digests) == RECOVERY_CODE_COUNT - 1
    assert after.after_recovery_code(codes[3], 42) is None
    assert state.after_recovery_code(codes[3], 43) is None
    assert recovery_code_digest(codes[0], 42) != recovery_code_digest(codes[0], 43)


def test_the_stored_document_round_trips_and_holds_no_code_in_clear() -> None:
    codes = new_recovery_codes()
    state = TwoFactor(sealed_secret="v1:x:y", confirmed_at=NOW, last_totp_step=99).with_recovery_codes(codes, 1)
    document = state.codes_document()
    assert document is not None and not any(code in document for code in codes)
    assert TwoFactor.from_columns("v1:x:y", NOW, document) == state
    assert TwoFactor().codes_document() is None and TwoFactor.from_columns(None, None, None) == TwoFactor()


def test_only_identity_gets_the_data_encryption_key_made_once_private_and_usable(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path)
    holders = {
        s.name: s.env["CP_DATA_ENCRYPTION_KEY_FILE"]
        for s in process_specs(paths)
        if "CP_DATA_ENCRYPTION_KEY_FILE" in s.env
    }
    assert list(holders) == ["identity-grpc"]
    key_file = Path(holders["identity-grpc"])
    assert key_file.parent == paths.secrets and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    text = key_file.read_text()
    process_specs(paths)
    assert key_file.read_text() == text
    box = SecretBox.from_base64(text)
    assert box.open(box.seal(SECRET, 7), 7) == SECRET
