"""Identity's quotas over gRPC, called as the storage service itself (identity lets only
services reserve and release): a ``volume`` per volume and its ``volume_gb``, through the shared
client (:class:`cpshared.quotas.IdentityQuotas`)."""

from __future__ import annotations

from cpshared.quotas import IdentityQuotas as SharedIdentityQuotas
from storage_service import SERVICE_NAME
from storage_service.service_layer.ports import Quotas


class IdentityQuotas(Quotas):
    def __init__(self, address: str, service_key_file: str) -> None:
        self._identity = SharedIdentityQuotas(address, service_key_file, service=SERVICE_NAME, resource_type="volume")

    def reserve(
        self, reservation_key: str, resource_type: str, amount: int, user_id: int, organization_id: int | None
    ) -> None:
        self._identity.reserve(reservation_key, user_id, organization_id, resource_type=resource_type, amount=amount)

    def release(self, reservation_key: str) -> None:
        self._identity.release(reservation_key)

    def close(self) -> None:
        self._identity.close()
