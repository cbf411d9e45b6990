"""Two-factor authentication (TOTP, RFC 6238) with single-use recovery codes: the rules.

- The TOTP secret is kept encrypted at rest (:class:`SecretBox`, AES-256-GCM) with the user's
  id as associated data, so a ciphertext copied onto another user's row does not decrypt.
- A code is accepted for the current 30-second time step and one step either side (clock
  drift), but never for a step at or before the last one accepted: a code seen once (over a
  shoulder, in a proxy log) cannot be replayed.
- Recovery codes are shown once and stored only as SHA-256 digests salted with the user id;
  each signs in once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cpshared.errors import InvalidInput
from identity_service.domain.aggregate import Aggregate
from identity_service.domain.events import Recorded, RecoveryCodesRegenerated, TwoFactorDisabled, TwoFactorEnabled

ISSUER = "Cloud Platform"
RECOVERY_CODE_COUNT = 10
VALID_WINDOW = 1
"""Time steps accepted either side of the current one."""

SEALED_VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, GCM's standard nonce

# Lower-case letters and digits without the look-alikes 0/o, 1/l/i: 31 symbols, 12 of them
# per code (about 59 bits), written as three groups of four.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUPS, RECOVERY_GROUP_LENGTH = 3, 4
TOTP_CODE = re.compile(r"^\d{6}$")


class SealedSecretError(Exception):
    """A sealed secret did not open: tampered with, moved to another user, or another key."""


class SecretBox:
    """AES-256-GCM with a random 96-bit nonce per encryption.

    The associated data binds each ciphertext to one user id: opening it with another id
    fails, so a stored secret cannot be copied onto another account's row. Sealed text is
    ``v1:<base64 nonce>:<base64 ciphertext and tag>``; the version names the scheme so a
    later one (or key rotation) can be told apart.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the data encryption key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @classmethod
    def from_base64(cls, text: str) -> SecretBox:
        """From the key file's content: 32 random bytes in base64 (surrounding whitespace ignored)."""
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the data encryption key file must hold 32 random bytes in base64") from None
        return cls(key)

    def seal(self, plaintext: str, user_id: int) -> str:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext.encode(), _associated(user_id))
        return ":".join((SEALED_VERSION, _b64(nonce), _b64(ciphertext)))

    def open(self, sealed: str, user_id: int) -> str:
        version, _, rest = sealed.partition(":")
        nonce_text, _, ciphertext_text = rest.partition(":")
        if version != SEALED_VERSION or not nonce_text or not ciphertext_text:
            raise SealedSecretError(f"not a {SEALED_VERSION} sealed secret")
        try:
            nonce, ciphertext = (
                base64.b64decode(nonce_text, validate=True),
                base64.b64decode(ciphertext_text, validate=True),
            )
            if len(nonce) != NONCE_BYTES:
                raise SealedSecretError("the nonce has the wrong length")
            return self._aead.decrypt(nonce, ciphertext, _associated(user_id)).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise SealedSecretError("the sealed secret does not open with this key for this user") from None


