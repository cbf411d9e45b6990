from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from starlette.datastructures import Headers

from cpshared.clock import ManualClock
from cpshared.errors import Unauthenticated
from gateway_service.auth.authentication import PrincipalCache, bearer_token, token_digest
from gateway_service.auth.principal import Principal, Role

ADA = Principal(user_id=1, api_key_id=10, role=Role.CLIENT, scopes=frozenset(), organization_id=None, rate_limit=5)


def test_the_bearer_token_is_read_and_anything_else_is_unauthorized() -> None:
    assert bearer_token(Headers({"authorization": "Bearer abc"})) == "abc"
    assert bearer_token(Headers({"authorization": "bearer  abc "})) == "abc"
    for value in (None, "Basic abc", "Bearer", "Bearer " + "x" * 600):
        headers = Headers({"authorization": value} if value is not None else {})
        with pytest.raises(Unauthenticated):
            bearer_token(headers)


def test_cached_principals_expire_after_the_ttl() -> None:
    clock = ManualClock()
    cache = PrincipalCache(ttl=timedelta(seconds=1), clock=clock)
    cache.put(token_digest("secret"), ADA)
    assert cache.get(token_digest("secret")) == ADA
    clock.advance(timedelta(milliseconds=999))
    assert cache.get(token_digest("secret")) == ADA
    clock.advance(timedelta(milliseconds=1))
    assert cache.get(token_digest("secret")) is None
    assert len(cache) == 0


def test_the_cache_is_bounded_and_keyed_by_a_digest_never_the_token() -> None:
    cache = PrincipalCache(max_entries=2, clock=ManualClock())
    for token in ("one", "two", "three"):
        cache.put(token_digest(token), ADA)
    assert len(cache) == 2
    assert cache.get(token_digest("one")) is None
    assert cache.get(token_digest("three")) == ADA
    assert all(token not in key for key in cache._entries for token in ("one", "two", "three"))
    assert len(token_digest("x")) == 64


def test_a_cached_principal_is_dropped_before_its_assertion_expires() -> None:
    clock = ManualClock()
    soon = replace(ADA, assertion="cp1.a.b", assertion_expires_at=clock.now() + timedelta(seconds=30, milliseconds=500))
    cache = PrincipalCache(ttl=timedelta(seconds=1), clock=clock)
    cache.put(token_digest("secret"), soon)
    assert cache.get(token_digest("secret")) == soon
    clock.advance(timedelta(milliseconds=500))
    assert cache.get(token_digest("secret")) is None
