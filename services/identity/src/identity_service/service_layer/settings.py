"""The system settings a service reads and sets."""

from __future__ import annotations

from cpshared.clock import utcnow
from cpshared.errors import NotFound
from identity_service.domain import commands
from identity_service.domain.model import Setting
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


def get_setting(key: str, uow: IdentityUnitOfWork) -> Setting:
    with uow:
        setting = uow.settings.get(key)
    if setting is None:
        raise NotFound(f"there is no setting {key!r}")
    return setting


def set_setting(cmd: commands.SetSetting, uow: IdentityUnitOfWork) -> Setting:
    with uow:
        setting = uow.settings.get(cmd.key, for_update=True)
        if setting is None:
            raise NotFound(f"there is no setting {cmd.key!r}")
        if not setting.set(cmd.value, cmd.sent_as, utcnow()):
            return setting
        uow.settings.update(setting)
        uow.commit()
    return setting
