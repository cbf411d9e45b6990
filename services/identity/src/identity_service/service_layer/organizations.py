"""Organizations and their members: creation, reading, adding, role changes, removal and
the transfer of ownership.

Who may do what is decided here from an explicit acting user id and that user's role in
the organization; the gRPC servicers check that the acting user is the signed principal."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, NotFound, PreconditionFailed
from identity_service.domain import commands
from identity_service.domain.invitations import acting_member
from identity_service.domain.model import (
    Membership,
    Organization,
    OrganizationRole,
    UserStatus,
    check_grantable,
    check_name,
    check_permissions,
    check_slug,
    require_manager,
    require_member,
)
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork, UnitOfWorkFactory


def create_organization(cmd: commands.CreateOrganization, uow: IdentityUnitOfWork) -> tuple[Organization, Membership]:
    name, slug = check_name(cmd.name, "the organization's name"), check_slug(cmd.slug)
    now = utcnow()
    with uow:
        owner = uow.users.get(cmd.acting_user_id)
        if owner is None:
            raise NotFound(f"user {cmd.acting_user_id} does not exist")
        if owner.status is not UserStatus.ACTIVE:
            raise PreconditionFailed(
                f"user {owner.id} is {owner.status.value}: only an active user creates organizations"
            )
        if uow.organizations.slug_taken(slug):
            raise AlreadyExists(f"the slug {slug!r} is taken: choose another")
        trial_days = integer_setting(uow, TRIAL_DAYS_SETTING, 0)
        trial_ends_at = now + timedelta(days=trial_days) if trial_days > 0 else None
        try:
            organization = uow.organizations.add(name, slug, owner.id, now, trial_ends_at)
        except IntegrityError:  # the same slug committed by a concurrent create
            raise AlreadyExists(f"the slug {slug!r} is taken: choose another") from None
        membership = organization.founded(now)
        uow.organizations.add_member(membership)
        uow.commit()
    return organization, membership


TRIAL_DAYS_SETTING = "organization_trial_days"
"""Days a new organization is on trial; 0 (or unset): no trial, it starts active."""
TRIALS_PER_RUN = 500


def integer_setting(uow: IdentityUnitOfWork, key: str, default: int) -> int:
    """A whole-number setting that is 0 or more; ``default`` when it is missing or unusable."""
    setting = uow.settings.get(key)
    value = setting.typed_value() if setting is not None else default
    return value if type(value) is int and value >= 0 else default


def end_due_trials(now: datetime, uow_factory: UnitOfWorkFactory) -> int:
    """End every trial whose end has come (``organization.trial_ended``); how many ended.
    Each organization in its own short transaction under its row lock, so a concurrent change
    (a suspension by billing) is seen and a run killed half-way leaves nothing half-done."""
    with uow_factory() as uow:
        due = uow.organizations.trials_over(now, TRIALS_PER_RUN)
    ended = 0
    for organization_id in due:
        with uow_factory() as uow:
            organization = uow.organizations.get(organization_id, for_update=True)
            if organization is not None and organization.end_trial(now):
                uow.organizations.save(organization, now)
                uow.commit()
                ended += 1
    return ended


def get_organization(
    acting_user_id: int, organization_id: int, uow: IdentityUnitOfWork, *, as_platform_admin: bool = False
) -> tuple[Organization, list[Membership]]:
    with uow:
        organization = uow.organizations.get(organization_id)
        actor = acting_member_of(uow, organization_id, acting_user_id, as_platform_admin) if organization else None
        require_member(actor, organization_id)
        if organization is None:  # unreachable: a member's organization exists
            raise NotFound(f"organization {organization_id} does not exist")
        return organization, uow.organizations.members(organization_id)


def list_organizations_for_user(user_id: int, uow: IdentityUnitOfWork) -> list[tuple[Organization, Membership]]:
    with uow:
        return uow.organizations.of_user(user_id)


def locked_organization(uow: IdentityUnitOfWork, organization_id: int) -> Organization:
    organization = uow.organizations.get(organization_id, for_update=True)
    if organization is None:
        raise NotFound(f"organization {organization_id} does not exist")
    return organization


def acting_member_of(
    uow: IdentityUnitOfWork, organization_id: int, user_id: int, as_platform_admin: bool
) -> Membership | None:
    """The acting user's membership; a platform admin outside acts as an admin of it."""
    member = uow.organizations.member(organization_id, user_id)
    return acting_member(member, user_id, organization_id, utcnow(), as_platform_admin=as_platform_admin)


def existing_member(uow: IdentityUnitOfWork, organization_id: int, user_id: int) -> Membership:
    member = uow.organizations.member(organization_id, user_id)
    if member is None:
        raise NotFound(f"user {user_id} is not a member of organization {organization_id}")
    return member


def add_member(cmd: commands.AddMember, uow: IdentityUnitOfWork) -> Membership:
    role, permissions = check_grantable(cmd.role), check_permissions(cmd.permissions)
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        actor = require_manager(uow.organizations.member(organization.id, cmd.acting_user_id), organization.id)
        if uow.users.get(cmd.user_id) is None:
            raise NotFound(f"user {cmd.user_id} does not exist")
        current = uow.organizations.member(organization.id, cmd.user_id)
        member = organization.add_member(actor, cmd.user_id, current, role, permissions, now)
        uow.organizations.add_member(member)
        uow.organizations.save(organization, now)
        uow.commit()
    return member


def change_member_role(cmd: commands.ChangeMemberRole, uow: IdentityUnitOfWork) -> Membership:
    role = check_grantable(cmd.role)
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        actor = acting_member_of(uow, organization.id, cmd.acting_user_id, cmd.as_platform_admin)
        require_manager(actor, organization.id)
        target = existing_member(uow, organization.id, cmd.user_id)
        changed = organization.change_role(actor, target, role)
        if changed is target:
            return target
        uow.organizations.set_role(organization.id, target.user_id, role)
        uow.organizations.save(organization, now)
        uow.commit()
    return changed


def remove_member(cmd: commands.RemoveMember, uow: IdentityUnitOfWork) -> None:
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        actor = acting_member_of(uow, organization.id, cmd.acting_user_id, cmd.as_platform_admin)
        require_member(actor, organization.id)
        target = existing_member(uow, organization.id, cmd.user_id)
        organization.remove_member(actor, target)
        uow.organizations.remove_member(organization.id, target.user_id)
        uow.organizations.save(organization, now)
        uow.commit()


def transfer_ownership(
    cmd: commands.TransferOwnership, uow: IdentityUnitOfWork
) -> tuple[Organization, list[Membership]]:
    """The new owner and the old one change roles in one transaction: the organization has
    exactly one owner before it and after it, and never none or two in between."""
    now = utcnow()
    with uow:
        organization = locked_organization(uow, cmd.organization_id)
        actor = acting_member_of(uow, organization.id, cmd.acting_user_id, cmd.as_platform_admin)
        new_owner = organization.transfer_ownership(actor, uow.organizations.member(organization.id, cmd.new_owner_id))
        uow.organizations.set_role(organization.id, cmd.acting_user_id, OrganizationRole.ADMIN)
        uow.organizations.set_role(organization.id, new_owner.user_id, OrganizationRole.OWNER)
        uow.organizations.save(organization, now)
        members = uow.organizations.members(organization.id)
        uow.commit()
    return organization, members
