"""The signer of the principal assertions identity issues: Ed25519 over the shared assertion
format (:func:`cpshared.auth.principal.sign`), with the key from configuration; wired by the
bootstrap."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpshared.auth.principal import Principal, sign


class Ed25519PrincipalSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key

    def sign(self, principal: Principal) -> str:
        return sign(principal, self._private_key)
