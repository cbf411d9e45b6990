"""Use cases of organizations beyond creation and membership: invitations by email, the
organization's details and per-member permissions.

Every change of an organization takes the organization row's lock first (as the membership
use cases in organizations do), so concurrent invitations, acceptances and role changes of one
organization queue, and each event's aggregate version is the organization's next one.
Mail is not sent here: the caller sends the invitation mail after the commit, so a mail never
announces an invitation that was rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, InvalidInput, NotFound
from identity_service.domain.accounts import check_profile_value
from identity_service.domain.invitations import (
    INVITATION_LIFETIME,
    AcceptInvitation,
    Invitation,
    InviteMember,
    RevokeInvitation,
    SetMemberPermissions,
    UpdateOrganization,
    acting_member,
    check_billing_email,
    invitation_digest,
    new_invitation_token,
)
from identity_service.domain.model import (
    Membership,
    Organization,
    check_grantable,
    check_name,
    check_permissions,
    normalise_email,
    require_manager,
)
from identity_service.service_layer.organizations import existing_member, locked_organization
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

TOKEN_MAX = 200


@dataclass(frozen=True)
class SentInvitation:
    """A new invitation with what its mail needs; ``token`` exists nowhere else."""

    invitation: Invitation
    organization: Organization
    token: str = field(repr=False)


def _manager(
    uow: IdentityUnitOfWork, organization: Organization, acting_user_id: int, as_platform_admin: bool
) -> Membership:
    member = uow.organizations.member(organization.id, acting_user_id)
    actor = acting_member(member, acting_user_id, organization.id, utcnow(), as_platform_admin=as_platform_admin)
    return require_manager(actor, organization.id)


def invite_member(cmd: InviteMember, uow: IdentityUnitOfWork) -> SentInvitation:
    email = normalise_email(cmd.email)
    role, permissions = check_grantable(cmd.role), check_permissions(cmd.permissions)
    now = utcnow()
    token = new_invitation_token()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        _manager(uow, organization, cmd.acting_user_id, cmd.as_platform_admin)
        invitee = uow.users.by_email(email)
        if invitee is not None and uow.organizations.member(organization.id, invitee.id) is not None:
            raise AlreadyExists(f"{email} belongs to a member already: change their role instead")
        replaced = uow.invitations.open_for(organization.id, email)
        for earlier in replaced:
            uow.invitations.revoke(earlier.id, now)
        invitation = uow.invitations.add(
            organization_id=organization.id,
            email=email,
            role=role,
            permissions=permissions,
            token_hash=token.digest,
            invited_by=cmd.acting_user_id,
            now=now,
            expires_at=now + INVITATION_LIFETIME,
        )
        organization.invite(invitation, replacing=replaced)
        uow.organizations.save(organization, now)
        uow.commit()
    return SentInvitation(invitation=invitation, organization=organization, token=token.token)


def list_invitations(
    acting_user_id: int, organization_id: int, uow: IdentityUnitOfWork, *, as_platform_admin: bool = False
) -> list[Invitation]:
    with uow:
        organization = uow.organizations.get(organization_id)
        if organization is None:
            raise NotFound(f"organization {organization_id} does not exist")
        _manager(uow, organization, acting_user_id, as_platform_admin)
        return uow.invitations.open_of_organization(organization.id, utcnow())


def revoke_invitation(cmd: RevokeInvitation, uow: IdentityUnitOfWork) -> Invitation:
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        actor = _manager(uow, organization, cmd.acting_user_id, cmd.as_platform_admin)
        invitation = uow.invitations.get(cmd.invitation_id, for_update=True)
        if invitation is None or invitation.organization_id != organization.id:
            raise NotFound(f"invitation {cmd.invitation_id} does not exist in organization {organization.id}")
        revoked = organization.revoke_invitation(actor, invitation, now)
        if revoked is invitation:
            return invitation
        uow.invitations.revoke(invitation.id, now)
        uow.organizations.save(organization, now)
        uow.commit()
    return revoked


def accept_invitation(cmd: AcceptInvitation, uow: IdentityUnitOfWork) -> tuple[Organization, Membership]:
    token = cmd.token.strip()
    if not 1 <= len(token) <= TOKEN_MAX:
        raise InvalidInput("send the token from the invitation mail")
    digest = invitation_digest(token)
    now = utcnow()
    with uow:
        found = uow.invitations.by_token_hash(digest)
        if found is None:
            raise NotFound("no invitation has this token: check that it was copied whole from the mail")
        # The organization's lock first, as every member change takes it: one lock order.
        organization = locked_organization(uow, found.organization_id)
        invitation = uow.invitations.by_token_hash(digest, for_update=True)
        if invitation is None:  # the organization was deleted meanwhile
            raise NotFound("no invitation has this token: ask the organization for a new one")
        user = uow.users.get(cmd.acting_user_id)
        if user is None:
            raise NotFound(f"user {cmd.acting_user_id} does not exist")
        if invitation.accepted_by == user.id:
            # Accepting again answers as the first time (while the membership lasts).
            member = uow.organizations.member(organization.id, user.id)
            if member is not None:
                return organization, member
        member = organization.accept_invitation(
            invitation, user, uow.organizations.member(organization.id, user.id), now
        )
        uow.invitations.mark_accepted(invitation.id, user.id, now)
        uow.organizations.add_member(member)
        uow.organizations.save(organization, now)
        uow.commit()
    return organization, member


def update_organization(cmd: UpdateOrganization, uow: IdentityUnitOfWork) -> Organization:
    name = check_name(cmd.name, "the organization's name") if cmd.name is not None else None
    # '' clears: check_billing_email answers None for it, which update() would read as "keep".
    billing_email = (check_billing_email(cmd.billing_email) or "") if cmd.billing_email is not None else None
    country = check_profile_value("country", cmd.country.strip()) if cmd.country is not None else None
    tax_id = check_profile_value("tax_id", cmd.tax_id.strip()) if cmd.tax_id is not None else None
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        actor = _manager(uow, organization, cmd.acting_user_id, cmd.as_platform_admin)
        if not organization.update(actor, name=name, billing_email=billing_email, country=country, tax_id=tax_id):
            return organization
        uow.organizations.save(organization, now)
        uow.commit()
    return organization


def set_member_permissions(cmd: SetMemberPermissions, uow: IdentityUnitOfWork) -> Membership:
    permissions = check_permissions(cmd.permissions)
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        actor = _manager(uow, organization, cmd.acting_user_id, cmd.as_platform_admin)
        target = existing_member(uow, organization.id, cmd.user_id)
        changed = organization.set_member_permissions(actor, target, permissions)
        if changed is target:
            return target
        uow.organizations.set_permissions(organization.id, target.user_id, permissions)
        uow.organizations.save(organization, now)
        uow.commit()
    return changed
