"""IssuePrincipal: the signed assertion of whom a credential (an API key's secret or a
session's access token) speaks for, which the gateway presents to every other service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpshared.errors import Unavailable
from identity_service.service_layer import accounts, api_keys
from identity_service.service_layer.ports import PrincipalSigner
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

NO_SIGNER = "this identity service has no principal signing key configured"


@dataclass(frozen=True)
class IssuedPrincipal:
    assertion: str
    expires_at: datetime


def required_signer(signer: PrincipalSigner | None) -> PrincipalSigner:
    if signer is None:
        raise Unavailable(NO_SIGNER)
    return signer


def for_api_key(secret: str, client_ip: str, uow: IdentityUnitOfWork, signer: PrincipalSigner) -> IssuedPrincipal:
    principal = api_keys.principal_for_api_key(secret, uow, client_ip)
    return IssuedPrincipal(assertion=signer.sign(principal), expires_at=principal.expires_at)


def for_session(
    access_token: str, session_key: Ed25519PrivateKey | None, uow: IdentityUnitOfWork, signer: PrincipalSigner
) -> IssuedPrincipal:
    """``session_key`` verifies the access token (sessions sign their tokens with it)."""
    if session_key is None:
        raise Unavailable(NO_SIGNER)
    principal = accounts.principal_for_session(access_token, session_key, uow)
    return IssuedPrincipal(assertion=signer.sign(principal), expires_at=principal.expires_at)
