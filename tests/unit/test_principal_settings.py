"""A server's trusted keys come from CP_PRINCIPAL_VERIFY_KEY_FILE, or it runs unauthenticated."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpshared.auth.principal import (
    InvalidPrincipal,
    generate_private_key,
    load_private_key,
    service_principal,
    sign,
    user_principal,
    verify,
    write_key_pair,
)
from cpshared.runtime import KeyNotLoadable, trusted_keys
from cpshared.settings import ServiceSettings

BASE = {
    "service_name": "compute",
    "metrics_port": 0,
    "database_url": "mysql+pymysql://u:p@127.0.0.1:3306/d",
    "kafka_bootstrap": "127.0.0.1:9092",
    "grpc_port": 50051,
}


def test_without_a_verify_key_file_the_server_is_unauthenticated() -> None:
    assert trusted_keys(ServiceSettings(**BASE)) is None  # type: ignore[arg-type]


def test_the_verify_key_file_is_the_issuers_public_key(tmp_path: Path) -> None:
    private_file, public_file = write_key_pair(tmp_path, "principal")
    trusted = trusted_keys(ServiceSettings(**BASE, principal_verify_key_file=str(public_file)))  # type: ignore[arg-type]
    assert trusted is not None
    token = sign(user_principal(user_id=1, role="admin", organizations={}), load_private_key(private_file))
    assert verify(token, trusted).user_id == 1
    with pytest.raises(InvalidPrincipal, match="signature"):
        verify(sign(user_principal(user_id=1, role="admin", organizations={}), generate_private_key()), trusted)


def test_an_unreadable_verify_key_file_stops_the_process_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(KeyNotLoadable, match="CP_PRINCIPAL_VERIFY_KEY_FILE"):
        trusted_keys(ServiceSettings(**BASE, principal_verify_key_file=str(tmp_path / "missing.pub")))  # type: ignore[arg-type]


def test_service_keys_are_trusted_for_their_own_service_only(tmp_path: Path) -> None:
    _, issuer_file = write_key_pair(tmp_path, "principal")
    gateway_private, gateway_public = write_key_pair(tmp_path, "service-gateway")
    spec = f" gateway={gateway_public} ,"
    settings = ServiceSettings(**BASE, principal_verify_key_file=str(issuer_file), principal_service_keys=spec)  # type: ignore[arg-type]
    trusted = trusted_keys(settings)
    assert trusted is not None and set(trusted.services) == {"gateway"}
    key = load_private_key(gateway_private)
    assert verify(sign(service_principal("gateway"), key), trusted).service == "gateway"
    with pytest.raises(InvalidPrincipal):
        verify(sign(service_principal("billing"), key), trusted)
    with pytest.raises(InvalidPrincipal, match="signature"):
        verify(sign(user_principal(user_id=1, role="admin", organizations={}), key), trusted)


@pytest.mark.parametrize("spec", ["gateway", "=/x.pub", "gateway=/no/such/file.pub"])
def test_a_malformed_service_key_list_stops_the_process_naming_the_variable(tmp_path: Path, spec: str) -> None:
    _, issuer_file = write_key_pair(tmp_path, "principal")
    settings = ServiceSettings(**BASE, principal_verify_key_file=str(issuer_file), principal_service_keys=spec)  # type: ignore[arg-type]
    with pytest.raises(KeyNotLoadable, match="CP_PRINCIPAL_SERVICE_KEYS"):
        trusted_keys(settings)
