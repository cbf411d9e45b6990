"""Organizations and their members on the real MariaDB: slugs, roles, one owner, the outbox."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.errors import AlreadyExists, Forbidden, InvalidInput, NotFound, PreconditionFailed
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import OrganizationRole, UserStatus
from identity_service.service_layer import organizations, users
from tests.integration.identity.support import PASSWORD, event_types, make_user, outbox_events

OWNER, ADMIN, MEMBER, BILLING = (
    OrganizationRole.OWNER,
    OrganizationRole.ADMIN,
    OrganizationRole.MEMBER,
    OrganizationRole.BILLING,
)


def create(identity: Identity, owner_id: int, slug: str = "acme") -> int:
    organization, _ = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=owner_id, name="Acme", slug=slug), identity.uow()
    )
    return organization.id


def add(identity: Identity, actor: int, org: int, user: int, role: OrganizationRole = MEMBER) -> None:
    organizations.add_member(commands.AddMember(actor, org, user, role), identity.uow())


def roles(identity: Identity, actor: int, org: int) -> dict[int, OrganizationRole]:
    _, members = organizations.get_organization(actor, org, identity.uow())
    return {m.user_id: m.role for m in members}


@pytest.fixture
def people(identity: Identity) -> tuple[int, int, int, int]:
    """Four active users: owner-to-be, admin-to-be, member-to-be and an outsider."""
    return tuple(make_user(identity, email=f"u{i}@example.com").id for i in range(4))  # type: ignore[return-value]


def test_the_creator_becomes_the_one_owner_and_organization_created_is_recorded(
    identity: Identity, engine: sa.Engine, people: tuple[int, ...]
) -> None:
    owner = people[0]
    organization, membership = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=owner, name="  Acme Cloud ", slug="acme-cloud"), identity.uow()
    )
    assert (organization.name, organization.slug, organization.owner_id) == ("Acme Cloud", "acme-cloud", owner)
    assert (membership.user_id, membership.role, membership.invited_by) == (owner, OWNER, None)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT user_id, role FROM organization_users")).all()
    assert [tuple(r) for r in stored] == [(owner, "owner")]
    event = outbox_events(engine)[-1]
    assert event.event_type == "organization.created" and event.envelope.aggregate_id == str(organization.id)
    assert event.payload == ev.OrganizationCreated(
        organization_id=organization.id, owner_user_id=owner, status="active"
    )


def test_a_taken_slug_is_refused_and_a_malformed_one_explained(identity: Identity, people: tuple[int, ...]) -> None:
    create(identity, people[0], "acme")
    with pytest.raises(AlreadyExists, match="slug 'acme' is taken"):
        create(identity, people[1], "acme")
    with pytest.raises(InvalidInput, match="lower-case letters"):
        create(identity, people[1], "Acme_Inc")


def test_concurrent_creates_with_one_slug_make_one_organization(identity: Identity, people: tuple[int, ...]) -> None:
    def attempt(owner: int) -> str:
        try:
            create(identity, owner, "race")
        except AlreadyExists:
            return "taken"
        return "created"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, people))
    assert sorted(outcomes) == ["created", "taken", "taken", "taken"]


def test_a_suspended_user_creates_no_organization(identity: Identity, engine: sa.Engine) -> None:
    user = users.create_user(
        commands.CreateUser("Sus", "sus@example.com", PASSWORD, status=UserStatus.SUSPENDED), identity.uow()
    )
    with pytest.raises(PreconditionFailed):
        create(identity, user.id)
    with pytest.raises(NotFound):
        create(identity, 999_999)


def test_owners_and_admins_manage_members_and_each_change_is_an_event(
    identity: Identity, engine: sa.Engine, people: tuple[int, ...]
) -> None:
    owner, admin, member, _ = people
    org = create(identity, owner)
    organizations.add_member(commands.AddMember(owner, org, admin, ADMIN, ("servers:read",)), identity.uow())
    add(identity, admin, org, member, BILLING)
    organizations.change_member_role(commands.ChangeMemberRole(admin, org, member, MEMBER), identity.uow())
    assert roles(identity, member, org) == {owner: OWNER, admin: ADMIN, member: MEMBER}
    organizations.remove_member(commands.RemoveMember(admin, org, member), identity.uow())
    assert roles(identity, owner, org) == {owner: OWNER, admin: ADMIN}

    events = outbox_events(engine)[-5:]
    assert [e.event_type for e in events] == [
        "organization.created",
        "organization.member_added",
        "organization.member_added",
        "organization.member_role_changed",
        "organization.member_removed",
    ]
    assert [e.envelope.aggregate_version for e in events] == [1, 2, 3, 4, 5]
    assert events[1].payload == ev.OrganizationMemberAdded(
        organization_id=org, user_id=admin, role="admin", invited_by_user_id=owner, permissions=["servers:read"]
    )
    assert events[3].payload == ev.OrganizationMemberRoleChanged(
        organization_id=org, user_id=member, old_role="billing", new_role="member", changed_by_user_id=admin
    )
    assert events[4].payload == ev.OrganizationMemberRemoved(
        organization_id=org, user_id=member, role="member", removed_by_user_id=admin
    )


def test_members_and_outsiders_cannot_manage_and_outsiders_do_not_see_the_organization(
    identity: Identity, engine: sa.Engine, people: tuple[int, ...]
) -> None:
    owner, admin, member, outsider = people
    org = create(identity, owner)
    add(identity, owner, org, member)
    before = event_types(engine)
    with pytest.raises(Forbidden):
        add(identity, member, org, admin)
    with pytest.raises(NotFound):
        add(identity, outsider, org, admin)
    with pytest.raises(NotFound):
        organizations.get_organization(outsider, org, identity.uow())
    with pytest.raises(AlreadyExists):
        add(identity, owner, org, member)
    with pytest.raises(InvalidInput, match="TransferOwnership"):
        add(identity, owner, org, admin, OWNER)
    with pytest.raises(NotFound):
        add(identity, owner, org, 999_999)
    assert event_types(engine) == before


def test_nobody_removes_or_demotes_the_last_owner(
    identity: Identity, engine: sa.Engine, people: tuple[int, ...]
) -> None:
    owner, admin, _, _ = people
    org = create(identity, owner)
    add(identity, owner, org, admin, ADMIN)
    for actor in (owner, admin):
        with pytest.raises(PreconditionFailed, match="transfer ownership first"):
            organizations.remove_member(commands.RemoveMember(actor, org, owner), identity.uow())
        with pytest.raises(PreconditionFailed, match="TransferOwnership"):
            organizations.change_member_role(commands.ChangeMemberRole(actor, org, owner, ADMIN), identity.uow())
    assert roles(identity, owner, org) == {owner: OWNER, admin: ADMIN}


def test_a_transfer_makes_the_member_owner_and_the_old_owner_admin(
    identity: Identity, engine: sa.Engine, people: tuple[int, ...]
) -> None:
    owner, admin, member, _ = people
    org = create(identity, owner)
    add(identity, owner, org, admin, ADMIN)
    add(identity, owner, org, member)
    with pytest.raises(Forbidden):
        organizations.transfer_ownership(commands.TransferOwnership(admin, org, admin), identity.uow())
    with pytest.raises(PreconditionFailed):
        organizations.transfer_ownership(commands.TransferOwnership(owner, org, people[3]), identity.uow())

    organization, members = organizations.transfer_ownership(
        commands.TransferOwnership(owner, org, member), identity.uow()
    )

    assert organization.owner_id == member
    assert {m.user_id: m.role for m in members} == {owner: ADMIN, admin: ADMIN, member: OWNER}
    with engine.connect() as conn:
        owners = conn.execute(sa.text("SELECT COUNT(*) FROM organization_users WHERE role = 'owner'")).scalar_one()
        owner_id = conn.execute(sa.text("SELECT owner_id FROM organizations")).scalar_one()
    assert (owners, owner_id) == (1, member)
    event = outbox_events(engine)[-1]
    assert event.payload == ev.OrganizationOwnershipTransferred(
        organization_id=org, old_owner_user_id=owner, new_owner_user_id=member, new_owner_previous_role="member"
    )
    # The former owner, now an admin, may leave; the new owner may not.
    organizations.remove_member(commands.RemoveMember(owner, org, owner), identity.uow())
    with pytest.raises(PreconditionFailed):
        organizations.remove_member(commands.RemoveMember(member, org, member), identity.uow())


def test_concurrent_transfers_leave_exactly_one_owner(
    identity: Identity, engine: sa.Engine, people: tuple[int, ...]
) -> None:
    owner, a, b, c = people
    org = create(identity, owner)
    for user in (a, b, c):
        add(identity, owner, org, user)

    def transfer(to: int) -> str:
        try:
            organizations.transfer_ownership(commands.TransferOwnership(owner, org, to), identity.uow())
        except Forbidden:
            return "refused"
        return "done"

    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(transfer, (a, b, c)))
    assert sorted(outcomes) == ["done", "refused", "refused"]
    with engine.connect() as conn:
        owners = conn.execute(sa.text("SELECT COUNT(*) FROM organization_users WHERE role = 'owner'")).scalar_one()
    assert owners == 1


def test_a_user_lists_the_organizations_they_belong_to_with_their_role(
    identity: Identity, people: tuple[int, ...]
) -> None:
    owner, other, _, outsider = people
    first = create(identity, owner, "first")
    second = create(identity, other, "second")
    add(identity, other, second, owner, BILLING)
    listed = organizations.list_organizations_for_user(owner, identity.uow())
    assert [(o.id, m.role) for o, m in listed] == [(first, OWNER), (second, BILLING)]
    assert organizations.list_organizations_for_user(outsider, identity.uow()) == []
