"""Identity's billing projection on MariaDB, through the real projection runner: billing's
request suspends the account once however often it is delivered (the status change, billing's
hold, the status event and the inbox row commit together), a lift reactivates only what billing
suspended, and staff's status changes take the account out of billing's hands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from cloudplatform.billing.v1 import events_pb2 as billing_pb
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.timestamps import to_timestamp
from identity_service.adapters.tables import billing_holds
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import UserRole, UserStatus
from identity_service.entrypoints.billing_projection import BillingProjection
from identity_service.service_layer import organizations, staff, users

DUE = datetime(2026, 11, 16, tzinfo=UTC)


def _user(identity: Identity, role: UserRole = UserRole.CLIENT) -> int:
    return users.create_user(
        commands.CreateUser(
            name="ana",
            email=f"ana-{uuid.uuid4().hex[:8]}@example.com",
            password="long enough!",
            role=role,
            status=UserStatus.ACTIVE,
        ),
        identity.uow(),
    ).id


def _account(account_type: str, account_id: int) -> str:
    return f"{account_type}:{account_id}"


def requested(account_type: str, account_id: int, invoice_id: int = 41) -> PendingEvent:
    ref = billing_pb.InvoiceRef(
        invoice_id=invoice_id,
        invoice_number=f"INV-2026-10-{invoice_id:04d}",
        account_type=account_type,
        account_id=account_id,
    )
    return new_event(
        catalog.SUSPENSION_REQUESTED,
        producer="billing",
        aggregate_id=_account(account_type, account_id),
        aggregate_version=1,
        payload=billing_pb.SuspensionRequested(
            invoice=ref, account_type=account_type, account_id=account_id, due_date=to_timestamp(DUE), grace_days=14
        ),
    )


def lifted(account_type: str, account_id: int) -> PendingEvent:
    ref = billing_pb.InvoiceRef(invoice_id=41, invoice_number="INV-2026-10-0041")
    return new_event(
        catalog.SUSPENSION_LIFTED,
        producer="billing",
        aggregate_id=_account(account_type, account_id),
        aggregate_version=1,
        payload=billing_pb.SuspensionLifted(
            account_type=account_type, account_id=account_id, cleared_by=ref, requested_invoice_ids=[41]
        ),
    )


def apply(identity: Identity, events: list[PendingEvent], offset: int = 0) -> None:
    records = [
        RawRecord("billing.events", 0, offset + n, e.key, e.envelope.SerializeToString(), e.headers())
        for n, e in enumerate(events)
    ]
    ProjectionRunner(identity.engine, BillingProjection()).apply_batch(records)


def _status(identity: Identity, user_id: int) -> UserStatus:
    with identity.uow() as uow:
        user = uow.users.get(user_id)
        assert user is not None
        return user.status


def _events(identity: Identity, event_type: str) -> int:
    with identity.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.event_type == event_type)
            ).scalar_one()
        )


def _holds(identity: Identity) -> int:
    with identity.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(billing_holds)).scalar_one())


def test_a_request_delivered_twice_suspends_once_and_the_lift_reactivates(identity: Identity) -> None:
    ana = _user(identity)
    request = requested("user", ana)
    apply(identity, [request, request, requested("user", ana, invoice_id=42)])
    apply(identity, [request], offset=3)  # redelivered in a later batch too
    assert _status(identity, ana) is UserStatus.SUSPENDED
    assert (_events(identity, "user.suspended"), _holds(identity)) == (1, 1)

    apply(identity, [lifted("user", ana)], offset=4)
    assert _status(identity, ana) is UserStatus.ACTIVE
    assert (_events(identity, "user.activated"), _holds(identity)) == (1, 0)


def test_an_organization_is_suspended_and_reactivated_and_its_owner_is_not(identity: Identity) -> None:
    olga = _user(identity)
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    acme, _ = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=olga, name=slug, slug=slug), identity.uow()
    )
    apply(identity, [requested("organization", acme.id)])
    with identity.uow() as uow:
        found = uow.organizations.get(acme.id)
        assert found is not None and found.status.value == "suspended"
    assert _status(identity, olga) is UserStatus.ACTIVE
    apply(identity, [lifted("organization", acme.id)], offset=1)
    with identity.uow() as uow:
        found = uow.organizations.get(acme.id)
        assert found is not None and found.status.value == "active"
    assert (_events(identity, "organization.suspended"), _events(identity, "organization.activated")) == (1, 1)


def test_staff_status_stands_against_billing(identity: Identity) -> None:
    admin = _user(identity, UserRole.ADMIN)
    banned_by_staff, taken_over = _user(identity), _user(identity)
    staff.set_user_status(staff.SetUserStatus(admin, banned_by_staff, UserStatus.BANNED, "fraud"), identity.uow())
    apply(identity, [requested("user", banned_by_staff), lifted("user", banned_by_staff)])
    assert _status(identity, banned_by_staff) is UserStatus.BANNED  # never reactivated by billing

    # Billing suspended this one; staff then suspend it themselves: billing's lift leaves it.
    apply(identity, [requested("user", taken_over)], offset=2)
    staff.set_user_status(staff.SetUserStatus(admin, taken_over, UserStatus.SUSPENDED, "abuse"), identity.uow())
    assert _holds(identity) == 0
    apply(identity, [lifted("user", taken_over)], offset=3)
    assert _status(identity, taken_over) is UserStatus.SUSPENDED
    assert _events(identity, "user.activated") == 0
