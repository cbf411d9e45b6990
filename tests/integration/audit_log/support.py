"""Events like the platform's, and the audit projection over a scratch stream, for the tests."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from audit_service.entrypoints.projection import AuditProjection
from cloudplatform.gateway.v1 import events_pb2 as gateway_events
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cpshared.context import ActorContext, actor_var, correlation_id_var
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.topics import Topic, TopicKind

KEY = base64.b64decode("Zm9yIHRlc3RzIG9ubHk6IGEgMzItYnl0ZSBhdWRpdCBrZXkgLi4uLi4uLi4uLg==")


@contextmanager
def acting(user_id: int, request_id: str, api_key_id: int = 0, organization_id: int = 0) -> Iterator[None]:
    actor = ActorContext(
        user_id=user_id,
        organization_id=organization_id,
        api_key_id=api_key_id,
        ip="203.0.113.7",
        user_agent="hcloud-python/2.5",
        request_id=request_id,
    )
    token, cid = actor_var.set(actor), correlation_id_var.set(request_id)
    try:
        yield
    finally:
        actor_var.reset(token)
        correlation_id_var.reset(cid)


def api_call(user_id: int, key_id: int, topic: Topic, requests_topic: Topic, n: int) -> list[PendingEvent]:
    """One API call as the platform records it: the domain events it caused, then its request record."""
    request_id = str(uuid.uuid4())
    with acting(user_id, request_id, api_key_id=key_id):
        created = new_event(
            catalog.API_KEY_CREATED,
            producer="identity",
            aggregate_id=1000 + n,
            aggregate_version=1,
            payload=identity_events.ApiKeyCreated(
                api_key_id=1000 + n, user_id=user_id, name=f"key {n}", last_four="abcd", scopes=["servers:read"]
            ),
            topic=topic,
        )
        changed = new_event(
            catalog.ORGANIZATION_MEMBER_ROLE_CHANGED,
            producer="identity",
            aggregate_id=7,
            aggregate_version=n + 1,
            payload=identity_events.OrganizationMemberRoleChanged(
                organization_id=7, user_id=user_id + 1, old_role="member", new_role="admin", changed_by_user_id=user_id
            ),
            topic=topic,
        )
        request = new_event(
            catalog.REQUEST_COMPLETED,
            producer="gateway",
            aggregate_id=request_id,
            aggregate_version=1,
            payload=gateway_events.RequestCompleted(
                request_id=request_id,
                method="POST",
                route="/v1/api_keys",
                path="/v1/api_keys",
                status=201,
                duration_ms=12,
                user_id=user_id,
                api_key_id=key_id,
                ip="203.0.113.7",
                user_agent="hcloud-python/2.5",
            ),
            topic=requests_topic,
        )
    return [created, changed, request]


def audit_from_env() -> AuditProjection:
    """The audit projection over the scratch stream named by CP_TEST_TOPIC (a consumer subprocess)."""
    topic = Topic(name=os.environ["CP_TEST_TOPIC"], kind=TopicKind.DOMAIN, partitions=3)
    return scratch_audit(topic, os.environ.get("CP_TEST_CONSUMER", "audit-test"))


def scratch_audit(topic: Topic, name: str) -> AuditProjection:
    class ScratchAudit(AuditProjection):
        topics = (topic,)

    ScratchAudit.name = name
    return ScratchAudit(KEY)
