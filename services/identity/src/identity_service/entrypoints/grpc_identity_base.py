"""What every part of the IdentityService servicer shares: the wired service it calls."""

from __future__ import annotations

from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from identity_service.bootstrap import Identity


class IdentityRpcs(pb_grpc.IdentityServiceServicer):
    """The base of the topic parts of :class:`IdentityServicer` (users, API keys,
    organizations, quotas, settings), each in its own module."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity
