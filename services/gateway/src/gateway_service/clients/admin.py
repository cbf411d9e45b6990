"""The gateway's calls to identity's AdminService (staff administration) and to the settings
RPCs of IdentityService. Every call carries the request's principal (make_channel forwards
it) and names the caller as the acting user; identity decides from the caller's role."""

from __future__ import annotations

from collections.abc import Callable

from grpc import aio

from cloudplatform.identity.v1 import admin_service_pb2 as apb
from cloudplatform.identity.v1 import admin_service_pb2_grpc as apb_grpc
from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "identity"


class AdminClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        # A callable, because the channel is opened in the app's lifespan, after wiring.
        self._channel = channel

    def _admin(self) -> apb_grpc.AdminServiceAsyncStub:
        return apb_grpc.AdminServiceStub(self._channel())

    def _identity(self) -> pb_grpc.IdentityServiceAsyncStub:
        return pb_grpc.IdentityServiceStub(self._channel())

    async def search_users(self, request: apb.SearchUsersRequest) -> apb.SearchUsersResponse:
        return await backend_call(BACKEND, self._admin().SearchUsers(request))

    async def get_user(self, acting_user_id: int, user_id: int) -> apb.UserDetails:
        answer = await backend_call(
            BACKEND, self._admin().GetUser(apb.GetUserRequest(acting_user_id=acting_user_id, user_id=user_id))
        )
        return answer.user

    async def set_user_status(
        self, acting_user_id: int, user_id: int, status: pb.UserStatus.ValueType, reason: str
    ) -> apb.UserDetails:
        request = apb.SetUserStatusRequest(acting_user_id=acting_user_id, user_id=user_id, status=status, reason=reason)
        return (await backend_call(BACKEND, self._admin().SetUserStatus(request))).user

    async def erase_user(self, acting_user_id: int, user_id: int) -> apb.EraseUserResponse:
        return await backend_call(
            BACKEND, self._admin().EraseUser(apb.EraseUserRequest(acting_user_id=acting_user_id, user_id=user_id))
        )

    async def list_settings(self, acting_user_id: int) -> list[pb.Setting]:
        answer = await backend_call(
            BACKEND, self._admin().ListSettings(apb.ListSettingsRequest(acting_user_id=acting_user_id))
        )
        return list(answer.settings)

    async def get_setting(self, key: str) -> pb.Setting:
        return (await backend_call(BACKEND, self._identity().GetSetting(pb.GetSettingRequest(key=key)))).setting

    async def set_setting(self, request: pb.SetSettingRequest) -> pb.Setting:
        return (await backend_call(BACKEND, self._identity().SetSetting(request))).setting

    async def list_quotas(self, request: apb.ListQuotasRequest) -> list[pb.Quota]:
        return list((await backend_call(BACKEND, self._admin().ListQuotas(request))).quotas)

    async def set_quota_limit(self, request: apb.SetQuotaLimitRequest) -> pb.Quota:
        return (await backend_call(BACKEND, self._admin().SetQuotaLimit(request))).quota
