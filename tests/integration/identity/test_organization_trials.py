"""Organization trials on MariaDB over gRPC, on a controlled clock: with ``organization_trial_days``
set, a new organization is on trial until its end, its quotas capped by the trial limits; the
keeper (the identity server's, run here as it runs) ends the trial once it is due, with
``organization.trial_ended`` in the outbox, and the full quota applies again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cpshared.retention import run_retention
from identity_service.bootstrap import Identity
from identity_service.entrypoints.retention_keeper import trial_ends
from tests.clocks import installed_clock
from tests.integration.identity.support import create_user

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _reserve(stub: pb_grpc.IdentityServiceAsyncStub, organization_id: int, key: str) -> pb.ReserveQuotaResponse:
    return await stub.ReserveQuota(
        pb.ReserveQuotaRequest(reservation_key=key, organization_id=organization_id, resource_type="server", amount=1)
    )


async def test_a_trial_caps_quotas_until_the_keeper_ends_it(
    stub: pb_grpc.IdentityServiceAsyncStub, identity: Identity, engine: sa.Engine
) -> None:
    with installed_clock(START) as clock:
        await stub.SetSetting(pb.SetSettingRequest(key="organization_trial_days", integer_value=14))
        owner = await create_user(stub, "owner@example.com")
        created = await stub.CreateOrganization(
            pb.CreateOrganizationRequest(acting_user_id=owner.id, name="Trial Co", slug="trial-co")
        )
        organization = created.organization
        assert organization.status == pb.ORGANIZATION_STATUS_TRIAL
        assert organization.trial_ends_at.ToDatetime(tzinfo=UTC) == START + timedelta(days=14)

        for n in range(2):  # the seeded trial_server_limit
            await _reserve(stub, organization.id, f"trial-vm-{n}")
        with pytest.raises(aio.AioRpcError) as refused:
            await _reserve(stub, organization.id, "trial-vm-2")
        assert refused.value.code().name == "RESOURCE_EXHAUSTED"
        assert "on trial" in (refused.value.details() or "")

        clock.advance(timedelta(days=13, hours=23))
        assert run_retention(engine, trial_ends(identity)) == 0
        clock.advance(timedelta(hours=1))
        assert run_retention(engine, trial_ends(identity)) == 1
        assert run_retention(engine, trial_ends(identity)) == 0

        now = await stub.GetOrganization(
            pb.GetOrganizationRequest(acting_user_id=owner.id, organization_id=organization.id)
        )
        assert now.organization.status == pb.ORGANIZATION_STATUS_ACTIVE
        await _reserve(stub, organization.id, "trial-vm-2")
    with engine.connect() as conn:
        ended = (
            conn.execute(sa.text("SELECT message_key FROM outbox WHERE event_type = 'organization.trial_ended'"))
            .scalars()
            .all()
        )
    assert ended == [str(organization.id)]
