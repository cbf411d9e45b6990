"""The password hasher the service runs with: argon2id, verifying legacy bcrypt hashes
(:mod:`identity_service.domain.passwords`), wired by the bootstrap."""

from __future__ import annotations

from identity_service.domain import passwords
from identity_service.domain.passwords import Verdict


class Argon2PasswordHasher:
    def hash(self, password: str) -> str:
        return passwords.hash_password(password)

    def verify(self, stored: str | None, password: str) -> Verdict:
        return passwords.verify_password(stored, password)
