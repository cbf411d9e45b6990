"""Which cached principals an identity event drops, and the cache's two lifetimes."""

from __future__ import annotations

from datetime import timedelta

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import ManualClock
from cpshared.events import catalog
from cpshared.events.envelope import new_event, read_event
from gateway_service.auth.authentication import PrincipalCache, token_digest
from gateway_service.auth.invalidation import InvalidationListener, named_users_and_keys
from gateway_service.auth.principal import Principal, Role


def principal(user_id: int, api_key_id: int) -> Principal:
    return Principal(
        user_id=user_id,
        api_key_id=api_key_id,
        role=Role.CLIENT,
        scopes=frozenset({"api_keys:read"}),
        organization_id=None,
        rate_limit=10,
    )


def encoded(spec, aggregate_id: int, payload) -> bytes:  # type: ignore[no-untyped-def]
    event = new_event(spec, producer="identity", aggregate_id=aggregate_id, aggregate_version=2, payload=payload)
    return event.envelope.SerializeToString()


def test_a_revoked_key_names_its_key_and_its_user() -> None:
    raw = encoded(catalog.API_KEY_REVOKED, 9, ev.ApiKeyRevoked(api_key_id=9, user_id=4))
    assert named_users_and_keys(read_event("identity.events", 0, 0, raw)) == ({4}, {9})


def test_a_member_removal_names_the_member_and_who_removed_them() -> None:
    payload = ev.OrganizationMemberRemoved(organization_id=3, user_id=5, role="member", removed_by_user_id=6)
    raw = encoded(catalog.ORGANIZATION_MEMBER_REMOVED, 3, payload)
    assert named_users_and_keys(read_event("identity.events", 0, 0, raw)) == ({5, 6}, set())


def test_the_listener_drops_exactly_the_entries_an_event_names() -> None:
    cache = PrincipalCache(clock=ManualClock())
    for token, (user, key) in {"a": (4, 9), "b": (4, 10), "c": (5, 11)}.items():
        cache.put(token_digest(token), principal(user, key))
    listener = InvalidationListener("unused:9092", cache, topic="identity.events")
    listener._apply("identity.events", 0, 0, encoded(catalog.API_KEY_REVOKED, 10, ev.ApiKeyRevoked(api_key_id=10)))
    assert [cache.get(token_digest(t)) is not None for t in "abc"] == [True, False, True]
    listener._apply("identity.events", 0, 1, encoded(catalog.USER_CREATED, 4, ev.UserCreated(user_id=4)))
    assert [cache.get(token_digest(t)) is not None for t in "abc"] == [False, False, True]
    listener._apply("identity.events", 0, 2, b"not an envelope")  # skipped, never raises
    assert listener.applied == 2


def test_entries_live_the_long_ttl_only_while_the_events_are_followed() -> None:
    clock = ManualClock()
    following = [True]
    cache = PrincipalCache(
        ttl=timedelta(seconds=1), trusted_ttl=timedelta(seconds=30), trusted=lambda: following[0], clock=clock
    )
    cache.put(token_digest("t"), principal(1, 1))
    clock.advance(timedelta(seconds=20))
    assert cache.get(token_digest("t")) is not None
    following[0] = False  # the listener fell behind: back to the short lifetime
    assert cache.get(token_digest("t")) is None
    cache.put(token_digest("t"), principal(1, 1))
    following[0] = True
    clock.advance(timedelta(seconds=31))
    assert cache.get(token_digest("t")) is None
