"""Who a user is for mail, asked of identity over gRPC (``AccountService.GetProfile``) as support
itself: support keeps no copy of addresses, names, locales or time zones."""

from __future__ import annotations

import grpc
from grpc import aio

from cloudplatform.identity.v1 import account_service_pb2 as apb
from cloudplatform.identity.v1 import account_service_pb2_grpc as apb_grpc
from cpshared.errors import Unavailable
from cpshared.grpc.service_client import ServiceChannel
from support_service import SERVICE_NAME
from support_service.domain.mail_templates import Recipient


class IdentityRecipients:
    def __init__(self, address: str, service_key_file: str) -> None:
        self._client = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="identity")

    def recipient(self, user_id: int) -> Recipient | None:
        try:
            request = apb.GetProfileRequest(user_id=user_id)
            answer = self._client.call(lambda ch, md: apb_grpc.AccountServiceStub(ch).GetProfile(request, metadata=md))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"identity could not answer: {exc.code().name} {exc.details()}") from None
        profile = answer.profile
        if not profile.email:
            return None
        return Recipient(
            user_id=user_id,
            email=profile.email,
            name=profile.name,
            locale=profile.locale,
            timezone=profile.timezone,
        )

    def close(self) -> None:
        self._client.close()
