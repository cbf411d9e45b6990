"""Wires the identity service together: engine, sessions, a fresh unit of work per call."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import sessionmaker

from cpshared.bounded_pool import BoundedPool
from cpshared.db import make_engine, make_session_factory
from cpshared.mail import MailSettings, send_mail
from identity_service.adapters.passwords import Argon2PasswordHasher
from identity_service.adapters.principal_signer import Ed25519PrincipalSigner
from identity_service.adapters.unit_of_work import SqlAlchemyIdentityUnitOfWork
from identity_service.domain.two_factor import SecretBox
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


class Identity:
    """What the entrypoints need. A unit of work holds one session, so each use case call
    (each thread) gets its own from :meth:`uow`.

    ``signing_key`` signs the principal assertions identity issues (``principal_signer``, the
    service layer's ``ports.PrincipalSigner``) and the sessions' tokens; without it IssuePrincipal
    answers UNAVAILABLE and the rest of the service works as before. ``mail`` says where mail
    (verification links, invitations) goes; the defaults name the local SMTP sink.
    ``secret_box`` encrypts TOTP secrets at rest; without it the two-factor RPCs answer
    UNAVAILABLE. Every unit of work hashes and checks passwords with argon2id
    (``passwords``, the service layer's ``ports.PasswordHasher``); the calls that do
    (sign-up, sign-in, password and two-factor checks) run on ``credentials``, a
    :class:`cpshared.bounded_pool.BoundedPool` of their own, so a flood of sign-ins is refused
    with RESOURCE_EXHAUSTED (429 at the gateway) instead of taking every thread of the service."""

    def __init__(
        self,
        engine: Engine,
        signing_key: Ed25519PrivateKey | None = None,
        mail: MailSettings | None = None,
        secret_box: SecretBox | None = None,
        *,
        credential_workers: int = 2,
        credential_waiting: int = 8,
    ) -> None:
        self.engine = engine
        self.credentials = BoundedPool(
            "identity-credentials",
            workers=credential_workers,
            waiting=credential_waiting,
            busy_message="identity is busy checking other credentials; nothing was changed",
        )
        self.signing_key = signing_key
        self.principal_signer = None if signing_key is None else Ed25519PrincipalSigner(signing_key)
        self.mail = mail or MailSettings()
        self.secret_box = secret_box
        self.passwords = Argon2PasswordHasher()
        self._sessions = make_session_factory(engine)

    def uow(self) -> IdentityUnitOfWork:
        return SqlAlchemyIdentityUnitOfWork(self._sessions, self.passwords, self.secret_box)

    def send_mail(self, to: str, subject: str, body: str) -> str:
        """Send one mail over SMTP (blocking: call it from a worker thread, after the commit)."""
        return send_mail(self.mail, to, subject, body)

    def close(self) -> None:
        self.credentials.close()
        self.engine.dispose()


def bootstrap(
    database_url: str,
    *,
    pool_size: int = 5,
    signing_key: Ed25519PrivateKey | None = None,
    mail: MailSettings | None = None,
    secret_box: SecretBox | None = None,
    credential_workers: int = 2,
    credential_waiting: int = 8,
) -> Identity:
    return Identity(
        make_engine(database_url, pool_size=pool_size),
        signing_key,
        mail,
        secret_box,
        credential_workers=credential_workers,
        credential_waiting=credential_waiting,
    )


def uow_on(conn: Connection, passwords: Argon2PasswordHasher | None = None) -> IdentityUnitOfWork:
    """A unit of work inside an open transaction (a projection's, with its inbox rows): its
    commit releases a savepoint and its rollback returns to it; the transaction's owner commits."""
    sessions = sessionmaker(
        bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
    )
    return SqlAlchemyIdentityUnitOfWork(sessions, passwords or Argon2PasswordHasher())
