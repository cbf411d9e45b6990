"""The IdentityService gRPC API through a real grpc.aio server on loopback, on the real MariaDB."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import grpc
import pytest
import sqlalchemy as sa
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from tests.integration.identity.support import PASSWORD, create_user, make_organization


async def test_a_user_signs_in_and_works_with_an_api_key_over_grpc(stub: pb_grpc.IdentityServiceAsyncStub) -> None:
    user = await create_user(stub)
    verified = await stub.Login(pb.LoginRequest(email="ada@example.com", password=PASSWORD, ip="127.0.0.1"))
    assert verified.user.id == user.id and verified.user.status == pb.USER_STATUS_ACTIVE

    created = await stub.CreateApiKey(
        pb.CreateApiKeyRequest(user_id=user.id, name="ci", scopes=["servers:read", "servers:write"])
    )
    assert created.secret.startswith("cpk_") and created.api_key.last_four == created.secret[-4:]
    who = await stub.AuthenticateApiKey(pb.AuthenticateApiKeyRequest(secret=created.secret))
    assert (who.api_key.id, who.api_key.user_id, list(who.api_key.scopes), who.user_role) == (
        created.api_key.id,
        user.id,
        ["servers:read", "servers:write"],
        pb.USER_ROLE_CLIENT,
    )
    listed = await stub.ListApiKeys(pb.ListApiKeysRequest(user_id=user.id))
    assert [k.id for k in listed.api_keys] == [created.api_key.id]
    assert created.secret not in str(listed)

    await stub.RevokeApiKey(pb.RevokeApiKeyRequest(api_key_id=created.api_key.id))
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.AuthenticateApiKey(pb.AuthenticateApiKeyRequest(secret=created.secret))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_no_response_message_has_a_field_for_a_password_or_a_hash() -> None:
    for message in pb.DESCRIPTOR.message_types_by_name.values():
        if message.name.endswith("Request"):
            continue
        names = {f.name for f in message.fields}
        assert not names & {"password", "password_hash", "key_hash", "hash"}, message.name


async def test_errors_arrive_as_status_codes(stub: pb_grpc.IdentityServiceAsyncStub) -> None:
    await create_user(stub)
    cases: list[tuple[Awaitable[object], str]] = [
        (stub.CreateUser(pb.CreateUserRequest(name="A", email="ada@example.com", password=PASSWORD)), "ALREADY_EXISTS"),
        (stub.CreateUser(pb.CreateUserRequest(name="A", email="b@example.com", password="short")), "INVALID_ARGUMENT"),
        (stub.Login(pb.LoginRequest(email="ada@example.com", password="nope", ip="127.0.0.1")), "UNAUTHENTICATED"),
        (stub.GetSetting(pb.GetSettingRequest(key="nope")), "NOT_FOUND"),
        (stub.SetSetting(pb.SetSettingRequest(key="signup_enabled", string_value="false")), "INVALID_ARGUMENT"),
        (
            stub.ReserveQuota(pb.ReserveQuotaRequest(reservation_key="k", resource_type="server", amount=1)),
            "INVALID_ARGUMENT",
        ),
    ]
    for call, code in cases:
        with pytest.raises(aio.AioRpcError) as failed:
            await call
        assert failed.value.code().name == code, failed.value.details()


async def test_settings_read_and_write_typed_over_grpc(stub: pb_grpc.IdentityServiceAsyncStub) -> None:
    got = await stub.GetSetting(pb.GetSettingRequest(key="default_server_limit"))
    assert (got.setting.type, got.setting.WhichOneof("value"), got.setting.integer_value) == (
        pb.SETTING_TYPE_INTEGER,
        "integer_value",
        10,
    )
    changed = await stub.SetSetting(pb.SetSettingRequest(key="signup_enabled", boolean_value=False))
    assert changed.setting.WhichOneof("value") == "boolean_value" and changed.setting.boolean_value is False


async def test_100_concurrent_grpc_reservations_against_a_quota_of_10_let_exactly_10_through(
    stub: pb_grpc.IdentityServiceAsyncStub, engine: sa.Engine
) -> None:
    user = await create_user(stub)
    organization_id = make_organization(engine, user.id)

    async def attempt(i: int) -> grpc.StatusCode:
        try:
            await stub.ReserveQuota(
                pb.ReserveQuotaRequest(
                    reservation_key=f"org-{i}", organization_id=organization_id, resource_type="server", amount=1
                ),
                timeout=60,
            )
        except aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    codes = await asyncio.gather(*(attempt(i) for i in range(100)))

    assert codes.count(grpc.StatusCode.OK) == 10
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 90
    again = await stub.ReserveQuota(
        pb.ReserveQuotaRequest(
            reservation_key="org-0", organization_id=organization_id, resource_type="server", amount=1
        )
    )
    released = await stub.ReleaseQuota(pb.ReleaseQuotaRequest(reservation_key=again.reservation.reservation_key))
    assert released.quota.current_usage == 9 and released.reservation.status == pb.RESERVATION_STATUS_RELEASED
