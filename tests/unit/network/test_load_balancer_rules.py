"""Load balancers' and certificates' own rules (network's domain): services with Hetzner's
defaults and bounds, targets, the spec each action leads to, the type's limits, and uploaded
certificates checked with ``cryptography`` (the chain, the key that must be the leaf's, names,
validity, fingerprint)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cpshared.errors import DomainError, InvalidInput, LimitExceeded
from network_service.domain import load_balancers as lbs
from network_service.domain.actions import Locked, Protected
from network_service.domain.certificates import parse_uploaded
from network_service.domain.load_balancers import LoadBalancer, LoadBalancerType, Spec, Target

LB11 = LoadBalancerType(
    1, "lb11", "LB11", max_services=5, max_targets=2, max_connections=10_000, max_assigned_certificates=1
)
NOW = datetime(2026, 12, 8, 12, tzinfo=UTC)


def _lb(**spec: object) -> LoadBalancer:
    return LoadBalancer(
        id=7,
        user_id=1,
        organization_id=None,
        name="web",
        location="fsn1",
        location_id=1,
        network_zone="eu-central",
        spec=Spec(type="lb11", **spec),  # type: ignore[arg-type]
        ipv4="203.0.113.7",
        ipv6="2001:db8::1",
        status="running",
    )


def test_an_http_service_gets_hetzners_defaults() -> None:
    service = lbs.check_service({"protocol": "http"})
    assert (service["listen_port"], service["destination_port"]) == (80, 80)
    assert service["health_check"]["protocol"] == "http"
    assert service["health_check"]["http"]["status_codes"] == ["2??", "3??"]
    assert service["http"]["cookie_name"] == "HCLBSTICKY" and service["http"]["sticky_sessions"] is False


def test_an_update_keeps_what_it_does_not_name() -> None:
    old = lbs.check_service({"protocol": "http", "listen_port": 80, "destination_port": 8080})
    new = lbs.check_service({"http": {"sticky_sessions": True}}, old)
    assert new["destination_port"] == 8080 and new["http"]["sticky_sessions"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"protocol": "udp"},
        {"protocol": "tcp", "listen_port": 0},
        {"protocol": "tcp", "listen_port": 70000},
        {"protocol": "tcp", "listen_port": 80, "destination_port": 65536},
        {"protocol": "tcp", "listen_port": 80, "health_check": {"interval": 1}},
        {"protocol": "tcp", "listen_port": 80, "health_check": {"timeout": 30, "interval": 15}},
        {"protocol": "http", "health_check": {"http": {"path": "healthz"}}},
        {"protocol": "http", "health_check": {"http": {"status_codes": ["2xx"]}}},
        {"protocol": "http", "http": {"certificates": [1]}},
        {"protocol": "https", "http": {}},
        {"protocol": "http", "http": {"cookie_name": "bad name"}},
    ],
)
def test_a_broken_service_is_invalid_input(body: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        lbs.check_service(body)


def test_targets_are_checked() -> None:
    assert lbs.check_target("ip", ip=" 1.1.1.1 ").ip == "1.1.1.1"
    assert lbs.check_target("label_selector", selector="role=web").selector == "role=web"
    for kind, kwargs in (
        ("ip", {"ip": "10.0.0.1"}),
        ("ip", {"ip": "nope"}),
        ("label_selector", {"selector": "role in ("}),
        ("server", {}),
        ("disk", {}),
    ):
        with pytest.raises(InvalidInput):
            lbs.check_target(kind, **kwargs)  # type: ignore[arg-type]


def test_each_action_leads_to_its_spec_and_completes_with_an_event() -> None:
    lb = _lb(services=[lbs.check_service({"protocol": "tcp", "listen_port": 80})])
    params = {"target": Target("server", server_id=3).as_dict()}
    lb.check(lbs.ADD_TARGET, params, LB11)
    action = lb.begin(lbs.ADD_TARGET, params, NOW)
    assert lb.locked and lb.spec.targets == []  # not applied before upstream did it
    assert lb.after(action).targets == [Target("server", server_id=3)]
    with pytest.raises(Locked):
        lb.begin(lbs.CHANGE_ALGORITHM, {"algorithm": "least_connections"}, NOW)
    lb.completed(action, NOW)
    assert not lb.locked and lb.spec.targets == [Target("server", server_id=3)] and action.status == "success"
    assert [e.event_type for e in lb.events] == ["load_balancer.changed"]


def test_rules_of_starting_an_action() -> None:
    lb = _lb(
        services=[lbs.check_service({"protocol": "tcp", "listen_port": 80})],
        targets=[Target("ip", ip="1.1.1.1"), Target("ip", ip="1.1.1.2")],
    )
    service = lbs.check_service({"protocol": "tcp", "listen_port": 80})
    refusals: list[tuple[str, dict[str, object], type[DomainError]]] = [
        (lbs.ADD_SERVICE, {"service": service}, lbs.SourcePortAlreadyUsed),
        (lbs.ADD_TARGET, {"target": Target("ip", ip="1.1.1.1").as_dict()}, lbs.TargetAlreadyDefined),
        (lbs.ADD_TARGET, {"target": Target("ip", ip="1.1.1.3").as_dict()}, LimitExceeded),
        (
            lbs.ADD_TARGET,
            {"target": Target("server", server_id=3, use_private_ip=True).as_dict()},
            lbs.NotAttachedToNetwork,
        ),
        (lbs.DISABLE_PUBLIC, {}, lbs.NotAttachedToNetwork),
        (lbs.DETACH, {"network": 4}, lbs.NotAttachedToNetwork),
        (lbs.CHANGE_DNS_PTR, {"ip": "198.51.100.1", "dns_ptr": None}, InvalidInput),
    ]
    for command, params, refusal in refusals:
        with pytest.raises(refusal):
            lb.check(command, params, LB11)
    lb.check(lbs.CHANGE_DNS_PTR, {"ip": "203.0.113.7", "dns_ptr": "lb.example.com"}, LB11)


def test_deleting_respects_protection_and_erasing_does_not() -> None:
    lb = _lb()
    lb.change_protection(True, NOW)
    with pytest.raises(Protected):
        lb.delete(NOW)
    action = lb.erase(NOW)
    assert action is not None and action.command == lbs.DELETE and lb.deleted_at == NOW


def test_a_deleted_server_leaves_the_targets() -> None:
    lb = _lb(targets=[Target("server", server_id=3), Target("label_selector", selector="a=b")])
    assert lb.server_gone(3) and not lb.server_gone(3)
    assert lb.spec.targets == [Target("label_selector", selector="a=b")] and not lb.synced


def _certificate(
    key: object, names: list[str], *, ca: bool = False, issuer: x509.Name | None = None
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if len(names) > 1:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: object) -> str:
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_an_uploaded_certificate_shows_what_it_holds() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(key, ["www.example.com", "example.com"])
    parsed = parse_uploaded(_pem(cert), _key_pem(key))
    assert parsed.domain_names == ["www.example.com", "example.com"]
    assert parsed.not_valid_before == NOW - timedelta(days=1) and parsed.not_valid_after == NOW + timedelta(days=90)
    assert parsed.fingerprint == ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
    only_cn = _certificate(key, ["solo.example.com"])
    assert parse_uploaded(_pem(only_cn), _key_pem(key)).domain_names == ["solo.example.com"]


def test_a_chain_is_read_leaf_first() -> None:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _certificate(ca_key, ["Example CA"], ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(ca_key, ["www.example.com", "example.com"], issuer=ca.subject)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    assert parse_uploaded(_pem(leaf) + _pem(ca), _key_pem(key)).domain_names == ["www.example.com"]
    with pytest.raises(InvalidInput, match="did not issue"):
        parse_uploaded(_pem(leaf) + _pem(_certificate(ca_key, ["Other CA"], ca=True)), _key_pem(key))


@pytest.mark.parametrize("broken", ["key of another", "junk certificate", "junk key", "a CA", "empty"])
def test_a_broken_upload_is_invalid_input(broken: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    cert, private = _pem(_certificate(key, ["www.example.com"])), _key_pem(key)
    given = {
        "key of another": (cert, _key_pem(other)),
        "junk certificate": ("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", private),
        "junk key": (cert, "not a key"),
        "a CA": (_pem(_certificate(key, ["Example CA"], ca=True)), private),
        "empty": ("", private),
    }[broken]
    with pytest.raises(InvalidInput):
        parse_uploaded(*given)
