"""IdentityService's RPCs of API keys and the principals identity signs for a credential."""

from __future__ import annotations

import asyncio
from datetime import UTC

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from identity_service.adapters.authorization import owner_constraint, require_self, require_service
from identity_service.domain import commands
from identity_service.entrypoints.grpc_identity_base import IdentityRpcs
from identity_service.entrypoints.grpc_messages import ROLES, Context, api_key_message
from identity_service.service_layer import api_keys, principals


class ApiKeyRpcs(IdentityRpcs):
    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: Context) -> pb.CreateApiKeyResponse:  # noqa: N802
        require_self(request.user_id, "API keys")
        cmd = commands.CreateApiKey(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            scopes=tuple(request.scopes),
            rate_limit=request.rate_limit,
            expires_at=request.expires_at.ToDatetime(tzinfo=UTC) if request.HasField("expires_at") else None,
        )
        key, secret = await asyncio.to_thread(api_keys.create_api_key, cmd, self._identity.uow())
        return pb.CreateApiKeyResponse(api_key=api_key_message(key), secret=secret)

    async def AuthenticateApiKey(  # noqa: N802
        self, request: pb.AuthenticateApiKeyRequest, context: Context
    ) -> pb.AuthenticateApiKeyResponse:
        require_service("AuthenticateApiKey")
        key, user = await asyncio.to_thread(api_keys.authenticate_api_key, request.secret, self._identity.uow())
        return pb.AuthenticateApiKeyResponse(api_key=api_key_message(key), user_role=ROLES[user.role])

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: Context) -> pb.RevokeApiKeyResponse:  # noqa: N802
        key = await asyncio.to_thread(
            api_keys.revoke_api_key, request.api_key_id, self._identity.uow(), owner_id=owner_constraint()
        )
        return pb.RevokeApiKeyResponse(api_key=api_key_message(key))

    async def UpdateApiKey(self, request: pb.UpdateApiKeyRequest, context: Context) -> pb.UpdateApiKeyResponse:  # noqa: N802
        cmd = commands.UpdateApiKey(
            api_key_id=request.api_key_id,
            name=request.name if request.HasField("name") else None,
            scopes=tuple(request.scopes) if request.update_scopes else None,
            rate_limit=request.rate_limit if request.HasField("rate_limit") else None,
            owner_id=owner_constraint(),
        )
        key = await asyncio.to_thread(api_keys.update_api_key, cmd, self._identity.uow())
        return pb.UpdateApiKeyResponse(api_key=api_key_message(key))

    async def RotateApiKey(self, request: pb.RotateApiKeyRequest, context: Context) -> pb.RotateApiKeyResponse:  # noqa: N802
        cmd = commands.RotateApiKey(
            api_key_id=request.api_key_id,
            grace_period_seconds=request.grace_period_seconds,
            owner_id=owner_constraint(),
        )
        key, secret, previous = await asyncio.to_thread(api_keys.rotate_api_key, cmd, self._identity.uow())
        return pb.RotateApiKeyResponse(api_key=api_key_message(key), secret=secret, previous=api_key_message(previous))

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: Context) -> pb.ListApiKeysResponse:  # noqa: N802
        require_self(request.user_id, "API keys")
        keys = await asyncio.to_thread(api_keys.list_api_keys, request.user_id, self._identity.uow())
        return pb.ListApiKeysResponse(api_keys=[api_key_message(k) for k in keys])

    async def IssuePrincipal(  # noqa: N802
        self, request: pb.IssuePrincipalRequest, context: Context
    ) -> pb.IssuePrincipalResponse:
        require_service("IssuePrincipal")
        signer = principals.required_signer(self._identity.principal_signer)
        credential = request.WhichOneof("credential")
        if credential == "api_key_secret":
            issued = await asyncio.to_thread(
                principals.for_api_key, request.api_key_secret, request.client_ip, self._identity.uow(), signer
            )
        elif credential == "session_token":
            issued = await asyncio.to_thread(
                principals.for_session, request.session_token, self._identity.signing_key, self._identity.uow(), signer
            )
        else:
            raise InvalidInput("give a credential: api_key_secret or session_token")
        return pb.IssuePrincipalResponse(principal=issued.assertion, expires_at=_ts(issued.expires_at))
