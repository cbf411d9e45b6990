"""The tokens of a sign-in session: a signed access token and a rotating refresh token.

**Access token** — short-lived, signed by identity with the same Ed25519 key as principal
assertions, and naming only the session and its user::

    cps1.<base64url(JSON {"sid", "uid", "iat", "exp"})>.<base64url(Ed25519 signature of "cps1.<payload>")>

The prefix differs from the principal assertion's ``cp1``, and it is part of what is signed,
so neither kind of token can pass for the other. The signature proves only that identity
made the token; whether the session is still live is asked of identity (IssuePrincipal), so
a logout ends the token within the gateway's principal cache TTL, not at its expiry.

**Refresh token** — ``cpr_`` and 56 random-looking bytes: the session id, 32 random bytes,
and a 16-byte HMAC of both under a key derived from identity's signing key. Identity stores
only its SHA-256, replaced on every refresh. The HMAC lets identity recognise a token it
made for a session earlier but that is no longer the current one (a rotated token presented
again: it was copied, so the session is revoked) without storing old tokens, and without
letting anyone who guesses a session id revoke that session with a made-up token.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# The encoding helpers of the principal assertion, shared rather than copied.
from cpshared.auth.principal import CLOCK_SKEW, _b64, _epoch, _unb64
from cpshared.clock import utcnow
from cpshared.errors import Unauthenticated

ACCESS_TOKEN_VERSION = "cps1"  # noqa: S105 - a format prefix, not a secret
ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
REFRESH_TOKEN_PREFIX = "cpr_"  # noqa: S105 - a format prefix, not a secret
_SESSION_ID_BYTES, _RANDOM_BYTES, _TAG_BYTES = 8, 32, 16
_MAC_CONTEXT = b"cloudplatform refresh token mac v1"


class InvalidSessionToken(Unauthenticated):
    """The access token is malformed, forged or expired: sign in again, or refresh."""


@dataclass(frozen=True)
class AccessClaims:
    session_id: int
    user_id: int
    issued_at: datetime
    expires_at: datetime


def is_access_token(token: str) -> bool:
    """Whether ``token`` has the shape of a session access token (rather than an API key)."""
    return token.startswith(ACCESS_TOKEN_VERSION + ".")


def sign_access_token(claims: AccessClaims, private_key: Ed25519PrivateKey) -> str:
    payload = {
        "sid": claims.session_id,
        "uid": claims.user_id,
        "iat": _epoch(claims.issued_at),
        "exp": _epoch(claims.expires_at),
    }
    body = f"{ACCESS_TOKEN_VERSION}.{_b64(json.dumps(payload, separators=(',', ':'), sort_keys=True).encode())}"
    return f"{body}.{_b64(private_key.sign(body.encode()))}"


def new_access_claims(session_id: int, user_id: int, *, now: datetime, session_expires_at: datetime) -> AccessClaims:
    """Claims for a fresh access token: 15 minutes, never past the session's own end."""
    issued = now.astimezone(UTC).replace(microsecond=0)
    return AccessClaims(
        session_id=session_id,
        user_id=user_id,
        issued_at=issued,
        expires_at=min(issued + ACCESS_TOKEN_LIFETIME, session_expires_at.astimezone(UTC).replace(microsecond=0)),
    )


def verify_access_token(token: str, public_key: Ed25519PublicKey, now: datetime | None = None) -> AccessClaims:
    """The claims of a genuine, unexpired access token; :class:`InvalidSessionToken` otherwise."""
    now = now or utcnow()
    claims, body, signature = _parse(token)
    try:
        public_key.verify(signature, body.encode())
    except InvalidSignature as exc:
        raise InvalidSessionToken("the access token's signature does not verify: sign in again") from exc
    if claims.issued_at > now + CLOCK_SKEW or claims.expires_at <= claims.issued_at:
        raise InvalidSessionToken("the access token's lifetime is not valid: sign in again")
    if claims.expires_at <= now:
        raise InvalidSessionToken("the access token has expired: get a new one with the refresh token")
    return claims


def peek_access_token(token: str) -> AccessClaims:
    """What an access token claims, WITHOUT checking its signature or lifetime: only for a
    party that identity has just told the token is valid (the gateway, to know the session)."""
    claims, _, _ = _parse(token)
    return claims


def _parse(token: str) -> tuple[AccessClaims, str, bytes]:
    parts = token.split(".") if token else []
    if len(parts) != 3 or parts[0] != ACCESS_TOKEN_VERSION:
        raise InvalidSessionToken("the access token is malformed: expected cps1.<payload>.<signature>")
    try:
        payload = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
        values = [payload[name] for name in ("sid", "uid", "iat", "exp")]
        if any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in values):
            raise TypeError("claims must be positive integers")
        claims = AccessClaims(
            session_id=values[0],
            user_id=values[1],
            issued_at=datetime.fromtimestamp(values[2], UTC),
            expires_at=datetime.fromtimestamp(values[3], UTC),
        )
    except (ValueError, TypeError, KeyError, binascii.Error, OverflowError, OSError) as exc:
        raise InvalidSessionToken("the access token is malformed: its payload does not decode") from exc
    return claims, f"{parts[0]}.{parts[1]}", signature


# -- refresh tokens ------------------------------------------------------------------------


def refresh_mac_key(private_key: Ed25519PrivateKey) -> bytes:
    """The HMAC key of refresh tokens, derived from identity's signing key (one secret to hold)."""
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return hashlib.sha256(_MAC_CONTEXT + raw).digest()


def new_refresh_token(session_id: int, mac_key: bytes) -> str:
    sid = session_id.to_bytes(_SESSION_ID_BYTES, "big")
    body = sid + secrets.token_bytes(_RANDOM_BYTES)
    return REFRESH_TOKEN_PREFIX + _b64(body + _tag(mac_key, body))


def refresh_token_session(token: str, mac_key: bytes) -> int | None:
    """The session a refresh token was made for, if identity made it (any generation); else None."""
    if not token.startswith(REFRESH_TOKEN_PREFIX):
        return None
    try:
        raw = _unb64(token[len(REFRESH_TOKEN_PREFIX) :])
    except (ValueError, binascii.Error):
        return None
    if len(raw) != _SESSION_ID_BYTES + _RANDOM_BYTES + _TAG_BYTES:
        return None
    body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(mac_key, body)):
        return None
    return int.from_bytes(body[:_SESSION_ID_BYTES], "big")


def token_digest(token: str) -> str:
    """The SHA-256 (hex) stored in place of a refresh or verification token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _tag(mac_key: bytes, body: bytes) -> bytes:
    return hmac.new(mac_key, body, hashlib.sha256).digest()[:_TAG_BYTES]
