"""Billing's unit of work on MariaDB: one transaction (cpshared's SqlAlchemyUnitOfWork), its
repositories, and the outbox written by cpshared's unit of work on commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from billing_service import SERVICE_NAME
from billing_service.adapters.repositories import (
    SqlAccountRepository,
    SqlCreditRepository,
    SqlInvoiceRepository,
    SqlNumberSequences,
    SqlPaymentMethodRepository,
    SqlPricingPlanRepository,
    SqlScheduleRepository,
    SqlUsageRepository,
)
from billing_service.domain.events import DomainEvent
from billing_service.service_layer.ports import AbstractUnitOfWork
from cpshared.db import SqlAlchemyUnitOfWork
from cpshared.events.envelope import new_event


class BillingUnitOfWork(AbstractUnitOfWork):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._transaction = SqlAlchemyUnitOfWork(session_factory)

    @property
    def session(self) -> Session:
        return self._transaction.session

    def __enter__(self) -> Self:
        self._transaction.__enter__()
        session = self._transaction.session
        self.invoices = SqlInvoiceRepository(session)
        self.usage = SqlUsageRepository(session)
        self.credits = SqlCreditRepository(session)
        self.pricing_plans = SqlPricingPlanRepository(session)
        self.payment_methods = SqlPaymentMethodRepository(session)
        self.accounts = SqlAccountRepository(session)
        self.numbers = SqlNumberSequences(session)
        self.schedule = SqlScheduleRepository(session)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._transaction.__exit__(None, None, None)

    def _write_events(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            self._transaction.record(
                new_event(
                    event.spec,
                    producer=SERVICE_NAME,
                    aggregate_id=event.aggregate_id,
                    aggregate_version=event.version,
                    payload=event.payload,
                )
            )

    def _commit(self) -> None:
        self._transaction.commit()

    def rollback(self) -> None:
        self._transaction.rollback()
