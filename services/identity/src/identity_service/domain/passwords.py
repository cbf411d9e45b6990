"""Password hashing: argon2id for every new hash; legacy bcrypt ``$2y$`` hashes still verify.

A legacy hash that verifies is replaced by an argon2id hash at that moment (the only time
the clear password is at hand), and so is an argon2id hash made with weaker parameters
than today's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cpshared.errors import InvalidInput

MIN_PASSWORD, MAX_PASSWORD = 8, 1024
PERSONAL_MIN = 4
"""A name or email part shorter than this is not looked for inside a password."""

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


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of the breach corpora zxcvbn ships (its ``passwords``
    frequency list, lowercase): a password among them is the first an attacker tries."""
    return frozenset(FREQUENCY_LISTS["passwords"])


def _squeezed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def check_new_password(password: str, *, email: str = "", name: str = "") -> None:
    """The password policy, wherever a password is set (sign-up, accounts made by staff or an
    invitation, a password change): ``MIN_PASSWORD`` to ``MAX_PASSWORD`` characters, not among
    the common breached passwords, and neither the account's email (or its local part) nor its
    name, nor containing them. InvalidInput says what to change."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    lowered = password.lower()
    if lowered in common_passwords() or _squeezed(password) in common_passwords():
        raise InvalidInput("this password is among the most common breached passwords: choose another one")
    squeezed = _squeezed(password)
    local_part = email.partition("@")[0]
    for personal in (email, local_part, name):
        mine = _squeezed(personal)
        if len(mine) >= PERSONAL_MIN and mine in squeezed:
            raise InvalidInput(
                "the password must not be or contain your email address or your name: choose another one"
            )


def _safe_argon2_verify(stored: str, password: str) -> bool:
    try:
        return _argon2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
