"""The system settings a service reads and sets."""

from __future__ import annotations

from dataclasses import replace

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound
from cpshared.events import catalog
from identity_service.domain import commands
from identity_service.domain.model import Setting, parse_setting, setting_text
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork, record


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
        if cmd.sent_as is not None and cmd.sent_as is not setting.type:
            raise InvalidInput(
                f"{cmd.key} is a {setting.type.value} setting, not {cmd.sent_as.value}: "
                f"send a {setting.type.value} value"
            )
        text = setting_text(setting.type, cmd.value)
        parse_setting(setting.type, text)
        if text == setting.value:
            return setting
        changed = replace(setting, value=text, version=setting.version + 1, updated_at=utcnow())
        uow.settings.update(changed)
        payload = ev.SettingChanged(
            key=setting.key, type=setting.type.value, old_value=setting.value or "", new_value=text
        )
        record(uow, catalog.SETTING_CHANGED, setting.key, changed.version, payload)
        uow.commit()
    return changed
