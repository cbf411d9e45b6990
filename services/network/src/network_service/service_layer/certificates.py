"""Certificate use cases: a tenant's uploaded certificates (create, read, list, update, delete)
and what an erased account leaves of them.

A certificate is checked whole before anything is stored (:func:`parse_uploaded`: the chain, the
key that must be the leaf's, the names and validity read from it); one an https service uses is
not deleted (``resource_in_use``). Creating one is immediate (no upstream action: see the README
on https services), so its Hetzner ``action`` is a finished ``create_certificate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cpshared.aggregate import pending_events
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, NotFound
from cpshared.events.envelope import PendingEvent
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_sql import LabelRequirement
from hetzner_conventions.labels import check_labels
from network_service import SERVICE_NAME
from network_service.domain.certificates import Certificate, check_name, new_certificate, parse_uploaded
from network_service.service_layer.ports import CertificateRepository
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

Reach = Callable[[int, int | None], None]


@dataclass(frozen=True)
class NewCertificate:
    user_id: int
    organization_id: int | None
    name: str
    type: str = "uploaded"
    certificate: str = ""
    private_key: str = ""
    domain_names: Sequence[str] = ()
    labels: Mapping[str, str] | None = None


def _name_taken(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"a certificate named {name!r} exists already; choose another name",
        details={"fields": [{"name": "name", "messages": ["already exists"]}]},
    )


def create(cmd: NewCertificate, uow: NetworkUnitOfWork) -> Certificate:
    if cmd.type != "uploaded":
        raise invalid_field(
            "type", "only uploaded certificates are offered: the platform's upstream issues no managed certificates"
        )
    name = check_name(cmd.name)
    parsed = parse_uploaded(cmd.certificate, cmd.private_key)
    certificate = new_certificate(cmd.user_id, cmd.organization_id, name, parsed, check_labels(dict(cmd.labels or {})))
    with uow:
        if uow.certificates.named(cmd.user_id, cmd.organization_id, name) is not None:
            raise _name_taken(name)
        uow.certificates.add(certificate, utcnow())
        certificate.created()
        uow.commit()
    return certificate


def _reached(certificate_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Certificate:
    found = uow.certificates.get(certificate_id) if certificate_id > 0 else None
    if found is None:
        raise NotFound(f"certificate {certificate_id} does not exist")
    reach(found.user_id, found.organization_id)
    return found


def get(certificate_id: int, reach: Reach, uow: NetworkUnitOfWork) -> Certificate:
    with uow:
        return _reached(certificate_id, reach, uow)


def used_by(certificates: Sequence[Certificate], uow: NetworkUnitOfWork) -> dict[int, list[int]]:
    """The live load balancers whose https services use each certificate."""
    with uow:
        return {c.id: uow.load_balancers.using_certificate(c.id) for c in certificates}


def update(
    certificate_id: int, name: str | None, labels: Mapping[str, str] | None, reach: Reach, uow: NetworkUnitOfWork
) -> Certificate:
    new_name = check_name(name) if name is not None else None
    new_labels = check_labels(dict(labels)) if labels is not None else None
    with uow:
        found = _reached(certificate_id, reach, uow)
        if (
            new_name is not None
            and new_name != found.name
            and uow.certificates.named(found.user_id, found.organization_id, new_name) is not None
        ):
            raise _name_taken(new_name)
        if found.update(new_name, new_labels):
            uow.certificates.save(found, utcnow())
            uow.commit()
    return found


def delete(certificate_id: int, reach: Reach, uow: NetworkUnitOfWork) -> None:
    with uow:
        found = _reached(certificate_id, reach, uow)
        now = utcnow()
        found.delete(now, uow.load_balancers.using_certificate(found.id))
        uow.certificates.save(found, now)
        uow.commit()


def account_erased(repository: CertificateRepository, user_id: int) -> list[PendingEvent]:
    """An erased user's own certificates go (their load balancers go in the same reaction)."""
    now = utcnow()
    recorded: list[PendingEvent] = []
    for found in repository.owned_by(user_id):
        found.delete(now, [], reason="erased")
        repository.save(found, now)
        recorded.extend(pending_events(found, SERVICE_NAME))
    return recorded


@dataclass(frozen=True)
class Search:
    user_id: int | None
    organization_id: int | None
    name: str = ""
    requirements: Sequence[LabelRequirement] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def search(query: Search, uow: NetworkUnitOfWork) -> tuple[list[Certificate], int]:
    with uow:
        return uow.certificates.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            name=query.name,
            requirements=query.requirements,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )
