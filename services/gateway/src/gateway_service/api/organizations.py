"""``/v1/organizations``: the caller's organizations, their members and invitations.

- ``GET /v1/organizations``: the organizations the caller belongs to, each with the caller's
  ``role``; ``page``/``per_page``, ``sort`` by ``id``, ``name`` or ``created`` (``:desc``).
  Organizations have no labels: ``label_selector`` is refused as invalid input.
- ``POST /v1/organizations``: a new organization owned by the caller.
- ``GET``/``PUT /v1/organizations/{id}``: one organization; changing its ``name``,
  ``billing_email``, ``country`` or ``tax_id`` (the VAT id: an EU business abroad is invoiced
  with reverse charge) takes its owner or an admin.
- ``/v1/organizations/{id}/members``: list; ``PUT .../{user_id}`` changes a member's ``role``
  and/or ``permissions``; ``DELETE`` removes a member (anyone may leave; the owner never goes).
- ``POST /v1/organizations/{id}/actions/transfer_ownership``: the owner makes another member
  the owner (and becomes an admin).
- ``/v1/organizations/{id}/invitations``: open invitations (owner or admin), ``POST`` invites
  an email address (the token goes only into the mail), ``DELETE`` revokes.
- ``POST /v1/organizations/invitations/accept``: the caller joins with the token from the mail.
- ``GET /v1/organizations/invitations/accept?token=``: where the link in the mail lands (a
  browser sends no credentials): no authentication, nothing changes, nothing is looked up; it
  answers how to accept, with the token to send.

Identity decides who may do what from the caller's principal: someone outside an
organization gets ``404 not_found`` (another tenant's organization does not exist for them),
a member without the owner or admin role ``403 forbidden``; platform admins reach every
organization. The key's scopes are checked here (``organizations:read``/``:write``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloudplatform.identity.v1 import identity_service_pb2 as ipb
from cloudplatform.identity.v1 import organization_service_pb2 as pb
from cpshared.errors import InvalidInput
from gateway_service.api.common import BodyId, Id, Meta, Text, one_page, sort_items
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.error_handlers import documented_errors
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/organizations", tags=["organizations"])

SORTABLE = ("id", "name", "created")
STATUSES = {
    ipb.ORGANIZATION_STATUS_ACTIVE: "active",
    ipb.ORGANIZATION_STATUS_SUSPENDED: "suspended",
    ipb.ORGANIZATION_STATUS_TRIAL: "trial",
}

Permission = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z][a-z_]{0,49}):(read|write)$")]
GrantableRole = Literal["admin", "member", "billing"]
Role = Literal["owner", "admin", "member", "billing"]
ROLES_OUT: dict[int, Role] = {
    ipb.ORGANIZATION_ROLE_OWNER: "owner",
    ipb.ORGANIZATION_ROLE_ADMIN: "admin",
    ipb.ORGANIZATION_ROLE_MEMBER: "member",
    ipb.ORGANIZATION_ROLE_BILLING: "billing",
}


# -- bodies ---------------------------------------------------------------------------------


class NewOrganization(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255)
    slug: str = Field(min_length=1, max_length=63, description="Lower-case letters, digits and hyphens.")


class OrganizationChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    billing_email: str | None = Field(default=None, max_length=255, description="Empty string clears it.")
    country: str | None = Field(
        default=None, max_length=2, description="ISO 3166-1 alpha-2 code for invoices; empty string clears it."
    )
    tax_id: Text | None = Field(default=None, max_length=50, description="VAT id; empty string clears it.")


class MemberChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: GrantableRole | None = None
    permissions: list[Permission] | None = Field(default=None, max_length=100)


class OwnershipTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: BodyId = Field(description="A member who becomes the owner.")


class NewInvitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=255)
    role: GrantableRole = "member"
    permissions: list[Permission] = Field(default_factory=list, max_length=100)


class InvitationAcceptance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="The token from the invitation mail.")


# -- answers --------------------------------------------------------------------------------


class OrganizationOut(BaseModel):
    id: int
    name: str
    slug: str
    owner_id: int
    status: str = Field(description="active, suspended or trial.")
    trial_ends_at: str | None = Field(
        default=None, description="When the trial ends (or ended); null for an organization that had no trial."
    )
    billing_email: str | None
    country: str | None
    tax_id: str | None
    created: str | None
    role: Role | None = Field(description="The caller's role in it; null for a platform admin outside it.")


class MemberOut(BaseModel):
    user_id: int
    role: Role
    permissions: list[str]
    invited_by: int | None
    joined: str | None


class InvitationOut(BaseModel):
    id: int
    organization_id: int
    email: str
    role: Role
    permissions: list[str]
    invited_by: int | None
    created: str | None
    expires_at: str | None


class OrganizationAnswer(BaseModel):
    organization: OrganizationOut


class OrganizationList(BaseModel):
    organizations: list[OrganizationOut]
    meta: Meta


class MemberAnswer(BaseModel):
    member: MemberOut


class MemberList(BaseModel):
    members: list[MemberOut]
    meta: Meta


class InvitationAnswer(BaseModel):
    invitation: InvitationOut
    mail_sent: bool = Field(description="Whether the invitation mail went out; if not, invite again later.")


class InvitationList(BaseModel):
    invitations: list[InvitationOut]
    meta: Meta


class MembershipAnswer(BaseModel):
    organization: OrganizationOut
    member: MemberOut


# -- mapping --------------------------------------------------------------------------------


def _iso(stamp: Timestamp, present: bool) -> str | None:
    return stamp.ToDatetime(tzinfo=UTC).isoformat() if present else None


def _role(role: ipb.OrganizationRole.ValueType) -> Role:
    return ROLES_OUT.get(role, "member")


def organization_out(organization: ipb.Organization, role: ipb.OrganizationRole.ValueType | None) -> OrganizationOut:
    return OrganizationOut(
        id=organization.id,
        name=organization.name,
        slug=organization.slug,
        owner_id=organization.owner_id,
        status=STATUSES.get(organization.status, "active"),
        trial_ends_at=_iso(organization.trial_ends_at, organization.HasField("trial_ends_at")),
        billing_email=organization.billing_email or None,
        country=organization.country or None,
        tax_id=organization.tax_id or None,
        created=_iso(organization.created_at, organization.HasField("created_at")),
        role=_role(role) if role is not None else None,
    )


def member_out(member: ipb.Member) -> MemberOut:
    return MemberOut(
        user_id=member.user_id,
        role=_role(member.role),
        permissions=list(member.permissions),
        invited_by=member.invited_by or None,
        joined=_iso(member.joined_at, member.HasField("joined_at")),
    )


def invitation_out(invitation: pb.Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        organization_id=invitation.organization_id,
        email=invitation.email,
        role=_role(invitation.role),
        permissions=list(invitation.permissions),
        invited_by=invitation.invited_by or None,
        created=_iso(invitation.created_at, invitation.HasField("created_at")),
        expires_at=_iso(invitation.expires_at, invitation.HasField("expires_at")),
    )


def _role_of(user_id: int, members: Sequence[ipb.Member]) -> ipb.OrganizationRole.ValueType | None:
    return next((m.role for m in members if m.user_id == user_id), None)


def _sort_value(organization: OrganizationOut, field: str) -> Any:
    return getattr(organization, field) or ""


# -- routes ---------------------------------------------------------------------------------


@router.get("", response_model=OrganizationList)
@scope(Family.ORGANIZATIONS, Access.READ)
async def list_organizations(
    request: Request,
    response: Response,
    principal: Authenticated,
    page: str | None = None,
    per_page: str | None = None,
    sort: Annotated[list[str] | None, Query()] = None,
    label_selector: str | None = None,
) -> OrganizationList:
    """The organizations the caller belongs to, each with the caller's role."""
    sort_keys = parse_sort(sort or [], SORTABLE)
    if label_selector:
        raise invalid_field("label_selector", "organizations have no labels; leave label_selector out")
    found = await backends(request).organizations.list_for_user(principal.user_id)
    organizations = [organization_out(o.organization, o.membership.role) for o in found]
    organizations.sort(key=lambda o: o.id)
    sort_items(organizations, sort_keys, _sort_value)
    chosen, meta = one_page(request, response, organizations, parse_page_request(page, per_page))
    return OrganizationList(organizations=chosen, meta=meta)


@router.post("", status_code=201, response_model=OrganizationAnswer)
@scope(Family.ORGANIZATIONS, Access.WRITE)
async def create_organization(request: Request, principal: Authenticated, body: NewOrganization) -> OrganizationAnswer:
    """A new organization; the caller becomes its owner."""
    created = await backends(request).organizations.create(principal.user_id, body.name, body.slug)
    return OrganizationAnswer(organization=organization_out(created.organization, created.owner.role))


INVITATION_TOKEN_PATTERN = r"^[A-Za-z0-9_\-]{16,200}$"  # noqa: S105 - a pattern, not a token


class InvitationLanding(BaseModel):
    token: str = Field(description="The invitation's token, as the link carried it.")
    accept: str = Field(description="The request that accepts the invitation.")
    message: str


@router.get("/invitations/accept", responses=documented_errors(400))
async def invitation_link(
    token: Annotated[str, Query(pattern=INVITATION_TOKEN_PATTERN, description="The token from the invitation mail.")],
) -> InvitationLanding:
    """The link of the invitation mail: how to accept it (signed in as the invited email)."""
    return InvitationLanding(
        token=token,
        accept="POST /v1/organizations/invitations/accept",
        message=(
            "to join the organization, sign in with the email address the invitation was sent to "
            '(POST /v1/auth/login), then send this token as {"token": "..."} to '
            "POST /v1/organizations/invitations/accept with the access token (or an API key of that account)"
        ),
    )


@router.post("/invitations/accept", response_model=MembershipAnswer)
@scope(Family.ORGANIZATIONS, Access.WRITE)
async def accept_invitation(request: Request, principal: Authenticated, body: InvitationAcceptance) -> MembershipAnswer:
    """Join an organization with the token from the invitation mail (sent to the caller's email)."""
    accepted = await backends(request).organizations.accept_invitation(principal.user_id, body.token)
    return MembershipAnswer(
        organization=organization_out(accepted.organization, accepted.member.role), member=member_out(accepted.member)
    )


async def _organization_answer(request: Request, principal: Principal, organization_id: int) -> OrganizationAnswer:
    got = await backends(request).organizations.get(principal.user_id, organization_id)
    return OrganizationAnswer(organization=organization_out(got.organization, _role_of(principal.user_id, got.members)))


@router.get("/{organization_id}", response_model=OrganizationAnswer)
@scope(Family.ORGANIZATIONS, Access.READ)
async def get_organization(request: Request, principal: Authenticated, organization_id: Id) -> OrganizationAnswer:
    """One organization the caller belongs to."""
    return await _organization_answer(request, principal, organization_id)


@router.put("/{organization_id}", response_model=OrganizationAnswer)
@scope(Family.ORGANIZATIONS, Access.WRITE)
async def update_organization(
    request: Request, principal: Authenticated, organization_id: Id, body: OrganizationChange
) -> OrganizationAnswer:
    """Change the name, billing email, country and/or VAT id (owner or admin)."""
    if body.name is None and body.billing_email is None and body.country is None and body.tax_id is None:
        raise InvalidInput("nothing to change: send a name, billing_email, country and/or tax_id")
    await backends(request).organizations.update(
        principal.user_id, organization_id, body.name, body.billing_email, country=body.country, tax_id=body.tax_id
    )
    return await _organization_answer(request, principal, organization_id)


