"""The signed principal assertion: who a call acts for, provable by every service.

The identity service signs a short-lived :class:`Principal` with its Ed25519 private key;
every other service holds only the public key and verifies the assertion itself, so no
service trusts a bare user id that another sent it. Service-to-service calls carry a
principal of kind ``service`` signed with the calling service's own key.

Encoding, chosen to be small enough for a gRPC header on every call::

    cp1.<base64url(JSON payload)>.<base64url(Ed25519 signature of "cp1.<payload>")>

Times are whole seconds since the epoch; the verifier's "now" comes from cpshared.clock so
tests move time instead of sleeping.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cpshared.clock import utcnow
from cpshared.errors import Unauthenticated

VERSION = "cp1"
PRINCIPAL_LIFETIME = timedelta(minutes=5)
# Clocks of two hosts differ a little: an assertion issued "in the future" by this much is
# still accepted, more is refused (it would live longer than its lifetime says).
CLOCK_SKEW = timedelta(seconds=30)

PrincipalKind = Literal["user", "service"]
PLATFORM_ROLES = frozenset({"admin", "support", "billing", "client"})
ORGANIZATION_ROLES = frozenset({"owner", "admin", "member", "billing"})


class InvalidPrincipal(Unauthenticated):
    """The assertion is missing, malformed, forged, signed by another key or expired."""


class ExpiredPrincipal(InvalidPrincipal):
    """A well-signed assertion whose lifetime is over: ask identity for a fresh one."""


@dataclass(frozen=True)
class Principal:
    """Whom a call acts for: a user (through an API key or a session) or a service."""

    kind: PrincipalKind
    issued_at: datetime
    expires_at: datetime
    user_id: int = 0
    role: str = ""
    """Platform role of the user: admin, support, billing or client; empty for a service."""
    organizations: Mapping[int, str] = field(default_factory=dict, hash=False)
    """Organization id → the user's role in it (owner, admin, member, billing)."""
    api_key_id: int = 0
    scopes: tuple[str, ...] = ()
    service: str = ""
    """Name of the calling service, for kind ``service``."""

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    def role_in(self, organization_id: int) -> str | None:
        return self.organizations.get(organization_id)


def user_principal(
    *,
    user_id: int,
    role: str,
    organizations: Mapping[int, str],
    api_key_id: int = 0,
    scopes: tuple[str, ...] = (),
    now: datetime | None = None,
    lifetime: timedelta = PRINCIPAL_LIFETIME,
) -> Principal:
    issued = _whole_seconds(now or utcnow())
    return Principal(
        kind="user",
        issued_at=issued,
        expires_at=issued + lifetime,
        user_id=user_id,
        role=role,
        organizations=dict(organizations),
        api_key_id=api_key_id,
        scopes=tuple(scopes),
    )


def service_principal(
    service: str, *, now: datetime | None = None, lifetime: timedelta = PRINCIPAL_LIFETIME
) -> Principal:
    issued = _whole_seconds(now or utcnow())
    return Principal(kind="service", issued_at=issued, expires_at=issued + lifetime, service=service)


# -- encoding --------------------------------------------------------------------------------


def sign(principal: Principal, private_key: Ed25519PrivateKey) -> str:
    """The compact signed assertion of ``principal``."""
    payload = {
        "k": principal.kind,
        "iat": _epoch(principal.issued_at),
        "exp": _epoch(principal.expires_at),
        "u": principal.user_id,
        "r": principal.role,
        "o": {str(org): role for org, role in sorted(principal.organizations.items())},
        "a": principal.api_key_id,
        "s": list(principal.scopes),
        "svc": principal.service,
    }
    body = f"{VERSION}.{_b64(json.dumps(payload, separators=(',', ':'), sort_keys=True).encode())}"
    return f"{body}.{_b64(private_key.sign(body.encode()))}"


@dataclass(frozen=True)
class TrustedKeys:
    """Whose signatures a verifier accepts: the identity service's for user principals, and
    each named service's own for that service's principals (so a service key cannot mint a
    user, nor speak for another service)."""

    issuer: Ed25519PublicKey
    services: Mapping[str, Ed25519PublicKey] = field(default_factory=dict, hash=False)

    def key_for(self, kind: str, service: str) -> Ed25519PublicKey | None:
        if kind == "user":
            return self.issuer
        return self.services.get(service)


