"""Identity answering support's mail sender as in the stack: a real identity over gRPC that
trusts support's own service key, and support's :class:`IdentityRecipients` calling it."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from cpshared.auth.principal import TrustedKeys, generate_private_key, load_public_key, write_key_pair
from cpshared.mail import MailSettings
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import UserRole, UserStatus
from identity_service.domain.two_factor import SecretBox
from identity_service.entrypoints.grpc_server import add_servicers as add_identity_servicers
from identity_service.service_layer import accounts, users
from support_service.adapters.recipients import IdentityRecipients
from tests.integration.live import grpc_in_thread

PASSWORD = "notify password 1234"


@contextlib.contextmanager
def identity_for_support(identity_engine: sa.Engine) -> Iterator[tuple[Identity, IdentityRecipients]]:
    with tempfile.TemporaryDirectory() as scratch:
        private, public = write_key_pair(Path(scratch), "service-support")
        signing_key = generate_private_key()
        identity = Identity(identity_engine, signing_key, MailSettings(), SecretBox(os.urandom(32)))
        trusted = TrustedKeys(issuer=signing_key.public_key(), services={"support": load_public_key(public)})
        with grpc_in_thread("identity", lambda server: add_identity_servicers(server, identity), trusted) as address:
            recipients = IdentityRecipients(address, str(private))
            try:
                yield identity, recipients
            finally:
                recipients.close()


def make_user(identity: Identity, *, locale: str = "", timezone: str = "") -> tuple[int, str]:
    """An active client (name with markup, to be escaped); its id and address."""
    address = f"n-{uuid.uuid4().hex[:10]}@example.com"
    cmd = commands.CreateUser(
        name="Nora <b>Notify</b>", email=address, password=PASSWORD, role=UserRole.CLIENT, status=UserStatus.ACTIVE
    )
    user_id = users.create_user(cmd, identity.uow()).id
    wanted = {k: v for k, v in {"locale": locale, "timezone": timezone}.items() if v}
    if wanted:
        accounts.update_profile(user_id, wanted, identity.uow())
    return user_id, address
