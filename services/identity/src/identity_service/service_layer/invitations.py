"""Use cases of organizations beyond creation and membership: invitations by email, the
organization's details and per-member permissions.

Every change of an organization takes the organization row's lock first (as the membership
use cases in organizations do), so concurrent invitations, acceptances and role changes of one
organization queue, and each event's aggregate version is the organization's next one.
Mail is not sent here: the caller sends the invitation mail after the commit, so a mail never
announces an invitation that was rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed
from cpshared.events import catalog
from cpshared.timestamps import to_timestamp as _timestamp
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
from identity_service.service_layer.organizations import bump_version, existing_member, locked_organization
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork, record

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
        for earlier in uow.invitations.open_for(organization.id, email):
            uow.invitations.revoke(earlier.id, now)
            organization = bump_version(uow, organization, now)
            revoked = ev.OrganizationInvitationRevoked(
                organization_id=organization.id,
                invitation_id=earlier.id,
                revoked_by_user_id=cmd.acting_user_id,
                reason="replaced",
            )
            record(uow, catalog.ORGANIZATION_INVITATION_REVOKED, organization.id, organization.version, revoked)
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
        organization = bump_version(uow, organization, now)
        invited = ev.OrganizationMemberInvited(
            organization_id=organization.id,
            invitation_id=invitation.id,
            role=role.value,
            permissions=list(permissions),
            invited_by_user_id=cmd.acting_user_id,
            expires_at=_timestamp(invitation.expires_at),
        )
        record(uow, catalog.ORGANIZATION_MEMBER_INVITED, organization.id, organization.version, invited)
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
        _manager(uow, organization, cmd.acting_user_id, cmd.as_platform_admin)
        invitation = uow.invitations.get(cmd.invitation_id, for_update=True)
        if invitation is None or invitation.organization_id != organization.id:
            raise NotFound(f"invitation {cmd.invitation_id} does not exist in organization {organization.id}")
        if invitation.revoked_at is not None:
            return invitation
        if invitation.accepted_at is not None:
            raise PreconditionFailed(
                f"invitation {invitation.id} was accepted already: remove the member instead if they should go"
            )
        uow.invitations.revoke(invitation.id, now)
        organization = bump_version(uow, organization, now)
        payload = ev.OrganizationInvitationRevoked(
            organization_id=organization.id,
            invitation_id=invitation.id,
            revoked_by_user_id=cmd.acting_user_id,
            reason="revoked",
        )
        record(uow, catalog.ORGANIZATION_INVITATION_REVOKED, organization.id, organization.version, payload)
        uow.commit()
    return replace(invitation, revoked_at=now)


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
        invitation.check_acceptable(user, now)
        if uow.organizations.member(organization.id, user.id) is not None:
            raise AlreadyExists(f"you are a member of organization {organization.id} already")
        member = Membership(
            organization_id=organization.id,
            user_id=user.id,
            role=invitation.role,
            permissions=invitation.permissions,
            invited_by=invitation.invited_by,
            joined_at=now,
        )
        uow.invitations.mark_accepted(invitation.id, user.id, now)
        uow.organizations.add_member(member)
        organization = bump_version(uow, organization, now)
        accepted = ev.OrganizationInvitationAccepted(
            organization_id=organization.id, invitation_id=invitation.id, user_id=user.id, role=invitation.role.value
        )
        record(uow, catalog.ORGANIZATION_INVITATION_ACCEPTED, organization.id, organization.version, accepted)
        organization = bump_version(uow, organization, now)
        added = ev.OrganizationMemberAdded(
            organization_id=organization.id,
            user_id=user.id,
            role=invitation.role.value,
            invited_by_user_id=invitation.invited_by or 0,
            permissions=list(invitation.permissions),
        )
        record(uow, catalog.ORGANIZATION_MEMBER_ADDED, organization.id, organization.version, added)
        uow.commit()
    return organization, member


def update_organization(cmd: UpdateOrganization, uow: IdentityUnitOfWork) -> Organization:
    name = check_name(cmd.name, "the organization's name") if cmd.name is not None else None
    billing_email = check_billing_email(cmd.billing_email) if cmd.billing_email is not None else None
    country = check_profile_value("country", cmd.country.strip()) if cmd.country is not None else None
    tax_id = check_profile_value("tax_id", cmd.tax_id.strip()) if cmd.tax_id is not None else None
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        _manager(uow, organization, cmd.acting_user_id, cmd.as_platform_admin)
        updated = replace(
            organization,
            name=name if name is not None else organization.name,
            billing_email=billing_email if cmd.billing_email is not None else organization.billing_email,
            country=(country or None) if cmd.country is not None else organization.country,
            tax_id=(tax_id or None) if cmd.tax_id is not None else organization.tax_id,
            version=organization.version + 1,
        )
        fields = ("name", "billing_email", "country", "tax_id")
        changed = [f for f in fields if getattr(updated, f) != getattr(organization, f)]
        if not changed:
            return organization
        uow.organizations.save_details(updated, now)
        payload = ev.OrganizationUpdated(
            organization_id=organization.id, changed_fields=changed, updated_by_user_id=cmd.acting_user_id
        )
        # Billing invoices by country, VAT id and name: those travel with their new value.
        if "country" in changed:
            payload.country = updated.country or ""
        if "tax_id" in changed:
            payload.tax_id = updated.tax_id or ""
        if "name" in changed:
            payload.name = updated.name
        record(uow, catalog.ORGANIZATION_UPDATED, organization.id, updated.version, payload)
        uow.commit()
    return updated


def set_member_permissions(cmd: SetMemberPermissions, uow: IdentityUnitOfWork) -> Membership:
    permissions = check_permissions(cmd.permissions)
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        _manager(uow, organization, cmd.acting_user_id, cmd.as_platform_admin)
        target = existing_member(uow, organization.id, cmd.user_id)
        if target.permissions == permissions:
            return target
        uow.organizations.set_permissions(organization.id, target.user_id, permissions)
        organization = bump_version(uow, organization, now)
        payload = ev.OrganizationMemberPermissionsChanged(
            organization_id=organization.id,
            user_id=target.user_id,
            old_permissions=list(target.permissions),
            new_permissions=list(permissions),
            changed_by_user_id=cmd.acting_user_id,
        )
        record(uow, catalog.ORGANIZATION_MEMBER_PERMISSIONS_CHANGED, organization.id, organization.version, payload)
        uow.commit()
    return replace(target, permissions=permissions)