def new_data_key_text() -> str:
    """The content of a new key file: 32 random bytes in base64."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _associated(user_id: int) -> bytes:
    return f"cloudplatform.identity.users.two_factor_secret:{user_id}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- TOTP -------------------------------------------------------------------------------------


def new_totp_secret() -> str:
    """A new base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code) to add the account."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def normalise_totp_code(code: str) -> str | None:
    """The six digits of ``code`` (spaces allowed, as apps show "123 456"); None if it is not one."""
    digits = code.replace(" ", "").strip()
    return digits if TOTP_CODE.match(digits) else None


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` is right for, within the window and after ``last_step``; else None.

    Every step of the window is compared (in constant time), so the time taken does not
    tell which step, if any, matched.
    """
    digits = normalise_totp_code(code)
    if digits is None:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found: int | None = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


# -- recovery codes ---------------------------------------------------------------------------


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Fresh codes like ``k7mq-x2cd-9fha``; shown to the user once, never stored in clear."""
    length = RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(length))
        groups = [raw[i : i + RECOVERY_GROUP_LENGTH] for i in range(0, length, RECOVERY_GROUP_LENGTH)]
        codes.append("-".join(groups))
    return codes


def recovery_code_digest(code: str, user_id: int) -> str:
    """SHA-256 of the code as typed in any case, with or without hyphens and spaces, salted with
    the user id (one table of precomputed digests does not serve every account)."""
    canonical = re.sub(r"[\s-]", "", code).lower()
    return hashlib.sha256(f"{user_id}:{canonical}".encode()).hexdigest()


# -- the state of a user's two-factor authentication ------------------------------------------


@dataclass(frozen=True)
class TwoFactor:
    """Columns users.two_factor_*: the sealed secret, when it was confirmed, and (as JSON in
    two_factor_recovery_codes) the recovery code digests and the last time step accepted."""

    sealed_secret: str | None = field(default=None, repr=False)
    confirmed_at: datetime | None = None
    recovery_digests: tuple[str, ...] = field(default=(), repr=False)
    last_totp_step: int | None = None

    @property
    def enabled(self) -> bool:
        return self.confirmed_at is not None and self.sealed_secret is not None

    @property
    def pending(self) -> bool:
        """Enrolled, waiting for the first code to confirm."""
        return self.sealed_secret is not None and self.confirmed_at is None

    def codes_document(self) -> str | None:
        """The JSON kept in users.two_factor_recovery_codes (None when there is nothing to keep)."""
        if not self.recovery_digests and self.last_totp_step is None:
            return None
        return json.dumps({"codes": list(self.recovery_digests), "last_totp_step": self.last_totp_step})

    @staticmethod
    def from_columns(sealed_secret: str | None, confirmed_at: datetime | None, codes_document: str | None) -> TwoFactor:
        digests: tuple[str, ...] = ()
        last_step: int | None = None
        if codes_document:
            document = json.loads(codes_document)
            digests = tuple(str(d) for d in document.get("codes", []))
            step = document.get("last_totp_step")
            last_step = int(step) if step is not None else None
        return TwoFactor(
            sealed_secret=sealed_secret, confirmed_at=confirmed_at, recovery_digests=digests, last_totp_step=last_step
        )

    def after_totp(self, secret: str, code: str, now: datetime) -> TwoFactor | None:
        """The state after accepting ``code`` (its time step used up); None when it is wrong or used."""
        step = matching_step(secret, code, now, self.last_totp_step)
        return None if step is None else replace(self, last_totp_step=step)

    def after_recovery_code(self, code: str, user_id: int) -> TwoFactor | None:
        """The state after using up ``code``; None when it is not one of the unused codes."""
        digest = recovery_code_digest(code, user_id)
        matches = [d for d in self.recovery_digests if hmac.compare_digest(d, digest)]
        if not matches:
            return None
        return replace(self, recovery_digests=tuple(d for d in self.recovery_digests if d != matches[0]))

    def with_recovery_codes(self, codes: list[str], user_id: int) -> TwoFactor:
        return replace(self, recovery_digests=tuple(recovery_code_digest(c, user_id) for c in codes))


DISABLED = TwoFactor()


def check_code_given(code: str, what: str = "code") -> str:
    if not code.strip():
        raise InvalidInput(
            f"{what} is missing: send the current six-digit code of the authenticator app",
            details={"fields": [{"name": what, "messages": ["is required"]}]},
        )
    return code


@dataclass
class TwoFactorAccount(Aggregate):
    """The user aggregate as its two-factor use cases change it: the state above, the user's
    version and email. Turning it on or off and regenerating the recovery codes are events of
    the user; enrolling and using up a code or a time step only change the state."""

    id: int
    """The user's id."""
    email: str
    state: TwoFactor
    version: int
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    def enable(self, confirmed: TwoFactor, recovery_codes: int) -> None:
        """``confirmed``: the pending state after its first right code, confirmed and with its recovery codes."""
        if confirmed.confirmed_at is None:
            raise ValueError("an enabled state has its confirmation time")
        self.state = confirmed
        self._record(
            TwoFactorEnabled(user_id=self.id, confirmed_at=confirmed.confirmed_at, recovery_codes=recovery_codes)
        )

    def disable(self, proved_with: str) -> None:
        self.state = DISABLED
        self._record(TwoFactorDisabled(user_id=self.id, proved_with=proved_with))

    def replace_recovery_codes(self, after: TwoFactor, recovery_codes: int) -> None:
        self.state = after
        self._record(RecoveryCodesRegenerated(user_id=self.id, recovery_codes=recovery_codes))
