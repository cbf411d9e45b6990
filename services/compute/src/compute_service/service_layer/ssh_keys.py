"""SSH key use cases. Tenancy (who reaches which key) is checked by the caller from the
verified principal (adapters/authorization.py) before and after loading; here a key is
validated, made unique within its tenant (the database's unique keys decide under
concurrency), changed by the key itself (its version raised and the change recorded as an event, which the
unit of work writes to the outbox on commit)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from compute_service.domain.ssh_keys import SshKey, check_labels, check_name, parse_public_key
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import NotFound
from hetzner_conventions.label_sql import LabelRequirement

Reach = Callable[[SshKey], None]
"""Raises NOT_FOUND unless the caller reaches the key."""


def create(
    user_id: int,
    organization_id: int | None,
    name: str,
    public_key: str,
    labels: dict[str, str],
    uow: ComputeUnitOfWork,
) -> SshKey:
    parsed = parse_public_key(public_key)
    key = SshKey(
        id=0,
        user_id=user_id,
        organization_id=organization_id,
        name=check_name(name),
        public_key=parsed.public_key,
        fingerprint=parsed.fingerprint,
        type=parsed.type[:20],
        labels=check_labels(labels),
    )
    with uow:
        uow.ssh_keys.add(key, utcnow())
        key.created()
        uow.commit()
    return key


def get(ssh_key_id: int, reach: Reach, uow: ComputeUnitOfWork) -> SshKey:
    with uow:
        key = uow.ssh_keys.get(ssh_key_id)
    if key is None:
        raise NotFound(f"SSH key {ssh_key_id} does not exist")
    reach(key)
    return key


def update(
    ssh_key_id: int, name: str | None, labels: dict[str, str] | None, reach: Reach, uow: ComputeUnitOfWork
) -> SshKey:
    new_name = check_name(name) if name is not None else None
    new_labels = check_labels(labels) if labels is not None else None
    with uow:
        key = uow.ssh_keys.get(ssh_key_id, for_update=True)
        if key is None:
            raise NotFound(f"SSH key {ssh_key_id} does not exist")
        reach(key)
        if not key.update(new_name, new_labels):
            return key
        uow.ssh_keys.save(key, utcnow())
        uow.commit()
    return key


def delete(ssh_key_id: int, reach: Reach, uow: ComputeUnitOfWork) -> None:
    with uow:
        key = uow.ssh_keys.get(ssh_key_id, for_update=True)
        if key is None:
            raise NotFound(f"SSH key {ssh_key_id} does not exist")
        reach(key)
        key.delete()
        uow.ssh_keys.delete(key)
        uow.commit()


@dataclass(frozen=True)
class Search:
    user_id: int | None
    organization_id: int | None
    name: str = ""
    fingerprint: str = ""
    requirements: Sequence[LabelRequirement] = ()
    order: Sequence[tuple[str, bool]] = ()
    page: int = 1
    per_page: int = 25


def search(query: Search, uow: ComputeUnitOfWork) -> tuple[list[SshKey], int]:
    with uow:
        return uow.ssh_keys.search(
            user_id=query.user_id,
            organization_id=query.organization_id,
            name=query.name,
            fingerprint=query.fingerprint,
            requirements=query.requirements,
            order=query.order,
            offset=(max(query.page, 1) - 1) * query.per_page,
            limit=query.per_page,
        )
