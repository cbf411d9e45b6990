"""Wires the identity service together: engine, sessions, a fresh unit of work per call."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from cpshared.db import make_engine, make_session_factory
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


class Identity:
    """What the entrypoints need. A unit of work holds one session, so each use case call
    (each thread) gets its own from :meth:`uow`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = make_session_factory(engine)

    def uow(self) -> IdentityUnitOfWork:
        return IdentityUnitOfWork(self._sessions)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(database_url: str, *, pool_size: int = 5) -> Identity:
    return Identity(make_engine(database_url, pool_size=pool_size))
