"""API key secrets: made here, shown once, stored only as a SHA-256 digest and the last four.

SHA-256 rather than argon2 or bcrypt: a password is low-entropy, so its hash must be slow to
make guessing expensive; an API key is 256 random bits, which no amount of guessing finds,
so a slow hash would only add latency to every authenticated request. A plain digest also
lets the key be found by an indexed equality lookup (``key_hash``), which a salted hash
would not.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

API_KEY_PREFIX = "cpk_"
"""Recognisable in logs, leak scanners and support tickets as a Cloud Platform key."""


@dataclass(frozen=True)
class NewSecret:
    secret: str
    digest: str
    last_four: str


def new_api_key_secret() -> NewSecret:
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)  # 32 random bytes: 256 bits
    return NewSecret(secret=secret, digest=api_key_digest(secret), last_four=secret[-4:])


def api_key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_password() -> str:
    """A random password for an account made by an operator (the first admin)."""
    return secrets.token_urlsafe(18)
