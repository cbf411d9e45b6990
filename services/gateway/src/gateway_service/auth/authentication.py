"""``Authorization: Bearer <token>`` → the request's :class:`Principal`.

The token is an API key (``cpk_...``) or a session's access token (``cps1....``, from
``POST /v1/auth/login``). Identity answers who holds it, with a signed principal assertion;
the answer is cached (never past shortly before the assertion expires). Identity's events
drop the entries of a revoked key or a changed user at once (auth/invalidation.py); while
they are being followed an entry lives up to 30 seconds, otherwise one second, so a busy
token costs identity one exchange per replica every 30 s (1 s), and a revoked key or a
session that signed out stops working within a second.
The cache is keyed by the SHA-256 of the token, so no token sits in the gateway's memory
longer than its request, and it is bounded (least recently used entries go first).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from starlette.datastructures import Headers

from cpshared.auth.session_token import is_access_token
from cpshared.clock import Clock, get_clock
from cpshared.errors import Unauthenticated
from gateway_service.auth.principal import Principal
from gateway_service.clients.identity import IdentityClient

CACHE_TTL = timedelta(seconds=1)
# While identity's events are followed (auth/invalidation.py) they drop changed entries at once.
TRUSTED_CACHE_TTL = timedelta(seconds=30)
# A cached assertion is dropped this long before it expires, so no backend sees it expire in flight.
RENEW_BEFORE_EXPIRY = timedelta(seconds=30)
CACHE_MAX_ENTRIES = 10_000
MAX_TOKEN_LENGTH = 512
DEFAULT_SESSION_RATE_LIMIT = 3600
"""Requests per hour of a signed-in user (settings.session_rate_limit)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(headers: Headers) -> str:
    """The token of an ``Authorization: Bearer`` header; ``401 unauthorized`` when there is none."""
    authorization = headers.get("authorization")
    if not authorization:
        raise Unauthenticated(
            "this endpoint needs an API key or a session: send 'Authorization: Bearer <API key or access token>'"
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("the Authorization header must be 'Bearer <API key or access token>'")
    return token


class PrincipalCache:
    """Principals by token digest, each for ``ttl`` — or ``trusted_ttl`` while ``trusted()`` says
    identity's events are being followed (auth/invalidation.py), since they drop what changed."""

    def __init__(
        self,
        *,
        ttl: timedelta = CACHE_TTL,
        trusted_ttl: timedelta = TRUSTED_CACHE_TTL,
        trusted: Callable[[], bool] = lambda: False,
        max_entries: int = CACHE_MAX_ENTRIES,
        clock: Clock | None = None,
    ) -> None:
        self.ttl = ttl
        self.trusted_ttl = max(ttl, trusted_ttl)
        self.trusted = trusted
        self.max_entries = max_entries
        self._clock = clock or get_clock()
        # digest -> (cached at, kept until at most, principal)
        self._entries: OrderedDict[str, tuple[datetime, datetime, Principal]] = OrderedDict()
        self._by_user: dict[int, set[str]] = {}
        self._by_key: dict[int, set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        cached_at, until, principal = entry
        now = self._clock.now()
        if now >= until or (now >= cached_at + self.ttl and not self.trusted()):
            self._drop(digest)
            return None
        self._entries.move_to_end(digest)
        return principal

    def put(self, digest: str, principal: Principal) -> None:
        now = self._clock.now()
        until = now + self.trusted_ttl
        if principal.assertion_expires_at is not None:
            until = min(until, principal.assertion_expires_at - RENEW_BEFORE_EXPIRY)
        self._drop(digest)
        self._entries[digest] = (now, until, principal)
        self._by_user.setdefault(principal.user_id, set()).add(digest)
        if principal.api_key_id:
            self._by_key.setdefault(principal.api_key_id, set()).add(digest)
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))

    def forget_user(self, user_id: int) -> None:
        for digest in list(self._by_user.get(user_id, ())):
            self._drop(digest)

    def forget_api_key(self, api_key_id: int) -> None:
        for digest in list(self._by_key.get(api_key_id, ())):
            self._drop(digest)

    def _drop(self, digest: str) -> None:
        entry = self._entries.pop(digest, None)
        if entry is None:
            return
        principal = entry[2]
        for index, owner in ((self._by_user, principal.user_id), (self._by_key, principal.api_key_id)):
            digests = index.get(owner)
            if digests is not None:
                digests.discard(digest)
                if not digests:
                    del index[owner]


class Authenticator:
    def __init__(
        self, identity: IdentityClient, cache: PrincipalCache, *, session_rate_limit: int = DEFAULT_SESSION_RATE_LIMIT
    ) -> None:
        self._identity = identity
        self._cache = cache
        self._session_rate_limit = session_rate_limit

    async def principal_for(
        self, token: str, ip: str = "", *, before_asking: Callable[[], None] | None = None
    ) -> Principal:
        """The principal of ``token``, from the cache or identity; ``before_asking`` runs (and may
        refuse) only when identity has to be asked."""
        digest = token_digest(token)
        principal = self._cache.get(digest)
        if principal is None:
            if before_asking is not None:
                before_asking()
            # Refusals are not cached: a new key works at once, and a wrong one costs a call.
            if is_access_token(token):
                principal = await self._identity.authenticate_session(token, self._session_rate_limit)
            else:
                principal = await self._identity.authenticate_api_key(token, ip)
            self._cache.put(digest, principal)
        return principal
