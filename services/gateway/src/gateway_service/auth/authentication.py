"""``Authorization: Bearer <API key>`` → the request's :class:`Principal`.

Identity answers who holds a key, with a signed principal assertion for it; the answer is
cached for a second (never past shortly before the assertion expires), so a busy key costs
identity one exchange a second per replica and a revoked key stops working within that second.
The cache is keyed by the SHA-256 of the token, so no token sits in the gateway's memory
longer than its request, and it is bounded (least recently used entries go first).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime, timedelta

from starlette.datastructures import Headers

from cpshared.clock import Clock, get_clock
from cpshared.errors import Unauthenticated
from gateway_service.auth.principal import Principal
from gateway_service.identity_client import IdentityClient

CACHE_TTL = timedelta(seconds=1)
# A cached assertion is dropped this long before it expires, so no backend sees it expire in flight.
RENEW_BEFORE_EXPIRY = timedelta(seconds=30)
CACHE_MAX_ENTRIES = 10_000
MAX_TOKEN_LENGTH = 512


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(headers: Headers) -> str:
    """The token of an ``Authorization: Bearer`` header; ``401 unauthorized`` when there is none."""
    authorization = headers.get("authorization")
    if not authorization:
        raise Unauthenticated("this endpoint needs an API key: send 'Authorization: Bearer <API key>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("the Authorization header must be 'Bearer <API key>'")
    return token


class PrincipalCache:
    def __init__(
        self, *, ttl: timedelta = CACHE_TTL, max_entries: int = CACHE_MAX_ENTRIES, clock: Clock | None = None
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock or get_clock()
        self._entries: OrderedDict[str, tuple[datetime, Principal]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires_at, principal = entry
        if self._clock.now() >= expires_at:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return principal

    def put(self, digest: str, principal: Principal) -> None:
        until = self._clock.now() + self.ttl
        if principal.assertion_expires_at is not None:
            until = min(until, principal.assertion_expires_at - RENEW_BEFORE_EXPIRY)
        self._entries[digest] = (until, principal)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class Authenticator:
    def __init__(self, identity: IdentityClient, cache: PrincipalCache) -> None:
        self._identity = identity
        self._cache = cache

    async def principal_for(self, token: str, ip: str = "") -> Principal:
        digest = token_digest(token)
        principal = self._cache.get(digest)
        if principal is None:
            # Refusals are not cached: a new key works at once, and a wrong one costs a call.
            principal = await self._identity.authenticate_api_key(token, ip)
            self._cache.put(digest, principal)
        return principal
