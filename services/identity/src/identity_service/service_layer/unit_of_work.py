"""The identity unit of work: one transaction, its repositories, and the outbox."""

from __future__ import annotations

from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from cpshared.db import SqlAlchemyUnitOfWork
from identity_service.adapters.repository import (
    ApiKeyRepository,
    LoginActivityRepository,
    OrganizationRepository,
    QuotaRepository,
    SettingRepository,
    UserRepository,
)
from identity_service.adapters.repository_accounts import AccountRepository
from identity_service.adapters.repository_invitations import InvitationRepository
from identity_service.adapters.repository_staff import StaffRepository
from identity_service.adapters.repository_two_factor import TwoFactorRepository
from identity_service.domain.two_factor import SecretBox


class IdentityUnitOfWork(SqlAlchemyUnitOfWork):
    users: UserRepository
    organizations: OrganizationRepository
    api_keys: ApiKeyRepository
    login_activity: LoginActivityRepository
    quotas: QuotaRepository
    settings: SettingRepository
    invitations: InvitationRepository
    accounts: AccountRepository
    staff: StaffRepository
    two_factor: TwoFactorRepository

    def __init__(self, session_factory: sessionmaker[Session], secret_box: SecretBox | None = None) -> None:
        super().__init__(session_factory)
        self.secret_box = secret_box
        """Seals and opens the TOTP secrets at rest; None when no data encryption key is configured."""

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
        return self
