"""A quota as the staff routes (/v1/admin) and /v1/quotas answer it."""

from __future__ import annotations

from pydantic import BaseModel

from cloudplatform.identity.v1 import identity_service_pb2 as pb


class QuotaOut(BaseModel):
    id: int
    user_id: int | None
    organization_id: int | None
    resource_type: str
    limit: int
    usage: int


def quota_out(quota: pb.Quota) -> QuotaOut:
    return QuotaOut(
        id=quota.id,
        user_id=quota.user_id or None,
        organization_id=quota.organization_id or None,
        resource_type=quota.resource_type,
        limit=quota.quota_limit,
        usage=quota.current_usage,
    )
