"""IdentityService's RPCs of system settings."""

from __future__ import annotations

import asyncio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cpshared.errors import InvalidInput
from identity_service.adapters.authorization import require_service
from identity_service.domain import commands
from identity_service.domain.model import SettingType
from identity_service.entrypoints.grpc_identity_base import IdentityRpcs
from identity_service.entrypoints.grpc_messages import Context, setting_message
from identity_service.service_layer import settings


class SettingRpcs(IdentityRpcs):
    async def GetSetting(self, request: pb.GetSettingRequest, context: Context) -> pb.GetSettingResponse:  # noqa: N802
        require_service("GetSetting")
        setting = await asyncio.to_thread(settings.get_setting, request.key, self._identity.uow())
        return pb.GetSettingResponse(setting=setting_message(setting))

    async def SetSetting(self, request: pb.SetSettingRequest, context: Context) -> pb.SetSettingResponse:  # noqa: N802
        require_service("SetSetting")
        which = request.WhichOneof("value")
        if which is None:
            raise InvalidInput("send the new value in the field of the setting's type")
        sent_as = SettingType(which.removesuffix("_value"))
        cmd = commands.SetSetting(key=request.key, value=getattr(request, which), sent_as=sent_as)
        setting = await asyncio.to_thread(settings.set_setting, cmd, self._identity.uow())
        return pb.SetSettingResponse(setting=setting_message(setting))
