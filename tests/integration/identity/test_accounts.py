"""AccountService: sign-up, email verification through the real SMTP sink, sessions with
refresh-token rotation, profile and password, on a scratch identity database over real gRPC."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import grpc
import pytest
import sqlalchemy as sa
from grpc import aio

from cloudctl.infra.mailsink import MailSink
from cloudctl.paths import LocalPaths
from cloudplatform.identity.v1 import account_service_pb2 as pb
from cloudplatform.identity.v1 import account_service_pb2_grpc as pb_grpc
from cloudplatform.identity.v1 import events_pb2 as ev
from cloudplatform.identity.v1 import identity_service_pb2 as id_pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as id_pb_grpc
from cpshared.auth.principal import generate_private_key, verify
from cpshared.auth.session_token import peek_access_token
from cpshared.clock import ManualClock, set_clock, utcnow
from cpshared.errors import InvalidInput
from cpshared.grpc.server import ServiceIdentity, serve
from identity_service.bootstrap import Identity
from identity_service.domain.model import UserStatus
from identity_service.entrypoints.grpc_accounts import add_account_servicer
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.service_layer import accounts
from tests.integration.identity.conftest import _free_port
from tests.integration.identity.support import PASSWORD, make_user, outbox_events

SIGNING_KEY = generate_private_key()
TOKEN_IN_MAIL = re.compile(r"/v1/auth/verify\?token=([A-Za-z0-9_\-]+)")


def unique_email(name: str = "ada") -> str:
    # The SMTP sink's Maildir is shared by every test run: each test mails its own address.
    return f"{name}-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def signing(identity: Identity) -> Identity:
    return Identity(identity.engine, SIGNING_KEY, identity.mail)


@pytest.fixture
async def channel(signing: Identity) -> AsyncIterator[aio.Channel]:
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, signing) + add_account_servicer(server, signing),
            grace=0.5,
            stop_event=stop,
        )
    )
    async with aio.insecure_channel(address) as opened:
        await asyncio.wait_for(opened.channel_ready(), timeout=10)
        yield opened
    stop.set()
    await asyncio.wait_for(task, timeout=10)


@pytest.fixture
def stub(channel: aio.Channel) -> pb_grpc.AccountServiceAsyncStub:
    return pb_grpc.AccountServiceStub(channel)


@pytest.fixture
def identity_stub(channel: aio.Channel) -> id_pb_grpc.IdentityServiceAsyncStub:
    return id_pb_grpc.IdentityServiceStub(channel)


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    clock = ManualClock(utcnow())
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def mail_token(paths: LocalPaths, email: str) -> str:
    mail = MailSink(paths.root).wait_for(email, "Verify your email address")
    found = TOKEN_IN_MAIL.search(mail.body)
    assert found, mail.body
    return found.group(1)


def set_setting(engine: sa.Engine, key: str, value: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE system_settings SET value = :v WHERE `key` = :k"), {"v": value, "k": key})


async def sign_in(stub: pb_grpc.AccountServiceAsyncStub, email: str) -> pb.CreateSessionResponse:
    answer: pb.CreateSessionResponse = await stub.CreateSession(
        pb.CreateSessionRequest(email=email, password=PASSWORD, ip="203.0.113.10", user_agent="pytest"), timeout=10
    )
    return answer


async def test_sign_up_mails_a_link_whose_token_verifies_and_activates_the_account(
    stub: pb_grpc.AccountServiceAsyncStub, engine: sa.Engine, paths: LocalPaths
) -> None:
    email = unique_email()
    signed_up = await stub.SignUp(
        pb.SignUpRequest(name="Ada", email=email, password=PASSWORD, ip="203.0.113.10"), timeout=10
    )
    assert signed_up.profile.status == id_pb.USER_STATUS_PENDING
    assert not signed_up.profile.HasField("email_verified_at")
    token = mail_token(paths, email)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM email_verifications")).scalars().all()
    assert stored and token not in stored  # only the digest is kept

    with pytest.raises(grpc.aio.AioRpcError) as pending:
        await sign_in(stub, email)
    assert pending.value.code() == grpc.StatusCode.PERMISSION_DENIED

    verified = await stub.VerifyEmail(pb.VerifyEmailRequest(token=token), timeout=10)
    assert verified.profile.status == id_pb.USER_STATUS_ACTIVE
    assert verified.profile.HasField("email_verified_at")
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stub.VerifyEmail(pb.VerifyEmailRequest(token=token), timeout=10)
    assert again.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "used already" in (again.value.details() or "")

    session = await sign_in(stub, email)
    assert session.tokens.access_token.startswith("cps1.")
    types = [e.event_type for e in outbox_events(engine)]
    assert types == [
        "user.created",
        "user.login_failed",  # the pending account's attempt
        "user.email_verified",
        "user.login_succeeded",
        "user.session_created",
    ]


async def test_sign_up_with_an_email_that_has_an_account_answers_alike_and_mails_its_owner(
    stub: pb_grpc.AccountServiceAsyncStub, engine: sa.Engine, paths: LocalPaths
) -> None:
    email = unique_email()
    await stub.SignUp(pb.SignUpRequest(name="Ada", email=email, password=PASSWORD, ip="203.0.113.10"), timeout=10)
    mail_token(paths, email)
    again = await stub.SignUp(
        pb.SignUpRequest(name="Eve", email=email.upper(), password="another long password", ip="203.0.113.66"),
        timeout=10,
    )
    # No error, no account: the owner is told instead (the gateway answers 202 either way).
    assert not again.HasField("profile")
    notice = MailSink(paths.root).wait_for(email, "You already have an account")
    assert "sign in" in notice.body and "nothing was changed" in notice.body
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one() == 1
    assert [e.event_type for e in outbox_events(engine)] == ["user.created"]


@pytest.mark.parametrize(
    ("password", "refusal"),
    [
        ("short", "8 to 1024 characters"),
        ("password", "most common breached passwords"),
        ("12345678", "most common breached passwords"),
        ("Iloveyou!", "most common breached passwords"),
        ("grace-hopper@example.com", "email address or your name"),
        ("grace.hopper.1906", "email address or your name"),
    ],
)
async def test_sign_up_and_password_changes_keep_to_the_password_policy(
    stub: pb_grpc.AccountServiceAsyncStub, signing: Identity, password: str, refusal: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.SignUp(
            pb.SignUpRequest(name="Grace Hopper", email="grace-hopper@example.com", password=password), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refusal in (refused.value.details() or "")
    grace = make_user(signing, email="grace-hopper@example.com")
    with pytest.raises(InvalidInput, match=refusal):
        accounts.change_password(grace.id, PASSWORD, password, 0, signing.uow())


async def test_sign_up_is_refused_when_signup_enabled_is_false(
    stub: pb_grpc.AccountServiceAsyncStub, engine: sa.Engine
) -> None:
    set_setting(engine, "signup_enabled", "false")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.SignUp(pb.SignUpRequest(name="Ada", email=unique_email(), password=PASSWORD), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "sign-up is closed" in (refused.value.details() or "")


async def test_unknown_and_expired_verification_tokens_are_refused(
    signing: Identity, manual_clock: ManualClock
) -> None:
    with pytest.raises(InvalidInput, match="not valid"):
        accounts.verify_email("no-such-token", signing.uow())
    _, mail = accounts.sign_up(accounts.SignUp(name="Ada", email=unique_email(), password=PASSWORD), signing.uow())
    manual_clock.advance(timedelta(hours=24, seconds=1))
    assert mail.token is not None
    with pytest.raises(InvalidInput, match="expired"):
        accounts.verify_email(mail.token, signing.uow())


async def test_resend_answers_alike_and_mails_only_pending_accounts_once_a_minute(
    stub: pb_grpc.AccountServiceAsyncStub, signing: Identity, manual_clock: ManualClock, paths: LocalPaths
) -> None:
    email = unique_email()
    accounts.sign_up(accounts.SignUp(name="Ada", email=email, password=PASSWORD), signing.uow())
    await stub.ResendVerification(pb.ResendVerificationRequest(email=unique_email("nobody")), timeout=10)
    assert accounts.resend_verification(email, signing.uow()) is None  # within the minute of the sign-up
    manual_clock.advance(timedelta(minutes=1))
    await stub.ResendVerification(pb.ResendVerificationRequest(email=email), timeout=10)
    token = mail_token(paths, email)
    assert accounts.verify_email(token, signing.uow()).status is UserStatus.ACTIVE
    manual_clock.advance(timedelta(minutes=5))
    assert accounts.resend_verification(email, signing.uow()) is None  # active now: no more links


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(
    stub: pb_grpc.AccountServiceAsyncStub, signing: Identity, engine: sa.Engine
) -> None:
    email = unique_email()
    make_user(signing, email=email)
    first = await sign_in(stub, email)
    refreshed = await stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=first.tokens.refresh_token, ip="::1"))
    assert refreshed.tokens.refresh_token != first.tokens.refresh_token
    assert refreshed.session.id == first.session.id and refreshed.session.ip_address == "::1"

    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=first.tokens.refresh_token, ip="::1"))
    assert reused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "used already" in (reused.value.details() or "")
    # The thief's copy ended the session for the rightful holder too.
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=refreshed.tokens.refresh_token, ip="::1"))
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
    revoked = [e for e in outbox_events(engine) if e.event_type == "user.session_revoked"]
    assert len(revoked) == 1
    payload = revoked[0].payload
    assert isinstance(payload, ev.UserSessionRevoked)
    assert payload.reason == "refresh_token_reused" and payload.session_id == first.session.id

    with pytest.raises(grpc.aio.AioRpcError) as forged:
        await stub.RefreshSession(pb.RefreshSessionRequest(refresh_token="cpr_" + "A" * 75, ip="::1"))
    assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_session_token_is_exchanged_for_a_user_principal_until_the_session_is_revoked(
    stub: pb_grpc.AccountServiceAsyncStub, identity_stub: id_pb_grpc.IdentityServiceAsyncStub, signing: Identity
) -> None:
    email = unique_email()
    ada = make_user(signing, email=email)
    opened = await sign_in(stub, email)
    claims = peek_access_token(opened.tokens.access_token)
    assert (claims.session_id, claims.user_id) == (opened.session.id, ada.id)
    assert claims.expires_at - claims.issued_at == timedelta(minutes=15)

    issued = await identity_stub.IssuePrincipal(id_pb.IssuePrincipalRequest(session_token=opened.tokens.access_token))
    principal = verify(issued.principal, SIGNING_KEY.public_key())
    assert (principal.user_id, principal.api_key_id, principal.role) == (ada.id, 0, "client")
    assert principal.scopes == ("*:read", "*:write")

    await stub.RevokeSession(pb.RevokeSessionRequest(session_id=opened.session.id, user_id=ada.id))
    await stub.RevokeSession(pb.RevokeSessionRequest(session_id=opened.session.id, user_id=ada.id))  # idempotent
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await identity_stub.IssuePrincipal(id_pb.IssuePrincipalRequest(session_token=opened.tokens.access_token))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    forged = opened.tokens.access_token[:-4] + ("AAAA" if not opened.tokens.access_token.endswith("AAAA") else "BBBB")
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await identity_stub.IssuePrincipal(id_pb.IssuePrincipalRequest(session_token=forged))
    assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_another_users_session_answers_not_found(
    stub: pb_grpc.AccountServiceAsyncStub, signing: Identity
) -> None:
    ada_email, bob_email = unique_email("ada"), unique_email("bob")
    make_user(signing, email=ada_email)
    bob = make_user(signing, email=bob_email)
    adas = await sign_in(stub, ada_email)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.RevokeSession(pb.RevokeSessionRequest(session_id=adas.session.id, user_id=bob.id))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListSessions(pb.ListSessionsRequest(user_id=bob.id))
    assert list(listed.sessions) == []


async def test_profile_updates_are_checked_and_the_event_names_only_the_fields(
    stub: pb_grpc.AccountServiceAsyncStub, signing: Identity, engine: sa.Engine
) -> None:
    ada = make_user(signing, email=unique_email())
    answer = await stub.UpdateProfile(
        pb.UpdateProfileRequest(user_id=ada.id, city="Berlin", country="de", timezone="Europe/Berlin", phone="")
    )
    assert (answer.profile.city, answer.profile.country, answer.profile.timezone) == ("Berlin", "DE", "Europe/Berlin")
    for bad in (
        pb.UpdateProfileRequest(user_id=ada.id, country="XX"),
        pb.UpdateProfileRequest(user_id=ada.id, timezone="Mars/Olympus"),
        pb.UpdateProfileRequest(user_id=ada.id, name=""),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.UpdateProfile(bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    cleared = await stub.UpdateProfile(pb.UpdateProfileRequest(user_id=ada.id, city=""))
    assert cleared.profile.city == "" and cleared.profile.country == "DE"

    updates = [e for e in outbox_events(engine) if e.event_type == "user.profile_updated"]
    payloads = [e.payload for e in updates]
    assert all(isinstance(p, ev.UserProfileUpdated) for p in payloads)
    assert [list(p.changed_fields) for p in payloads] == [["city", "country", "timezone"], ["city"]]  # type: ignore[attr-defined]
    assert all(b"Berlin" not in e.envelope.SerializeToString() for e in updates)
    # Billing taxes by country and VAT id: a change of either carries its new value.
    first, second = (p for p in payloads if isinstance(p, ev.UserProfileUpdated))
    assert first.HasField("country") and first.country == "DE" and not first.HasField("tax_id")
    assert not second.HasField("country")


async def test_changing_the_password_revokes_every_other_session(
    stub: pb_grpc.AccountServiceAsyncStub, signing: Identity
) -> None:
    email = unique_email()
    ada = make_user(signing, email=email)
    kept, other = await sign_in(stub, email), await sign_in(stub, email)
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await stub.ChangePassword(
            pb.ChangePasswordRequest(user_id=ada.id, current_password="not it at all", new_password="x" * 12)
        )
    assert wrong.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    changed = await stub.ChangePassword(
        pb.ChangePasswordRequest(
            user_id=ada.id,
            current_password=PASSWORD,
            new_password="an entirely new password",
            keep_session_id=kept.session.id,
        )
    )
    assert changed.revoked_sessions == 1
    live = await stub.ListSessions(pb.ListSessionsRequest(user_id=ada.id))
    assert [s.id for s in live.sessions] == [kept.session.id]
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=other.tokens.refresh_token, ip="::1"))
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await stub.CreateSession(
        pb.CreateSessionRequest(email=email, password="an entirely new password", ip="203.0.113.10")
    )


async def test_a_password_reset_token_is_made_for_active_accounts_once_a_minute_under_the_policy(
    signing: Identity, manual_clock: ManualClock
) -> None:
    email = unique_email()
    ada = make_user(signing, email=email)
    mail = accounts.request_password_reset(email.upper(), signing.uow())
    assert mail is not None and mail.to == email and mail.minutes == 30
    assert accounts.request_password_reset(email, signing.uow()) is None  # within the minute
    assert accounts.request_password_reset(unique_email("nobody"), signing.uow()) is None
    assert accounts.request_password_reset("not an email", signing.uow()) is None

    # The password policy applies, and a refusal leaves the token usable.
    with pytest.raises(InvalidInput, match="password"):
        accounts.confirm_password_reset(mail.token or "", "short", signing.uow())
    with pytest.raises(InvalidInput, match="token"):
        accounts.confirm_password_reset("", "a new and long password", signing.uow())
    profile, revoked = accounts.confirm_password_reset(mail.token or "", "a new and long password", signing.uow())
    assert (profile.id, revoked) == (ada.id, 0)

    # A suspended account is mailed nothing, and an open token of it is refused.
    manual_clock.advance(timedelta(minutes=1))
    pending = accounts.request_password_reset(email, signing.uow())
    assert pending is not None
    with signing.engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET status = 'suspended' WHERE id = :id"), {"id": ada.id})
    with pytest.raises(InvalidInput, match="suspended"):
        accounts.confirm_password_reset(pending.token or "", "yet another long password", signing.uow())
    manual_clock.advance(timedelta(minutes=1))
    assert accounts.request_password_reset(email, signing.uow()) is None
