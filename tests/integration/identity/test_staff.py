"""AdminService over real gRPC on a scratch database: account search and status changes by
role, erasure, settings, quota limits, and the API keys' last use written once a minute."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest
import sqlalchemy as sa
from grpc import aio

from cloudplatform.identity.v1 import admin_service_pb2 as apb
from cloudplatform.identity.v1 import admin_service_pb2_grpc as apb_grpc
from cloudplatform.identity.v1 import events_pb2 as ev
from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cpshared.auth.principal import TrustedKeys, generate_private_key, sign, user_principal
from cpshared.clock import ManualClock, set_clock, utcnow
from cpshared.context import PRINCIPAL_HEADER
from cpshared.grpc.server import ServiceIdentity, serve
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import UserRole
from identity_service.entrypoints.grpc_admin import add_admin_servicer
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.service_layer import api_keys, users
from tests.integration.identity.conftest import _free_port
from tests.integration.identity.support import event_types, make_organization, make_user, outbox_events

SIGNING_KEY = generate_private_key()


@dataclass
class Stubs:
    admin: apb_grpc.AdminServiceAsyncStub
    identity: pb_grpc.IdentityServiceAsyncStub


async def _serve(identity: Identity, trusted: TrustedKeys | None) -> AsyncIterator[Stubs]:
    signing = Identity(identity.engine, SIGNING_KEY)
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, signing) + add_admin_servicer(server, signing),
            grace=0.5,
            stop_event=stop,
            trusted=trusted,
        )
    )
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        yield Stubs(apb_grpc.AdminServiceStub(channel), pb_grpc.IdentityServiceStub(channel))
    stop.set()
    await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def stubs(identity: Identity) -> AsyncIterator[Stubs]:
    async for served in _serve(identity, None):
        yield served


@dataclass
class Cast:
    admin: int
    support: int
    billing: int
    client: int
    other_client: int


@pytest.fixture
def cast(identity: Identity) -> Cast:
    return Cast(
        admin=make_user(identity, "root@example.com", UserRole.ADMIN).id,
        support=make_user(identity, "help@example.com", UserRole.SUPPORT).id,
        billing=make_user(identity, "money@example.com", UserRole.BILLING).id,
        client=make_user(identity, "ada@example.com").id,
        other_client=make_user(identity, "bob@example.com").id,
    )


async def refused(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    assert failed.value.code() == code, failed.value.details()
    return failed.value.details() or ""


def status_of(engine: sa.Engine, user_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT status FROM users WHERE id = :id"), {"id": user_id}).scalar_one())


async def set_status(stubs: Stubs, actor: int, user_id: int, status: pb.UserStatus.ValueType) -> apb.UserDetails:
    answer = await stubs.admin.SetUserStatus(
        apb.SetUserStatusRequest(acting_user_id=actor, user_id=user_id, status=status, reason="test"), timeout=10
    )
    return answer.user


async def test_admins_move_accounts_through_every_allowed_status_and_each_change_is_an_event(
    stubs: Stubs, cast: Cast, engine: sa.Engine
) -> None:
    pending = users.create_user(
        commands.CreateUser(name="New", email="new@example.com", password="a long and secret password"),
        Identity(engine).uow(),
    )
    assert (await set_status(stubs, cast.admin, pending.id, pb.USER_STATUS_ACTIVE)).user.status == pb.USER_STATUS_ACTIVE
    assert (await set_status(stubs, cast.admin, pending.id, pb.USER_STATUS_SUSPENDED)).user.status == (
        pb.USER_STATUS_SUSPENDED
    )
    assert (await set_status(stubs, cast.admin, pending.id, pb.USER_STATUS_ACTIVE)).user.status == pb.USER_STATUS_ACTIVE
    assert (await set_status(stubs, cast.admin, pending.id, pb.USER_STATUS_BANNED)).user.status == pb.USER_STATUS_BANNED
    # A banned account cannot be suspended, only activated again (by an admin).
    await refused(
        stubs.admin.SetUserStatus(
            apb.SetUserStatusRequest(acting_user_id=cast.admin, user_id=pending.id, status=pb.USER_STATUS_SUSPENDED)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert (await set_status(stubs, cast.admin, pending.id, pb.USER_STATUS_ACTIVE)).user.status == pb.USER_STATUS_ACTIVE
    # The status it has already: answered unchanged, no event.
    before = len(event_types(engine))
    await set_status(stubs, cast.admin, pending.id, pb.USER_STATUS_ACTIVE)
    assert len(event_types(engine)) == before

    changes = [
        e
        for e in outbox_events(engine)
        if e.envelope.aggregate_id == str(pending.id) and e.event_type != "user.created"
    ]
    assert [e.event_type for e in changes] == [
        "user.activated",
        "user.suspended",
        "user.activated",
        "user.banned",
        "user.activated",
    ]
    first = changes[0].payload
    assert isinstance(first, ev.UserStatusChanged)
    assert (first.user_id, first.old_status, first.new_status, first.reason, first.changed_by_user_id) == (
        pending.id,
        "pending",
        "active",
        "test",
        cast.admin,
    )
    assert [e.envelope.aggregate_version for e in changes] == [2, 3, 4, 5, 6]


async def test_support_suspends_and_activates_clients_only_and_billing_and_clients_change_nothing(
    stubs: Stubs, cast: Cast, engine: sa.Engine
) -> None:
    assert (await set_status(stubs, cast.support, cast.client, pb.USER_STATUS_SUSPENDED)).user.status == (
        pb.USER_STATUS_SUSPENDED
    )
    assert (await set_status(stubs, cast.support, cast.client, pb.USER_STATUS_ACTIVE)).user.status == (
        pb.USER_STATUS_ACTIVE
    )
    cases = [
        (cast.support, cast.client, pb.USER_STATUS_BANNED),  # banning is for admins
        (cast.support, cast.billing, pb.USER_STATUS_SUSPENDED),  # staff are not clients
        (cast.support, cast.support, pb.USER_STATUS_SUSPENDED),  # nobody changes their own status
        (cast.admin, cast.admin, pb.USER_STATUS_SUSPENDED),
        (cast.billing, cast.client, pb.USER_STATUS_SUSPENDED),
        (cast.client, cast.other_client, pb.USER_STATUS_SUSPENDED),
    ]
    for actor, target, status in cases:
        await refused(
            stubs.admin.SetUserStatus(apb.SetUserStatusRequest(acting_user_id=actor, user_id=target, status=status)),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    # Only an admin activates a banned client.
    await set_status(stubs, cast.admin, cast.client, pb.USER_STATUS_BANNED)
    await refused(
        stubs.admin.SetUserStatus(
            apb.SetUserStatusRequest(acting_user_id=cast.support, user_id=cast.client, status=pb.USER_STATUS_ACTIVE)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert status_of(engine, cast.client) == "banned"
    await refused(
        stubs.admin.SetUserStatus(
            apb.SetUserStatusRequest(acting_user_id=cast.admin, user_id=999_999, status=pb.USER_STATUS_ACTIVE)
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_a_suspended_users_api_key_no_longer_gets_a_principal(
    stubs: Stubs, cast: Cast, identity: Identity
) -> None:
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=cast.client, name="ci", scopes=("servers:read",)), identity.uow()
    )
    await stubs.identity.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=secret), timeout=10)
    await set_status(stubs, cast.support, cast.client, pb.USER_STATUS_SUSPENDED)
    await refused(
        stubs.identity.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=secret)),
        grpc.StatusCode.UNAUTHENTICATED,
    )


async def test_staff_search_users_a_page_at_a_time_and_clients_may_not(stubs: Stubs, cast: Cast) -> None:
    search = apb.SearchUsersRequest(acting_user_id=cast.billing, query="EXAMPLE.com", per_page=2, sort=["email:desc"])
    first = await stubs.admin.SearchUsers(search, timeout=10)
    assert (first.page, first.per_page, first.total_entries) == (1, 2, 5)
    assert [u.user.email for u in first.users] == ["root@example.com", "money@example.com"]
    search.page = 3
    last = await stubs.admin.SearchUsers(search, timeout=10)
    assert [u.user.email for u in last.users] == ["ada@example.com"]

    clients = await stubs.admin.SearchUsers(
        apb.SearchUsersRequest(acting_user_id=cast.support, role=pb.USER_ROLE_CLIENT, query="ada@"), timeout=10
    )
    assert [u.user.id for u in clients.users] == [cast.client] and clients.total_entries == 1
    # The wildcard characters of LIKE are searched for as themselves.
    none = await stubs.admin.SearchUsers(apb.SearchUsersRequest(acting_user_id=cast.admin, query="%"), timeout=10)
    assert none.total_entries == 0
    await refused(
        stubs.admin.SearchUsers(apb.SearchUsersRequest(acting_user_id=cast.admin, sort=["password"])),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await refused(
        stubs.admin.SearchUsers(apb.SearchUsersRequest(acting_user_id=cast.client)), grpc.StatusCode.PERMISSION_DENIED
    )
    one = await stubs.admin.GetUser(apb.GetUserRequest(acting_user_id=cast.support, user_id=cast.client), timeout=10)
    assert one.user.user.email == "ada@example.com" and not one.user.deleted and not one.user.two_factor_enabled
    await refused(
        stubs.admin.GetUser(apb.GetUserRequest(acting_user_id=cast.client, user_id=cast.other_client)),
        grpc.StatusCode.PERMISSION_DENIED,
    )


PERSONAL = (
    "password",
    "two_factor_secret",
    "two_factor_recovery_codes",
    "two_factor_confirmed_at",
    "company_name",
    "tax_id",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "workos_id",
    "remember_token",
    "last_login_ip",
)


async def test_erasure_removes_every_personal_field_revokes_keys_and_sessions_and_keeps_ids(
    stubs: Stubs, cast: Cast, engine: sa.Engine, identity: Identity
) -> None:
    ada = cast.client
    now = utcnow().replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE users SET two_factor_secret='s', two_factor_recovery_codes='r', two_factor_confirmed_at=:now, "
                "company_name='Ada Ltd', tax_id='DE1', phone='+49 1', address_line1='Street 1', address_line2='b', "
                "city='Berlin', state='BE', postal_code='10115', country='DE', workos_id='wos_1', "
                "remember_token='tok', last_login_ip='203.0.113.9' WHERE id=:id"
            ),
            {"id": ada, "now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO login_activity (user_id, ip_address, user_agent, success, created_at) "
                "VALUES (:id, '203.0.113.9', 'Firefox', 1, :now)"
            ),
            {"id": ada, "now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO user_sessions (user_id, refresh_hash, ip_address, created_at, expires_at, version) "
                "VALUES (:id, :h, '203.0.113.9', :now, :now, 1)"
            ),
            {"id": ada, "h": "a" * 64, "now": now},
        )
    team = make_organization(engine, cast.other_client, "team")
    alone = make_organization(engine, ada, "alone")
    with engine.begin() as conn:
        for organization, user, role in (
            (team, cast.other_client, "owner"),
            (team, ada, "member"),
            (alone, ada, "owner"),
        ):
            conn.execute(
                sa.text("INSERT INTO organization_users (organization_id, user_id, role) VALUES (:o, :u, :r)"),
                {"o": organization, "u": user, "r": role},
            )
        conn.execute(
            sa.text(
                "INSERT INTO organization_invitations "
                "(organization_id, email, role, token_hash, created_at, expires_at) "
                "VALUES (:o, 'ada@example.com', 'member', :h, :now, :now)"
            ),
            {"o": team, "h": "b" * 64, "now": now},
        )
    keys = [
        api_keys.create_api_key(
            commands.CreateApiKey(user_id=ada, name=f"k{n}", scopes=("servers:read",)), identity.uow()
        )[0].id
        for n in range(2)
    ]

    await refused(
        stubs.admin.EraseUser(apb.EraseUserRequest(acting_user_id=cast.support, user_id=ada)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    erased = await stubs.admin.EraseUser(apb.EraseUserRequest(acting_user_id=cast.admin, user_id=ada), timeout=10)
    assert erased.user.user.id == ada and erased.user.deleted
    assert erased.user.user.name == "Erased user" and erased.user.user.email == f"erased-{ada}@erased.invalid"
    assert erased.user.user.status == pb.USER_STATUS_BANNED
    assert list(erased.sole_member_organization_ids) == [alone]

    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM users WHERE id = :id"), {"id": ada}).mappings().one()
        assert {column: row[column] for column in PERSONAL} == dict.fromkeys(PERSONAL)
        assert row["deleted_at"] is not None and row["status"] == "banned"
        activity = conn.execute(
            sa.text("SELECT ip_address, user_agent FROM login_activity WHERE user_id = :id"), {"id": ada}
        ).all()
        assert activity and all(tuple(a) == ("::", None) for a in activity)
        assert (
            conn.execute(
                sa.text("SELECT COUNT(*) FROM api_keys WHERE user_id = :id AND revoked_at IS NULL"), {"id": ada}
            ).scalar_one()
            == 0
        )
        assert (
            conn.execute(
                sa.text("SELECT COUNT(*) FROM user_sessions WHERE user_id = :id AND revoked_at IS NULL"), {"id": ada}
            ).scalar_one()
            == 0
        )
        assert conn.execute(
            sa.text("SELECT revoked_at IS NOT NULL FROM organization_invitations WHERE organization_id = :o"),
            {"o": team},
        ).scalar_one()
        memberships = (
            conn.execute(sa.text("SELECT organization_id FROM organization_users WHERE user_id = :id"), {"id": ada})
            .scalars()
            .all()
        )
        assert list(memberships) == [alone]

    events = outbox_events(engine)
    revoked = [e for e in events if e.event_type == "api_key.revoked"]
    assert sorted(int(e.envelope.aggregate_id) for e in revoked) == keys
    removed = [e for e in events if e.event_type == "organization.member_removed"]
    assert [e.envelope.aggregate_id for e in removed] == [str(team)]
    (gone,) = [e for e in events if e.event_type == "user.erased"]
    assert isinstance(gone.payload, ev.UserErased)
    assert (gone.payload.user_id, gone.payload.erased_by_user_id) == (ada, cast.admin)
    assert b"ada@example.com" not in gone.payload.SerializeToString()

    # Twice: the same answer, nothing more recorded.
    count = len(events)
    again = await stubs.admin.EraseUser(apb.EraseUserRequest(acting_user_id=cast.admin, user_id=ada), timeout=10)
    assert again.user == erased.user and list(again.sole_member_organization_ids) == [alone]
    assert len(outbox_events(engine)) == count


async def test_an_owner_of_an_organization_with_other_members_is_not_erased(
    stubs: Stubs, cast: Cast, engine: sa.Engine
) -> None:
    team = make_organization(engine, cast.client, "team")
    with engine.begin() as conn:
        for user, role in ((cast.client, "owner"), (cast.other_client, "member")):
            conn.execute(
                sa.text("INSERT INTO organization_users (organization_id, user_id, role) VALUES (:o, :u, :r)"),
                {"o": team, "u": user, "r": role},
            )
    details = await refused(
        stubs.admin.EraseUser(apb.EraseUserRequest(acting_user_id=cast.admin, user_id=cast.client)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "transfer ownership first" in details
    assert status_of(engine, cast.client) == "active"


async def test_admins_list_every_setting_typed(stubs: Stubs, cast: Cast) -> None:
    answer = await stubs.admin.ListSettings(apb.ListSettingsRequest(acting_user_id=cast.admin), timeout=10)
    by_key = {s.key: s for s in answer.settings}
    assert [s.key for s in answer.settings] == sorted(by_key)
    limit = by_key["default_server_limit"]
    assert limit.type == pb.SETTING_TYPE_INTEGER and limit.WhichOneof("value") == "integer_value"
    for actor in (cast.support, cast.billing, cast.client):
        await refused(
            stubs.admin.ListSettings(apb.ListSettingsRequest(acting_user_id=actor)), grpc.StatusCode.PERMISSION_DENIED
        )


async def test_admins_set_quota_limits_and_users_see_their_own_and_their_organizations_quotas(
    stubs: Stubs, cast: Cast, engine: sa.Engine
) -> None:
    team = make_organization(engine, cast.client, "team")
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO organization_users (organization_id, user_id, role) VALUES (:o, :u, 'owner')"),
            {"o": team, "u": cast.client},
        )
    set_mine = apb.SetQuotaLimitRequest(acting_user_id=cast.admin, user_id=cast.client, resource_type="server")
    set_mine.quota_limit = 12
    mine = (await stubs.admin.SetQuotaLimit(set_mine, timeout=10)).quota
    assert (mine.user_id, mine.resource_type, mine.quota_limit) == (cast.client, "server", 12)
    ours = apb.SetQuotaLimitRequest(acting_user_id=cast.admin, organization_id=team, resource_type="volume")
    ours.quota_limit = 3
    await stubs.admin.SetQuotaLimit(ours, timeout=10)
    set_mine.quota_limit = 20
    await stubs.admin.SetQuotaLimit(set_mine, timeout=10)

    changed = [e for e in outbox_events(engine) if e.event_type == "quota.limit_changed"]
    last = changed[-1].payload
    assert isinstance(last, ev.QuotaLimitChanged)
    assert (last.old_limit, last.new_limit, last.changed_by_user_id) == (12, 20, cast.admin)
    assert len(changed) == 3

    own = await stubs.admin.ListQuotas(apb.ListQuotasRequest(acting_user_id=cast.client), timeout=10)
    assert [(q.user_id, q.organization_id, q.resource_type, q.quota_limit) for q in own.quotas] == [
        (cast.client, 0, "server", 20),
        (0, team, "volume", 3),
    ]
    await refused(
        stubs.admin.ListQuotas(apb.ListQuotasRequest(acting_user_id=cast.other_client, organization_id=team)),
        grpc.StatusCode.NOT_FOUND,
    )
    await refused(
        stubs.admin.ListQuotas(apb.ListQuotasRequest(acting_user_id=cast.other_client, user_id=cast.client)),
        grpc.StatusCode.NOT_FOUND,
    )
    theirs = await stubs.admin.ListQuotas(
        apb.ListQuotasRequest(acting_user_id=cast.billing, organization_id=team), timeout=10
    )
    assert [q.resource_type for q in theirs.quotas] == ["volume"]
    for actor in (cast.support, cast.client):
        set_mine.acting_user_id = actor
        await refused(stubs.admin.SetQuotaLimit(set_mine), grpc.StatusCode.PERMISSION_DENIED)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(utcnow())
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def last_use(engine: sa.Engine, key_id: int) -> tuple[object, object]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT last_used_at, last_used_ip FROM api_keys WHERE id = :id"), {"id": key_id}
        ).one()
    return row[0], row[1]


async def test_last_use_of_an_api_key_is_written_once_a_minute_however_often_it_is_exchanged(
    stubs: Stubs, cast: Cast, identity: Identity, engine: sa.Engine, clock: ManualClock
) -> None:
    key, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=cast.client, name="busy", scopes=("servers:read",)), identity.uow()
    )
    assert last_use(engine, key.id) == (None, None)
    await stubs.identity.IssuePrincipal(
        pb.IssuePrincipalRequest(api_key_secret=secret, client_ip="203.0.113.7"), timeout=10
    )
    first = last_use(engine, key.id)
    assert first == (clock.now().replace(tzinfo=None), "203.0.113.7")
    for n in range(20):
        clock.advance(timedelta(seconds=2.5))
        await stubs.identity.IssuePrincipal(
            pb.IssuePrincipalRequest(api_key_secret=secret, client_ip=f"198.51.100.{n}"), timeout=10
        )
    assert last_use(engine, key.id) == first  # 50 s later: nothing written
    clock.advance(timedelta(seconds=11))
    await stubs.identity.IssuePrincipal(
        pb.IssuePrincipalRequest(api_key_secret=secret, client_ip="2001:db8::5"), timeout=10
    )
    assert last_use(engine, key.id) == (clock.now().replace(tzinfo=None), "2001:db8::5")
    shown = await stubs.identity.ListApiKeys(pb.ListApiKeysRequest(user_id=cast.client), timeout=10)
    assert shown.api_keys[0].last_used_ip == "2001:db8::5"


async def test_a_user_principal_acts_only_as_itself(identity: Identity, cast: Cast) -> None:
    trusted = TrustedKeys(issuer=SIGNING_KEY.public_key(), services={})
    as_support = (
        (PRINCIPAL_HEADER, sign(user_principal(user_id=cast.support, role="support", organizations={}), SIGNING_KEY)),
    )
    async for guarded in _serve(identity, trusted):
        await refused(
            guarded.admin.SearchUsers(apb.SearchUsersRequest(acting_user_id=cast.admin), metadata=as_support),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        found = await guarded.admin.SearchUsers(
            apb.SearchUsersRequest(acting_user_id=cast.support), metadata=as_support, timeout=10
        )
        assert found.total_entries == 5
