"""Identity's floating IP quotas over gRPC: the shared client (:class:`cpshared.quotas.IdentityQuotas`)
for the resource type ``floating_ip``, as network."""

from __future__ import annotations

from cpshared.quotas import IdentityQuotas as SharedIdentityQuotas
from network_service import SERVICE_NAME

RESOURCE_TYPE = "floating_ip"


class IdentityQuotas(SharedIdentityQuotas):
    def __init__(self, address: str, service_key_file: str) -> None:
        super().__init__(address, service_key_file, service=SERVICE_NAME, resource_type=RESOURCE_TYPE)
