"""Identity's server quotas over gRPC, for compute's synchronous use cases: the shared client
(:class:`cpshared.quotas.IdentityQuotas`) for the resource type ``server``, as compute."""

from __future__ import annotations

from compute_service import SERVICE_NAME
from cpshared.quotas import IdentityQuotas as SharedIdentityQuotas

RESOURCE_TYPE = "server"


class IdentityQuotas(SharedIdentityQuotas):
    def __init__(self, address: str, service_key_file: str) -> None:
        super().__init__(address, service_key_file, service=SERVICE_NAME, resource_type=RESOURCE_TYPE)
