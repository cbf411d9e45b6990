"""The identity unit of work as the service layer sees it: one transaction, its repositories
(the ports in :mod:`identity_service.service_layer.ports`) and the outbox. The MariaDB one is
:class:`identity_service.adapters.unit_of_work.SqlAlchemyIdentityUnitOfWork`, wired by the
bootstrap; unit tests use an in-memory fake."""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from google.protobuf.message import Message

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.events.registry import EventSpec
from cpshared.timestamps import to_timestamp
from identity_service import SERVICE_NAME
from identity_service.domain.events import Locked, LoginFailed, LoginSucceeded
from identity_service.domain.two_factor import SecretBox
from identity_service.service_layer import ports


class IdentityUnitOfWork(abc.ABC):
    """``with uow: ...; uow.commit()``; leaving without commit rolls back. What happened is
    recorded as events that :meth:`commit` writes to the outbox in the same transaction: the
    events the aggregates recorded themselves (collected by :meth:`collect_events`, which
    every implementation's commit calls first) and those a use case records with :func:`record`."""

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
    secret_box: SecretBox | None
    """Seals and opens the TOTP secrets at rest; None when no data encryption key is configured."""

    @abc.abstractmethod
    def __enter__(self) -> Self: ...

    @abc.abstractmethod
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    @abc.abstractmethod
    def record(self, event: PendingEvent) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None:
        """Collect the aggregates' events, then write state and outbox in one transaction."""

    def collect_events(self) -> None:
        """The events the aggregates saved in this unit of work recorded, into the outbox, in order."""
        for user in self.users.seen:
            for recorded in user.pop_events():
                spec, payload = USER_EVENT_CONTRACTS[type(recorded.event)]
                record(self, spec, user.id, recorded.version, payload(recorded.event))

    @abc.abstractmethod
    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], IdentityUnitOfWork]


def record(uow: IdentityUnitOfWork, spec: EventSpec, aggregate_id: int | str, version: int, payload: Message) -> None:
    """Record one identity event of ``aggregate_id`` at ``version`` in ``uow``'s outbox."""
    uow.record(
        new_event(spec, producer=SERVICE_NAME, aggregate_id=aggregate_id, aggregate_version=version, payload=payload)
    )


USER_EVENT_CONTRACTS: dict[type, tuple[EventSpec, Callable[[Any], Message]]] = {
    LoginSucceeded: (
        catalog.USER_LOGIN_SUCCEEDED,
        lambda e: ev.UserLoginSucceeded(user_id=e.user_id, login_activity_id=e.login_activity_id, ip=e.ip),
    ),
    LoginFailed: (
        catalog.USER_LOGIN_FAILED,
        lambda e: ev.UserLoginFailed(
            user_id=e.user_id,
            login_activity_id=e.login_activity_id,
            ip=e.ip,
            reason=e.reason,
            failed_logins=e.failed_logins,
        ),
    ),
    Locked: (
        catalog.USER_LOCKED,
        lambda e: ev.UserLocked(
            user_id=e.user_id,
            ip=e.ip,
            reason=e.reason,
            failed_logins=e.failed_logins,
            locked_until=to_timestamp(e.locked_until),
        ),
    ),
}
"""Each event the user aggregate records, as the contract's event type and payload."""
