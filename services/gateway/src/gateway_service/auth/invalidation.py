"""Identity's events drop cached principals, so a change of rights takes effect at once.

The gateway caches who holds a credential (auth/authentication.py). Without this listener the
cache lives one second, and a revoked key or a suspended user works until its entry expires.
With it, every replica reads the identity stream (``identity.events``) from its end, as a
plain reader outside any consumer group (each replica must see every event), and drops:

- the entries of every user an event names (a field ``user_id`` or ``*_user_id`` of its
  payload, or the aggregate id of a ``user.*`` event): suspended, banned, erased, password
  changed, session revoked, member added, removed or given another role, ownership moved;
- the entries of every API key it names (``api_key_id``): revoked.

While the listener is connected and current, the cache may keep entries longer
(``TRUSTED_TTL``): the events keep it honest. When the listener has heard nothing from Kafka
for ``STALE_AFTER`` (broker down, listener crashed), the cache falls back to its short TTL.
Identity's relay publishes an event within tens of milliseconds of its commit, so a revoked key
stops working well within a second either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Protocol

from aiokafka import AIOKafkaConsumer
from google.protobuf.message import Message

from cpshared.events.envelope import ReceivedEvent, read_event
from cpshared.events.registry import UnknownEventType
from cpshared.kafka_admin import topic_partitions
from cpshared.logging import get_logger
from cpshared.topics import SERVICE_STREAMS

log = get_logger(__name__)

STALE_AFTER = 3.0
"""Seconds without a successful poll after which the listener no longer vouches for the cache."""


def named_users_and_keys(event: ReceivedEvent) -> tuple[set[int], set[int]]:
    """The user ids and API key ids ``event`` names."""
    users: set[int] = set()
    keys: set[int] = set()
    if event.envelope.aggregate_type == "user" and event.envelope.aggregate_id.isdigit():
        users.add(int(event.envelope.aggregate_id))
    _collect(event.payload, users, keys)
    return users, keys


def _collect(message: Message, users: set[int], keys: set[int]) -> None:
    for field, value in message.ListFields():
        if field.name == "user_id" or field.name.endswith("_user_id") or field.name == "owner_id":
            users.update(v for v in _ints(value) if v > 0)
        elif field.name == "api_key_id":
            keys.update(v for v in _ints(value) if v > 0)


def _ints(value: object) -> Iterable[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return (v for v in value if isinstance(v, int) and not isinstance(v, bool))
    return ()


class Invalidatable(Protocol):
    """What the listener needs of a cache (auth.authentication.PrincipalCache)."""

    def forget_user(self, user_id: int) -> None: ...

    def forget_api_key(self, api_key_id: int) -> None: ...


class InvalidationListener:
    """Reads identity's stream and tells ``cache`` whom to forget."""

    def __init__(self, bootstrap: str, cache: Invalidatable, *, topic: str | None = None) -> None:
        self.bootstrap = bootstrap
        self.cache = cache
        self.topic = topic or SERVICE_STREAMS["identity"].name
        self._task: asyncio.Task[None] | None = None
        self._last_poll = 0.0
        self.applied = 0

    @property
    def current(self) -> bool:
        """Whether the listener polled Kafka successfully within the last ``STALE_AFTER`` seconds."""
        return self._task is not None and not self._task.done() and time.monotonic() - self._last_poll < STALE_AFTER

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="principal-invalidation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
            try:
                assigned = await topic_partitions(self.bootstrap, [self.topic])
                await consumer.start()
                consumer.assign(assigned)
                await consumer.seek_to_end(*assigned)
                log.info("principal_invalidation_listening", topic=self.topic, partitions=len(assigned))
                while True:
                    batches = await consumer.getmany(timeout_ms=500, max_records=500)
                    self._last_poll = time.monotonic()
                    for records in batches.values():
                        for record in records:
                            self._apply(record.topic, record.partition, record.offset, record.value)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away: the cache falls back to its short TTL
                log.warning("principal_invalidation_interrupted", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    def _apply(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        if value is None:
            return
        try:
            event = read_event(topic, partition, offset, value)
        except UnknownEventType:
            return  # a newer identity's event: its TTL still bounds what the cache keeps
        except Exception:
            log.warning("principal_invalidation_unreadable", topic=topic, partition=partition, offset=offset)
            return
        users, keys = named_users_and_keys(event)
        for user_id in users:
            self.cache.forget_user(user_id)
        for api_key_id in keys:
            self.cache.forget_api_key(api_key_id)
        self.applied += 1
