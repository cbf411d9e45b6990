"""The system settings, on the unit of work's session."""

from __future__ import annotations

from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, to_db
from identity_service.adapters.tables import system_settings
from identity_service.domain.model import Setting, SettingType


class SettingRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self.seen: list[Setting] = []

    def get(self, key: str, *, for_update: bool = False) -> Setting | None:
        query = system_settings.select().where(system_settings.c.key == key)
        row = self._session.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            return None
        return Setting(
            key=row.key,
            type=SettingType(row.type),
            value=row.value,
            description=row.description or "",
            version=int(row.version),
            updated_at=from_db(row.updated_at),
        )

    def update(self, setting: Setting) -> None:
        self.seen.append(setting)
        self._session.execute(
            system_settings.update()
            .where(system_settings.c.key == setting.key)
            .values(value=setting.value, version=setting.version, updated_at=to_db(setting.updated_at))
        )
