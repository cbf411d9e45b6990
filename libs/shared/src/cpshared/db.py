"""The database layer: SQLAlchemy 2 engines on PyMySQL and the unit of work.

Each service owns one MariaDB database and reaches it only through its own user. Engines
use pre-ping (a connection dropped by a MariaDB restart is replaced, not handed out) and
retry the first connection with backoff, so a service started before the database, or
across a database restart, waits instead of crashing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from cpshared.events.envelope import PendingEvent
from cpshared.events.outbox import write_events
from cpshared.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")


# MariaDB errors that say nothing about the data being written: the server or the connection
# is unavailable, busy or misconfigured. Retrying the same work later is right; blaming
# (dead-lettering) the event being applied is not.
TRANSIENT_MARIADB_ERRORS = frozenset(
    {
        1021,  # disk full
        1040,  # too many connections
        1041,  # out of memory
        1044,  # access denied to database
        1045,  # access denied for user
        1053,  # server shutdown in progress
        1114,  # table is full
        1142,  # command denied on table
        1143,  # command denied on column
        1205,  # lock wait timeout
        1213,  # deadlock
        1290,  # read-only (a failover in progress)
        1317,  # query interrupted
        1927,  # connection killed
        2002,  # cannot connect through socket
        2003,  # cannot connect
        2006,  # server has gone away
        2013,  # lost connection during query
        2055,  # lost connection
    }
)


TRANSIENT_DB_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError)
"""The exception types a database outage shows up as: retry loops catch these; whether a
particular one is the database's trouble or the data's, :func:`is_transient_db_error` says."""


def is_transient_db_error(exc: BaseException) -> bool:
    """True when ``exc`` is the database's trouble, not the data's: retry, don't blame."""
    if isinstance(exc, sa_exc.InterfaceError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError):
        args: tuple[object, ...] = tuple(getattr(exc.orig, "args", ()))
        return bool(args) and args[0] in TRANSIENT_MARIADB_ERRORS
    return False


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def connect_args(url: str) -> dict[str, object]:
    """PyMySQL's connection options for ``url``.

    PyMySQL tries TLS whenever the server offers it and builds a fresh SSL context (loading
    the system's CA certificates, ~10 ms of CPU) for every new connection. Over loopback TLS
    protects nothing, so it is off there; to any other host it stays on, as PyMySQL prefers.
    """
    args: dict[str, object] = {"charset": "utf8mb4", "connect_timeout": 5}
    if sa.engine.make_url(url).host in LOOPBACK_HOSTS:
        args["ssl_disabled"] = True
    return args


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    """An engine whose pool keeps ``pool_size`` connections open and lends up to twice as many
    more under bursts (those are closed when returned: size the pool for the steady load)."""
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_timeout=10,
        isolation_level="READ COMMITTED",
        connect_args=connect_args(url),
        echo=echo,
    )


def wait_for_database(engine: Engine, *, timeout: float = 60.0) -> None:
    """Block until ``SELECT 1`` succeeds, retrying with jittered backoff up to ``timeout``."""
    for attempt in Retrying(
        retry=retry_if_exception_type(sa_exc.OperationalError),
        wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
        stop=stop_after_delay(timeout),
        before_sleep=before_sleep_log(log, 30),  # logging.WARNING
        reraise=True,
    ):
        with attempt, engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))


def retry_on_disconnect(fn: Callable[[], T], *, timeout: float = 30.0) -> T:
    """Run ``fn`` again when the connection was lost mid-way (MariaDB restarted).

    Only for work that is safe to repeat: a unit of work that failed to commit left nothing.
    """
    for attempt in Retrying(
        retry=retry_if_exception_type((sa_exc.OperationalError, sa_exc.InterfaceError)),
        wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
        stop=stop_after_delay(timeout),
        reraise=True,
    ):
        with attempt:
            return fn()
    raise AssertionError("unreachable")  # pragma: no cover


class SqlAlchemyUnitOfWork:
    """One database transaction: ``with uow: ...; uow.commit()``; leaving without commit rolls back.

    Services subclass it to expose their repositories on ``self.session``. Handlers record
    what happened with :meth:`record`; the events are written to the outbox by
    :meth:`commit`, in the same transaction as the state change, and vanish with a rollback.
    """

    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory
        self._events: list[PendingEvent] = []

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self._events = []
        return self

    def record(self, event: PendingEvent) -> None:
        self._events.append(event)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        if self._events:
            self.session.flush()
            write_events(self.session.connection(), self._events)
        self.session.commit()
        self._events = []

    def rollback(self) -> None:
        self._events = []
        self.session.rollback()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def database_lock_name(prefix: str, database: str) -> str:
    """The name of a MariaDB named lock that guards something of ONE database.

    Named locks are server-wide, not per database: a bare name would make two databases on one
    server (two stacks, or the scratch databases of tests running side by side) wait for each
    other, so the name carries the database (hashed when it would pass MariaDB's 64 characters).
    """
    name = f"{prefix}:{database}"
    if len(name) > 64:
        name = f"{prefix}:{hashlib.sha256(database.encode()).hexdigest()[:40]}"
    return name


def current_database_lock_name(conn: sa.Connection, prefix: str) -> str:
    """:func:`database_lock_name` of the database ``conn`` is connected to."""
    return database_lock_name(prefix, str(conn.execute(sa.text("SELECT DATABASE()")).scalar_one()))


@contextmanager
def database_lock(engine: Engine, prefix: str) -> Iterator[bool]:
    """Try, without waiting, to take the named lock ``prefix`` of ``engine``'s database; yields
    whether this caller holds it (then released on exit). One replica of a keeper or one
    operator command at a time per database."""
    with engine.connect() as conn:
        name = current_database_lock_name(conn, prefix)
        held = conn.execute(sa.text("SELECT GET_LOCK(:name, 0)"), {"name": name}).scalar() == 1
        try:
            yield held
        finally:
            if held:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})
