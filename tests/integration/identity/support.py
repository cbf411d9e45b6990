"""Helpers of the identity integration tests."""

from __future__ import annotations

import sqlalchemy as sa

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cpshared.events.envelope import ReceivedEvent, read_event
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import User, UserRole, UserStatus
from identity_service.service_layer import users

PASSWORD = "a long and secret password"


def make_user(identity: Identity, email: str = "ada@example.com", role: UserRole = UserRole.CLIENT) -> User:
    return users.create_user(
        commands.CreateUser(name="Ada", email=email, password=PASSWORD, role=role, status=UserStatus.ACTIVE),
        identity.uow(),
    )


def outbox_events(engine: sa.Engine) -> list[ReceivedEvent]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT topic, envelope FROM outbox ORDER BY id")).all()
    return [read_event(topic, 0, i, bytes(envelope)) for i, (topic, envelope) in enumerate(rows)]


def event_types(engine: sa.Engine) -> list[str]:
    return [e.event_type for e in outbox_events(engine)]


def make_organization(engine: sa.Engine, owner_id: int, slug: str = "acme") -> int:
    with engine.begin() as conn:
        result = conn.execute(
            sa.text("INSERT INTO organizations (name, slug, owner_id) VALUES (:n, :s, :o)"),
            {"n": slug.title(), "s": slug, "o": owner_id},
        )
        return int(result.lastrowid)


async def create_user(stub: pb_grpc.IdentityServiceAsyncStub, email: str = "ada@example.com") -> pb.User:
    """An active client account, made over gRPC (make_user makes one through the handlers)."""
    answer = await stub.CreateUser(
        pb.CreateUserRequest(
            name="Ada", email=email, password=PASSWORD, role=pb.USER_ROLE_CLIENT, status=pb.USER_STATUS_ACTIVE
        ),
        timeout=10,
    )
    return answer.user
