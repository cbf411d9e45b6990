"""Who a user is, asked of identity over gRPC (``AccountService.GetProfile``) as support itself:
for mail (address, name, locale, time zone) and for a ticket's assignee (the platform role).
Support keeps no copy of them."""

from __future__ import annotations

import grpc
from grpc import aio

from cloudplatform.identity.v1 import account_service_pb2 as apb
from cloudplatform.identity.v1 import account_service_pb2_grpc as apb_grpc
from cloudplatform.identity.v1 import identity_service_pb2 as ipb
from cpshared.errors import Unavailable
from cpshared.grpc.service_client import ServiceChannel
from support_service import SERVICE_NAME
from support_service.domain.mail_templates import Recipient


class IdentityRecipients:
    """Support's ``Recipients`` and ``Accounts`` ports."""

    def __init__(self, address: str, service_key_file: str) -> None:
        self._client = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="identity")

    def _profile(self, user_id: int) -> apb.GetProfileResponse | None:
        try:
            request = apb.GetProfileRequest(user_id=user_id)
            answer = self._client.call(lambda ch, md: apb_grpc.AccountServiceStub(ch).GetProfile(request, metadata=md))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"identity could not answer: {exc.code().name} {exc.details()}") from None
        return answer  # type: ignore[no-any-return]

    def role(self, user_id: int) -> str | None:
        answer = self._profile(user_id)
        if answer is None:
            return None
        return ipb.UserRole.Name(answer.profile.role).removeprefix("USER_ROLE_").lower()

    def recipient(self, user_id: int) -> Recipient | None:
        answer = self._profile(user_id)
        if answer is None:
            return None
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
