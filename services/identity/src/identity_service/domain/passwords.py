"""Password hashing: argon2id for every new hash; legacy bcrypt ``$2y$`` hashes still verify.

A legacy hash that verifies is replaced by an argon2id hash at that moment (the only time
the clear password is at hand), and so is an argon2id hash made with weaker parameters
than today's.
"""

from __future__ import annotations

from dataclasses import dataclass

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's second recommendation (64 MiB, t=3, p=4).
_argon2 = PasswordHasher(type=Type.ID)
BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")
# Verified against when an account has no password, so that "no such user" takes as long
# as "wrong password" and the answer time does not tell which emails exist.
_DUMMY_HASH = _argon2.hash("no account has this password")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    new_hash: str | None = None
    """A fresh argon2id hash to store when the stored one is legacy or outdated."""


def hash_password(password: str) -> str:
    return _argon2.hash(password)


def verify_password(stored: str | None, password: str) -> Verdict:
    if not stored:
        _safe_argon2_verify(_DUMMY_HASH, password)
        return Verdict(ok=False)
    if stored.startswith(BCRYPT_PREFIXES):
        # bcrypt looks at the first 72 bytes only; the rehash below ends that for this account.
        try:
            ok = bcrypt.checkpw(password.encode()[:72], stored.encode())
        except ValueError:
            return Verdict(ok=False)
        return Verdict(ok=True, new_hash=hash_password(password)) if ok else Verdict(ok=False)
    if not _safe_argon2_verify(stored, password):
        return Verdict(ok=False)
    return Verdict(ok=True, new_hash=hash_password(password) if _argon2.check_needs_rehash(stored) else None)


def _safe_argon2_verify(stored: str, password: str) -> bool:
    try:
        return _argon2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
