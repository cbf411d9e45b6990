"""The identity unit of work on MariaDB: one SQLAlchemy session, the repositories on it, and
the outbox written by the shared unit of work's commit."""

from __future__ import annotations

from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from cpshared.db import SqlAlchemyUnitOfWork
from identity_service.adapters.repository_accounts import AccountRepository
from identity_service.adapters.repository_api_keys import ApiKeyRepository
from identity_service.adapters.repository_dunning import DunningRepository
from identity_service.adapters.repository_invitations import InvitationRepository
from identity_service.adapters.repository_logins import LoginActivityRepository
from identity_service.adapters.repository_organizations import OrganizationRepository
from identity_service.adapters.repository_quotas import QuotaRepository
from identity_service.adapters.repository_settings import SettingRepository
from identity_service.adapters.repository_staff import StaffRepository
from identity_service.adapters.repository_two_factor import TwoFactorRepository
from identity_service.adapters.repository_users import UserRepository
from identity_service.domain.two_factor import SecretBox
from identity_service.service_layer import ports
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


class SqlAlchemyIdentityUnitOfWork(SqlAlchemyUnitOfWork, IdentityUnitOfWork):
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        passwords: ports.PasswordHasher,
        secret_box: SecretBox | None = None,
    ) -> None:
        super().__init__(session_factory)
        self.passwords = passwords
        self.secret_box = secret_box

    def __enter__(self) -> Self:
        super().__enter__()
        self.users = UserRepository(self.session)
        self.organizations = OrganizationRepository(self.session)
        self.api_keys = ApiKeyRepository(self.session)
        self.login_activity = LoginActivityRepository(self.session)
        self.quotas = QuotaRepository(self.session)
        self.settings = SettingRepository(self.session)
        self.invitations = InvitationRepository(self.session)
        self.accounts = AccountRepository(self.session)
        self.staff = StaffRepository(self.session)
        self.two_factor = TwoFactorRepository(self.session)
        self.dunning = DunningRepository(self.session)
        return self

    def commit(self) -> None:
        self.collect_events()
        super().commit()
