"""The IdentityService gRPC API, one servicer put together from its topic parts.

The use cases are synchronous (SQLAlchemy on PyMySQL), so each call runs in a thread and
the event loop stays free. Domain errors raised there become status codes in the shared
error interceptor. Nothing here can put a password hash or an API key's hash on the wire:
the messages have no field for them.
"""

from __future__ import annotations

from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from identity_service.bootstrap import Identity
from identity_service.entrypoints.grpc_api_keys import ApiKeyRpcs
from identity_service.entrypoints.grpc_organization_members import OrganizationMemberRpcs
from identity_service.entrypoints.grpc_quotas import QuotaRpcs
from identity_service.entrypoints.grpc_settings import SettingRpcs
from identity_service.entrypoints.grpc_users import UserRpcs


class IdentityServicer(UserRpcs, ApiKeyRpcs, OrganizationMemberRpcs, QuotaRpcs, SettingRpcs):
    """Every IdentityService RPC."""


def add_identity_servicer(server: aio.Server, identity: Identity) -> list[str]:
    pb_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(identity), server)
    return [pb.DESCRIPTOR.services_by_name["IdentityService"].full_name]