def verify(token: str, keys: Ed25519PublicKey | TrustedKeys, now: datetime | None = None) -> Principal:
    """The principal ``token`` asserts, or :class:`InvalidPrincipal` saying why not.

    A bare public key is trusted for every kind of principal (the identity service's own
    key, as in tests and in a stack where identity also signs for services).
    """
    now = now or utcnow()
    parts = token.split(".") if token else []
    if len(parts) != 3 or parts[0] != VERSION:
        raise InvalidPrincipal("the principal assertion is malformed: expected cp1.<payload>.<signature>")
    try:
        payload = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
        principal = _principal(payload)
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise InvalidPrincipal("the principal assertion is malformed: its payload does not decode") from exc
    key = keys if isinstance(keys, Ed25519PublicKey) else keys.key_for(principal.kind, principal.service)
    if key is None:
        raise InvalidPrincipal(f"no key is trusted for the {principal.kind} principal {principal.service!r}")
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode())
    except InvalidSignature as exc:
        raise InvalidPrincipal("the principal assertion's signature does not verify") from exc
    if principal.issued_at > now + CLOCK_SKEW or principal.expires_at <= principal.issued_at:
        raise InvalidPrincipal("the principal assertion's lifetime is not valid")
    if principal.expires_at <= now:
        raise ExpiredPrincipal("the principal assertion has expired: ask identity for a fresh one")
    return principal


def peek(token: str) -> Principal:
    """What ``token`` asserts, WITHOUT checking its signature or lifetime.

    Only for the party that has just received the assertion from identity itself (the
    gateway, straight from IssuePrincipal over its own channel) and passes it on unchanged:
    every service it reaches verifies it. Never authorize on a peeked principal.
    """
    parts = token.split(".") if token else []
    if len(parts) != 3 or parts[0] != VERSION:
        raise InvalidPrincipal("the principal assertion is malformed: expected cp1.<payload>.<signature>")
    try:
        return _principal(json.loads(_unb64(parts[1])))
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise InvalidPrincipal("the principal assertion is malformed: its payload does not decode") from exc


def _principal(payload: Any) -> Principal:
    if not isinstance(payload, dict):
        raise TypeError("payload is not an object")
    kind = payload["k"]
    if kind not in ("user", "service"):
        raise ValueError(f"unknown principal kind {kind!r}")
    organizations = {int(org): _text(role) for org, role in dict(payload["o"]).items()}
    scopes = payload["s"]
    if not isinstance(scopes, list):
        raise TypeError("scopes is not a list")
    principal = Principal(
        kind=kind,
        issued_at=datetime.fromtimestamp(_integer(payload["iat"]), UTC),
        expires_at=datetime.fromtimestamp(_integer(payload["exp"]), UTC),
        user_id=_integer(payload["u"]),
        role=_text(payload["r"]),
        organizations=organizations,
        api_key_id=_integer(payload["a"]),
        scopes=tuple(_text(s) for s in scopes),
        service=_text(payload["svc"]),
    )
    if kind == "user" and (principal.user_id <= 0 or principal.role not in PLATFORM_ROLES):
        raise ValueError("a user principal needs a user id and a platform role")
    if kind == "service" and not principal.service:
        raise ValueError("a service principal needs a service name")
    return principal


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _epoch(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("principal times must be timezone-aware")
    return int(when.timestamp())


def _whole_seconds(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- keys ------------------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _pem_text(pem_or_path: str | Path) -> bytes:
    """PEM text as given, or read from the file it names."""
    if isinstance(pem_or_path, Path) or "-----BEGIN" not in pem_or_path:
        return Path(pem_or_path).read_bytes()
    return pem_or_path.encode()


def load_private_key(pem_or_path: str | Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(_pem_text(pem_or_path), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the principal signing key must be an Ed25519 private key")
    return key


def load_public_key(pem_or_path: str | Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(_pem_text(pem_or_path))
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the principal verify key must be an Ed25519 public key")
    return key


def write_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.key`` (mode 600) and ``<name>.pub`` in ``directory`` unless they exist."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / f"{name}.key", directory / f"{name}.pub"
    if not private_path.exists():
        key = generate_private_key()
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(private_key_pem(key))
        public_path.write_text(public_key_pem(key))
    elif not public_path.exists():
        public_path.write_text(public_key_pem(load_private_key(private_path)))
    return private_path, public_path


class ServiceAssertion:
    """A service's own signed principal, re-signed shortly before it expires.

    Signing costs far less than a call, but not nothing: one assertion serves every call a
    service makes for most of its lifetime.
    """

    RENEW_BEFORE = timedelta(minutes=1)

    def __init__(self, service: str, private_key: Ed25519PrivateKey, lifetime: timedelta = PRINCIPAL_LIFETIME) -> None:
        self._service, self._key, self._lifetime = service, private_key, lifetime
        self._token = ""
        self._renew_at: datetime | None = None

    def token(self) -> str:
        now = utcnow()
        if self._renew_at is None or now >= self._renew_at:
            principal = service_principal(self._service, now=now, lifetime=self._lifetime)
            self._token = sign(principal, self._key)
            self._renew_at = principal.expires_at - min(self.RENEW_BEFORE, self._lifetime / 2)
        return self._token
