"""Certificates (Hetzner's): a tenant's TLS certificate for load balancers' https services.

An uploaded certificate is a PEM chain (the leaf first, then its intermediates) and the leaf's
PEM private key, checked with ``cryptography`` before anything is stored: every block of the
chain parses, the key parses (unencrypted) and is the leaf's, the leaf is no CA certificate; what
it shows is read from the leaf: its domain names (subject alternative names, else the common
name), ``not_valid_before``/``not_valid_after`` and the SHA-256 fingerprint. A broken rule is
``invalid_input`` naming the field. Managed certificates (issued upstream) are not offered: the
platform's upstream issues none.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from cpshared.aggregate import Aggregate
from hetzner_conventions.errors import invalid_field
from network_service.domain.networks import ResourceInUse

RESOURCE: Final = "certificate"
MAX_NAME: Final = 128
MAX_PEM: Final = 64 * 1024
UPLOADED: Final = "uploaded"


@dataclass(frozen=True)
class ParsedCertificate:
    certificate: str
    private_key: str
    domain_names: list[str]
    fingerprint: str
    not_valid_before: datetime
    not_valid_after: datetime


def _public_bytes(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def parse_uploaded(certificate: str, private_key: str) -> ParsedCertificate:
    """Check an uploaded chain and key (``invalid_input`` naming the field otherwise)."""
    if not certificate.strip() or len(certificate) > MAX_PEM:
        raise invalid_field("certificate", f"certificate must be a PEM chain of at most {MAX_PEM} characters")
    if not private_key.strip() or len(private_key) > MAX_PEM:
        raise invalid_field("private_key", f"private_key must be a PEM key of at most {MAX_PEM} characters")
    try:
        chain = x509.load_pem_x509_certificates(certificate.encode())
    except ValueError:
        raise invalid_field(
            "certificate", "certificate is not a PEM certificate chain (BEGIN CERTIFICATE blocks)"
        ) from None
    if not chain:
        raise invalid_field("certificate", "certificate holds no certificate")
    try:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError):
        raise invalid_field("private_key", "private_key is not an unencrypted PEM private key") from None
    leaf = chain[0]
    if _public_bytes(key.public_key()) != _public_bytes(leaf.public_key()):
        raise invalid_field("private_key", "private_key does not belong to the certificate (the first of the chain)")
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise invalid_field("certificate", "the first certificate of the chain is a CA certificate, not a server's")
    except x509.ExtensionNotFound:
        pass
    for place, (child, parent) in enumerate(itertools.pairwise(chain), start=1):
        if child.issuer != parent.subject:
            raise invalid_field(
                "certificate", f"certificate {place + 1} of the chain did not issue certificate {place}"
            )
    names: list[str] = []
    try:
        alternative = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = list(alternative.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    if not names:
        names = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not names:
        raise invalid_field("certificate", "the certificate names no domain (no DNS name, no common name)")
    digest = leaf.fingerprint(hashes.SHA256()).hex().upper()
    return ParsedCertificate(
        certificate=certificate.strip() + "\n",
        private_key=private_key.strip() + "\n",
        domain_names=names,
        fingerprint=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        not_valid_before=leaf.not_valid_before_utc,
        not_valid_after=leaf.not_valid_after_utc,
    )


def check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise invalid_field("name", f"name must be 1 to {MAX_NAME} characters")
    return name


@dataclass
class Certificate(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    certificate: str
    private_key: str
    domain_names: list[str]
    fingerprint: str
    not_valid_before: datetime
    not_valid_after: datetime
    type: str = UPLOADED
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    def owned_by(self, user_id: int, organization_id: int | None) -> bool:
        if self.organization_id:
            return organization_id == self.organization_id
        return organization_id is None and user_id == self.user_id

    def created(self) -> None:
        self._record(
            "certificate.created",
            name=self.name,
            type=self.type,
            domain_names=list(self.domain_names),
            fingerprint=self.fingerprint,
        )

    def update(self, name: str | None, labels: dict[str, str] | None) -> bool:
        changed = False
        if name is not None and name != self.name:
            self.name, changed = name, True
        if labels is not None and labels != self.labels:
            self.labels, changed = dict(labels), True
        if changed:
            self.version += 1
            self._record("certificate.updated", name=self.name, labels=dict(self.labels))
        return changed

    def delete(self, now: datetime, used_by: list[int], reason: str = "deleted") -> None:
        if used_by:
            raise ResourceInUse(
                f"certificate {self.id} is used by load balancer {used_by[0]}; remove it from its services first"
            )
        self.deleted_at = now
        self.version += 1
        self._record("certificate.deleted", reason=reason)

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"certificate_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})


def new_certificate(
    user_id: int, organization_id: int | None, name: str, parsed: ParsedCertificate, labels: dict[str, str]
) -> Certificate:
    return Certificate(
        id=0,
        user_id=user_id,
        organization_id=organization_id,
        name=check_name(name),
        certificate=parsed.certificate,
        private_key=parsed.private_key,
        domain_names=parsed.domain_names,
        fingerprint=parsed.fingerprint,
        not_valid_before=parsed.not_valid_before,
        not_valid_after=parsed.not_valid_after,
        labels=labels,
    )
