"""Identity's quotas over gRPC: the shared client (:class:`cpshared.quotas.IdentityQuotas`) for
the resource type ``floating_ip`` (or ``network``, private networks; ``firewall``, firewalls;
``primary_ip``, primary IPs; ``load_balancer``, load balancers), as network."""

from __future__ import annotations

from cpshared.quotas import IdentityQuotas as SharedIdentityQuotas
from network_service import SERVICE_NAME

RESOURCE_TYPE = "floating_ip"
NETWORK_RESOURCE_TYPE = "network"
FIREWALL_RESOURCE_TYPE = "firewall"
PRIMARY_IP_RESOURCE_TYPE = "primary_ip"
LOAD_BALANCER_RESOURCE_TYPE = "load_balancer"


class IdentityQuotas(SharedIdentityQuotas):
    def __init__(self, address: str, service_key_file: str, resource_type: str = RESOURCE_TYPE) -> None:
        super().__init__(address, service_key_file, service=SERVICE_NAME, resource_type=resource_type)