@router.get("/{organization_id}/members", response_model=MemberList)
@scope(Family.ORGANIZATIONS, Access.READ)
async def list_members(
    request: Request,
    response: Response,
    principal: Authenticated,
    organization_id: Id,
    page: str | None = None,
    per_page: str | None = None,
) -> MemberList:
    """The organization's members, in the order they joined."""
    got = await backends(request).organizations.get(principal.user_id, organization_id)
    chosen, meta = one_page(request, response, got.members, parse_page_request(page, per_page))
    return MemberList(members=[member_out(m) for m in chosen], meta=meta)


@router.put("/{organization_id}/members/{user_id}", response_model=MemberAnswer)
@scope(Family.ORGANIZATIONS, Access.WRITE)
async def update_member(
    request: Request, principal: Authenticated, organization_id: Id, user_id: Id, body: MemberChange
) -> MemberAnswer:
    """Change a member's role and/or permissions (owner or admin); the owner's role moves only by transfer."""
    if body.role is None and body.permissions is None:
        raise InvalidInput("nothing to change: send a role and/or permissions")
    client = backends(request).organizations
    member: ipb.Member | None = None
    # The role first: it is the change that can be refused for the member (the owner's).
    if body.role is not None:
        member = await client.change_role(principal.user_id, organization_id, user_id, body.role)
    if body.permissions is not None:
        member = await client.set_permissions(principal.user_id, organization_id, user_id, list(body.permissions))
    assert member is not None
    return MemberAnswer(member=member_out(member))


@router.delete("/{organization_id}/members/{user_id}", status_code=204)
@scope(Family.ORGANIZATIONS, Access.WRITE)
async def remove_member(request: Request, principal: Authenticated, organization_id: Id, user_id: Id) -> Response:
    """Remove a member (owner or admin), or leave (a member removing themselves)."""
    await backends(request).organizations.remove_member(principal.user_id, organization_id, user_id)
    return Response(status_code=204)


@router.post("/{organization_id}/actions/transfer_ownership", response_model=OrganizationAnswer)
@scope(Family.ORGANIZATIONS, Access.WRITE)
async def transfer_ownership(
    request: Request, principal: Authenticated, organization_id: Id, body: OwnershipTransfer
) -> OrganizationAnswer:
    """Make another member the owner (owner only); the caller stays on as an admin."""
    moved = await backends(request).organizations.transfer_ownership(principal.user_id, organization_id, body.user_id)
    return OrganizationAnswer(
        organization=organization_out(moved.organization, _role_of(principal.user_id, moved.members))
    )


@router.get("/{organization_id}/invitations", response_model=InvitationList)
@scope(Family.ORGANIZATIONS, Access.READ)
async def list_invitations(
    request: Request,
    response: Response,
    principal: Authenticated,
    organization_id: Id,
    page: str | None = None,
    per_page: str | None = None,
) -> InvitationList:
    """Open invitations, oldest first (owner or admin)."""
    found = await backends(request).organizations.list_invitations(principal.user_id, organization_id)
    chosen, meta = one_page(request, response, found, parse_page_request(page, per_page))
    return InvitationList(invitations=[invitation_out(i) for i in chosen], meta=meta)


@router.post("/{organization_id}/invitations", status_code=201, response_model=InvitationAnswer)
@scope(Family.ORGANIZATIONS, Access.WRITE)
async def invite_member(
    request: Request, principal: Authenticated, organization_id: Id, body: NewInvitation
) -> InvitationAnswer:
    """Invite an email address (owner or admin); the invitee gets a mail with the token to accept."""
    sent = await backends(request).organizations.invite(
        principal.user_id, organization_id, body.email, body.role, list(body.permissions)
    )
    return InvitationAnswer(invitation=invitation_out(sent.invitation), mail_sent=sent.mail_sent)


@router.delete("/{organization_id}/invitations/{invitation_id}", status_code=204)
@scope(Family.ORGANIZATIONS, Access.WRITE)
async def revoke_invitation(
    request: Request, principal: Authenticated, organization_id: Id, invitation_id: Id
) -> Response:
    """Revoke an open invitation (owner or admin): its token stops working."""
    await backends(request).organizations.revoke_invitation(principal.user_id, organization_id, invitation_id)
    return Response(status_code=204)
