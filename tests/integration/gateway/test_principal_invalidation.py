"""The gateway follows identity's events on the real broker and forgets what they change."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaProducer

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import ManualClock
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.topics import Topic
from gateway_service.auth.authentication import PrincipalCache, token_digest
from gateway_service.auth.invalidation import InvalidationListener
from gateway_service.auth.principal import Principal, Role
from tests.integration.backbone import KAFKA

ADA = Principal(user_id=41, api_key_id=77, role=Role.CLIENT, scopes=frozenset(), organization_id=None, rate_limit=9)


async def test_a_revocation_on_the_stream_drops_the_cached_key_within_a_second(scratch_stream: Topic) -> None:
    cache = PrincipalCache(clock=ManualClock())
    listener = InvalidationListener(KAFKA, cache, topic=scratch_stream.name)
    cache.trusted = lambda: listener.current
    listener.start()
    try:
        deadline = time.monotonic() + 20
        while not listener.current:  # assigned, at the end of every partition, polling
            assert time.monotonic() < deadline, "the listener never caught up with the stream"
            await asyncio.sleep(0.05)
        cache.put(token_digest("secret"), ADA)
        revoked = new_event(
            catalog.API_KEY_REVOKED,
            producer="identity",
            aggregate_id=77,
            aggregate_version=2,
            payload=ev.ApiKeyRevoked(api_key_id=77, user_id=41),
        )
        producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
        await producer.start()
        try:
            sent = time.monotonic()
            await producer.send_and_wait(scratch_stream.name, revoked.envelope.SerializeToString(), key=b"77")
        finally:
            await producer.stop()
        while cache.get(token_digest("secret")) is not None:
            assert time.monotonic() - sent < 1.0, "the cached key outlived its revocation by a second"
            await asyncio.sleep(0.01)
        assert listener.applied == 1
    finally:
        await listener.stop()
    assert not listener.current
