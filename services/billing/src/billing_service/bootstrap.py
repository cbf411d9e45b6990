"""Wires the billing service together — the one composition root of every entrypoint (the gRPC
server and its keeper, the operators' CLI): the engine, a fresh unit of work per call, the
invoicing rules, and the per-database named locks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from billing_service.adapters.unit_of_work import BillingUnitOfWork
from billing_service.config import BillingRules
from billing_service.domain.invoice import InvoiceTerms
from cpshared.db import database_lock, make_engine, make_session_factory


class Billing:
    """What the entrypoints need. Building it loads the tax table, so a table that does not
    load stops the start with its reason."""

    def __init__(self, engine: Engine, rules: BillingRules) -> None:
        self.engine = engine
        self.rules = rules
        self.terms: InvoiceTerms = rules.invoice_terms()
        self._sessions = make_session_factory(engine)

    def uow(self) -> BillingUnitOfWork:
        return BillingUnitOfWork(self._sessions)

    @contextmanager
    def exclusive(self, prefix: str) -> Iterator[bool]:
        """Try to take the database's named lock ``prefix``; yields whether this caller holds it."""
        with database_lock(self.engine, prefix) as held:
            yield held

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(database_url: str, rules: BillingRules, *, pool_size: int = 5) -> Billing:
    return Billing(make_engine(database_url, pool_size=pool_size), rules)
