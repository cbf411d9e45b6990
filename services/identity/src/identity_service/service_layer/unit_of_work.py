"""The identity unit of work as the service layer sees it: one transaction, its repositories
(the ports in :mod:`identity_service.service_layer.ports`) and the outbox. The MariaDB one is
:class:`identity_service.adapters.unit_of_work.SqlAlchemyIdentityUnitOfWork`, wired by the
bootstrap; unit tests use an in-memory fake."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum
from types import TracebackType
from typing import Self

from google.protobuf.message import Message

from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.events.registry import EventSpec
from cpshared.timestamps import to_timestamp
from identity_service import SERVICE_NAME
from identity_service.domain import events
from identity_service.domain.aggregate import Aggregate
from identity_service.domain.two_factor import SecretBox
from identity_service.service_layer import ports


class IdentityUnitOfWork(abc.ABC):
    """``with uow: ...; uow.commit()``; leaving without commit rolls back. What happened is
    recorded as events that :meth:`commit` writes to the outbox in the same transaction: the
    events the aggregates recorded themselves (collected by :meth:`collect_events`, which
    every implementation's commit calls first)."""

    users: ports.UserRepository
    organizations: ports.OrganizationRepository
    api_keys: ports.ApiKeyRepository
    login_activity: ports.LoginActivityRepository
    quotas: ports.QuotaRepository
    settings: ports.SettingRepository
    invitations: ports.InvitationRepository
    accounts: ports.AccountRepository
    staff: ports.StaffRepository
    two_factor: ports.TwoFactorRepository
    dunning: ports.DunningRepository
    passwords: ports.PasswordHasher
    """Hashes and checks passwords (the bootstrap gives argon2id)."""
    secret_box: SecretBox | None
    """Seals and opens the TOTP secrets at rest; None when no data encryption key is configured."""

    @abc.abstractmethod
    def __enter__(self) -> Self: ...

    @abc.abstractmethod
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    @abc.abstractmethod
    def record(self, event: PendingEvent) -> None:
        """Into the outbox of this transaction; :meth:`collect_events` records the aggregates' events through it."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Collect the aggregates' events, then write state and outbox in one transaction."""

    def seen(self) -> Iterable[Aggregate]:
        """The aggregates this unit of work's repositories added or saved."""
        yield from self.users.seen
        yield from self.organizations.seen
        yield from self.api_keys.seen
        yield from self.quotas.seen
        yield from self.settings.seen
        yield from self.accounts.seen
        yield from self.two_factor.seen

    def collect_events(self) -> None:
        """The events the aggregates saved in this unit of work recorded, into the outbox, in
        the order they were recorded."""
        pending = [(recorded, aggregate) for aggregate in self.seen() for recorded in aggregate.pop_events()]
        for recorded, aggregate in sorted(pending, key=lambda pair: pair[0].order):
            spec = EVENT_CONTRACTS[type(recorded.event)]
            self.record(
                new_event(
                    spec,
                    producer=SERVICE_NAME,
                    aggregate_id=aggregate.aggregate_id,
                    aggregate_version=recorded.version,
                    payload=contract_payload(spec, recorded.event),
                )
            )

    @abc.abstractmethod
    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], IdentityUnitOfWork]


EVENT_CONTRACTS: dict[type[events.IdentityEvent], EventSpec] = {
    events.LoginSucceeded: catalog.USER_LOGIN_SUCCEEDED,
    events.LoginFailed: catalog.USER_LOGIN_FAILED,
    events.Locked: catalog.USER_LOCKED,
    events.UserCreated: catalog.USER_CREATED,
    events.UserActivated: catalog.USER_ACTIVATED,
    events.UserSuspended: catalog.USER_SUSPENDED,
    events.UserBanned: catalog.USER_BANNED,
    events.UserErased: catalog.USER_ERASED,
    events.EmailVerified: catalog.USER_EMAIL_VERIFIED,
    events.ProfileUpdated: catalog.USER_PROFILE_UPDATED,
    events.PasswordChanged: catalog.USER_PASSWORD_CHANGED,
    events.PasswordReset: catalog.USER_PASSWORD_RESET,
    events.TwoFactorEnabled: catalog.USER_TWO_FACTOR_ENABLED,
    events.TwoFactorDisabled: catalog.USER_TWO_FACTOR_DISABLED,
    events.RecoveryCodesRegenerated: catalog.USER_RECOVERY_CODES_REGENERATED,
    events.OrganizationCreated: catalog.ORGANIZATION_CREATED,
    events.OrganizationMemberAdded: catalog.ORGANIZATION_MEMBER_ADDED,
    events.OrganizationMemberRoleChanged: catalog.ORGANIZATION_MEMBER_ROLE_CHANGED,
    events.OrganizationMemberRemoved: catalog.ORGANIZATION_MEMBER_REMOVED,
    events.OrganizationOwnershipTransferred: catalog.ORGANIZATION_OWNERSHIP_TRANSFERRED,
    events.OrganizationMemberInvited: catalog.ORGANIZATION_MEMBER_INVITED,
    events.OrganizationInvitationRevoked: catalog.ORGANIZATION_INVITATION_REVOKED,
    events.OrganizationInvitationAccepted: catalog.ORGANIZATION_INVITATION_ACCEPTED,
    events.OrganizationUpdated: catalog.ORGANIZATION_UPDATED,
    events.OrganizationMemberPermissionsChanged: catalog.ORGANIZATION_MEMBER_PERMISSIONS_CHANGED,
    events.OrganizationSuspended: catalog.ORGANIZATION_SUSPENDED,
    events.OrganizationActivated: catalog.ORGANIZATION_ACTIVATED,
    events.OrganizationTrialEnded: catalog.ORGANIZATION_TRIAL_ENDED,
    events.ApiKeyCreated: catalog.API_KEY_CREATED,
    events.ApiKeyRevoked: catalog.API_KEY_REVOKED,
    events.ApiKeyUpdated: catalog.API_KEY_UPDATED,
    events.ApiKeyRotated: catalog.API_KEY_ROTATED,
    events.SessionCreated: catalog.USER_SESSION_CREATED,
    events.SessionRefreshed: catalog.USER_SESSION_REFRESHED,
    events.SessionRevoked: catalog.USER_SESSION_REVOKED,
    events.QuotaReserved: catalog.QUOTA_RESERVED,
    events.QuotaReleased: catalog.QUOTA_RELEASED,
    events.QuotaLimitChanged: catalog.QUOTA_LIMIT_CHANGED,
    events.SettingChanged: catalog.SETTING_CHANGED,
}
"""Each event an identity aggregate records, as the contract's event type (and payload message)."""


def contract_payload(spec: EventSpec, event: events.IdentityEvent) -> Message:
    """``event`` as ``spec``'s payload message: field by field, by name. A time becomes a
    Timestamp, an enum its value, a tuple a repeated field; None leaves the field unset (for
    a number that is 0, for an ``optional`` field "not sent")."""
    fields: dict[str, object] = {}
    for name, value in dataclasses.asdict(event).items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = to_timestamp(value)
        elif isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        fields[name] = value
    return spec.message(**fields)
