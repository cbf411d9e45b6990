"""Every call the gateway makes to the identity service, over its gRPC API.

Failed calls raise the public error of the same meaning (clients/calls.py). Authentication is
:meth:`IdentityClient.authenticate_api_key` for an API key and
:meth:`IdentityClient.authenticate_session` for a session's access token. For a key:
identity's signed principal assertion for the key (IssuePrincipal, sent on as
``x-principal`` with every backend call made for the request) and the key's own record
(AuthenticateApiKey: its rate limit and organization, which the assertion does not carry),
asked for together. These calls carry the gateway's own service assertion, since no user's
principal exists yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cpshared.auth.principal import peek
from cpshared.auth.session_token import peek_access_token
from cpshared.timestamps import to_timestamp as _timestamp
from gateway_service.auth.principal import Principal, Role
from gateway_service.clients.calls import backend_call

BACKEND = "identity"

ROLE_BY_MESSAGE = {
    pb.USER_ROLE_ADMIN: Role.ADMIN,
    pb.USER_ROLE_SUPPORT: Role.SUPPORT,
    pb.USER_ROLE_BILLING: Role.BILLING,
    pb.USER_ROLE_CLIENT: Role.CLIENT,
}

ROLE_BY_NAME = {role.value: role for role in Role}


class IdentityClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        # A callable, because the channel is opened in the app's lifespan, after wiring.
        self._channel = channel
        self._stub: pb_grpc.IdentityServiceAsyncStub | None = None
        self._stub_channel: aio.Channel | None = None

    def _identity(self) -> pb_grpc.IdentityServiceAsyncStub:
        channel = self._channel()
        if self._stub is None or self._stub_channel is not channel:
            self._stub, self._stub_channel = pb_grpc.IdentityServiceStub(channel), channel
        assert self._stub is not None
        return self._stub

    async def authenticate_api_key(self, secret: str, ip: str = "") -> Principal:
        """``ip`` is the client's address: identity records it as the key's last use."""
        stub = self._identity()
        answer, issued = await backend_call(
            BACKEND,
            asyncio.gather(
                stub.AuthenticateApiKey(pb.AuthenticateApiKeyRequest(secret=secret)),
                stub.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=secret, client_ip=ip)),
            ),
        )
        key = answer.api_key
        return Principal(
            user_id=key.user_id,
            api_key_id=key.id,
            # An unknown role gets the least rights rather than a crash.
            role=ROLE_BY_MESSAGE.get(answer.user_role, Role.CLIENT),
            scopes=frozenset(key.scopes),
            organization_id=key.organization_id or None,
            rate_limit=key.rate_limit,
            assertion=issued.principal,
            assertion_expires_at=issued.expires_at.ToDatetime(tzinfo=UTC) if issued.HasField("expires_at") else None,
        )

    async def authenticate_session(self, access_token: str, rate_limit: int) -> Principal:
        """The signed-in user of a live session: identity checks the token and the session and
        answers the user's principal (all scopes, no API key); the gateway reads the user and
        role from that assertion, straight from identity, and the session id from the token."""
        issued = await backend_call(
            BACKEND, self._identity().IssuePrincipal(pb.IssuePrincipalRequest(session_token=access_token))
        )
        asserted = peek(issued.principal)
        return Principal(
            user_id=asserted.user_id,
            api_key_id=0,
            role=ROLE_BY_NAME.get(asserted.role, Role.CLIENT),
            scopes=frozenset(asserted.scopes),
            organization_id=None,
            rate_limit=rate_limit,
            assertion=issued.principal,
            assertion_expires_at=issued.expires_at.ToDatetime(tzinfo=UTC) if issued.HasField("expires_at") else None,
            session_id=peek_access_token(access_token).session_id,
        )

    async def list_api_keys(self, user_id: int) -> list[pb.ApiKey]:
        answer = await backend_call(BACKEND, self._identity().ListApiKeys(pb.ListApiKeysRequest(user_id=user_id)))
        return list(answer.api_keys)

    async def create_api_key(
        self,
        *,
        user_id: int,
        organization_id: int | None,
        name: str,
        scopes: list[str],
        rate_limit: int,
        expires_at: datetime | None,
    ) -> tuple[pb.ApiKey, str]:
        request = pb.CreateApiKeyRequest(
            user_id=user_id,
            organization_id=organization_id or 0,
            name=name,
            scopes=scopes,
            rate_limit=rate_limit,
            expires_at=_timestamp(expires_at) if expires_at is not None else None,
        )
        answer = await backend_call(BACKEND, self._identity().CreateApiKey(request))
        return answer.api_key, answer.secret

    async def update_api_key(
        self, api_key_id: int, *, name: str | None, scopes: list[str] | None, rate_limit: int | None
    ) -> pb.ApiKey:
        request = pb.UpdateApiKeyRequest(
            api_key_id=api_key_id,
            name=name,
            scopes=scopes or [],
            update_scopes=scopes is not None,
            rate_limit=rate_limit,
        )
        answer = await backend_call(BACKEND, self._identity().UpdateApiKey(request))
        return answer.api_key

    async def rotate_api_key(self, api_key_id: int, grace_period_seconds: int) -> tuple[pb.ApiKey, str, pb.ApiKey]:
        request = pb.RotateApiKeyRequest(api_key_id=api_key_id, grace_period_seconds=grace_period_seconds)
        answer = await backend_call(BACKEND, self._identity().RotateApiKey(request))
        return answer.api_key, answer.secret, answer.previous

    async def revoke_api_key(self, api_key_id: int) -> pb.ApiKey:
        answer = await backend_call(
            BACKEND, self._identity().RevokeApiKey(pb.RevokeApiKeyRequest(api_key_id=api_key_id))
        )
        return answer.api_key
