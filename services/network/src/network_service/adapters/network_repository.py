"""Reading and writing private networks (networks, with their attached servers in
server_networks) inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hetzner_conventions.label_sql import LabelRequirement, requirements_clause
from network_service.adapters import tables as t
from network_service.adapters.repository import _tenant
from network_service.domain.networks import Attachment, Network, Route, Subnet


def _network(row: sa.Row[Any], attachments: list[Attachment]) -> Network:
    return Network(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        ip_range=row.ip_range,
        subnets=[Subnet.of(s) for s in row.subnets or []],
        routes=[Route(r["destination"], r["gateway"]) for r in row.routes or []],
        labels=dict(row.labels or {}),
        attachments=attachments,
        expose_routes_to_vswitch=bool(row.expose_routes_to_vswitch),
        hetzner_id=row.hetzner_id,
        protection_delete=bool(row.protection_delete),
        blocked=bool(row.blocked),
        locked=bool(row.locked),
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        version=row.version,
    )


class NetworkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Network] = []
        """The networks written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, network: Network) -> None:
        if not any(seen is network for seen in self.seen):
            self.seen.append(network)

    def _attachments(self, network_ids: Collection[int]) -> dict[int, list[Attachment]]:
        found: dict[int, list[Attachment]] = {n: [] for n in network_ids}
        if not network_ids:
            return found
        c = t.server_networks.c
        query = sa.select(t.server_networks).where(c.network_id.in_(sorted(network_ids))).order_by(c.id)
        for row in self.session.execute(query):
            found[row.network_id].append(
                Attachment(row.server_id, row.private_ip or "", list(row.alias_ips or []), row.mac_address)
            )
        return found

    def _many(self, query: sa.Select[Any], for_update: bool = False) -> list[Network]:
        rows = list(self.session.execute(query.with_for_update() if for_update else query))
        attached = self._attachments([row.id for row in rows])
        return [_network(row, attached[row.id]) for row in rows]

    def _one(self, query: sa.Select[Any], for_update: bool) -> Network | None:
        found = self._many(query, for_update)
        return found[0] if found else None

    def get(self, network_id: int, *, for_update: bool = False) -> Network | None:
        """A live (not deleted) network."""
        c = t.networks.c
        return self._one(sa.select(t.networks).where(c.id == network_id, c.deleted_at.is_(None)), for_update)

    def get_any(self, network_id: int, *, for_update: bool = False) -> Network | None:
        return self._one(sa.select(t.networks).where(t.networks.c.id == network_id), for_update)

    def named(self, user_id: int, organization_id: int | None, name: str) -> Network | None:
        c = t.networks.c
        owner = (
            c.organization_id == organization_id
            if organization_id
            else sa.and_(c.user_id == user_id, c.organization_id.is_(None))
        )
        return self._one(sa.select(t.networks).where(owner, c.name == name, c.deleted_at.is_(None)), False)

    def _values(self, network: Network, now: datetime) -> dict[str, Any]:
        return {
            "hetzner_id": network.hetzner_id,
            "name": network.name,
            "ip_range": network.ip_range,
            "subnets": [s.as_dict() for s in network.subnets],
            "routes": [r.as_dict() for r in network.routes],
            "labels": network.labels,
            "updated_at": now,
            "deleted_at": network.deleted_at,
            "expose_routes_to_vswitch": network.expose_routes_to_vswitch,
            "protection_delete": network.protection_delete,
            "blocked": network.blocked,
            "locked": network.locked,
            "status": network.status,
            "version": network.version,
        }

    def add(self, network: Network, now: datetime) -> Network:
        result = self.session.execute(
            sa.insert(t.networks).values(
                user_id=network.user_id,
                organization_id=network.organization_id,
                created_at=now,
                **self._values(network, now),
            )
        )
        network.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        network.created_at = network.updated_at = now
        self._saw(network)
        return network

    def save(self, network: Network, now: datetime) -> None:
        """Write the network and make server_networks hold exactly its attachments."""
        self.session.execute(
            sa.update(t.networks).where(t.networks.c.id == network.id).values(**self._values(network, now))
        )
        c = t.server_networks.c
        stored = {a.server_id: a for a in self._attachments([network.id])[network.id]}
        wanted = {a.server_id: a for a in network.attachments}
        gone = sorted(set(stored) - set(wanted))
        if gone:
            self.session.execute(sa.delete(t.server_networks).where(c.network_id == network.id, c.server_id.in_(gone)))
        for server_id, attached in wanted.items():
            values = {"private_ip": attached.ip, "alias_ips": attached.alias_ips, "mac_address": attached.mac_address}
            if server_id not in stored:
                self.session.execute(
                    sa.insert(t.server_networks).values(
                        server_id=server_id, network_id=network.id, attached_at=now, **values
                    )
                )
            elif stored[server_id] != attached:
                self.session.execute(
                    sa.update(t.server_networks)
                    .where(c.network_id == network.id, c.server_id == server_id)
                    .values(**values)
                )
        network.updated_at = now
        self._saw(network)

    def attached_to(self, server_ids: Collection[int], *, for_update: bool = False) -> list[Network]:
        """The live networks any of those servers is attached to."""
        if not server_ids:
            return []
        c, a = t.networks.c, t.server_networks.c
        ids = sa.select(a.network_id).where(a.server_id.in_(sorted(server_ids)))
        query = sa.select(t.networks).where(c.id.in_(ids), c.deleted_at.is_(None)).order_by(c.id)
        return self._many(query, for_update)

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[Network]:
        c = t.networks.c
        query = (
            sa.select(t.networks)
            .where(c.user_id == user_id, c.organization_id.is_(None), c.deleted_at.is_(None))
            .order_by(c.id)
        )
        return self._many(query, for_update)

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        requirements: Sequence[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[Network], int]:
        """One page of a user's own networks and/or an organization's; both None: every tenant's.
        ``order``: (id|name|created, descending)."""
        c = t.networks.c
        conditions: list[sa.ColumnElement[bool]] = [c.deleted_at.is_(None), *_tenant(c, user_id, organization_id)]
        if name:
            conditions.append(c.name == name)
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.networks).where(where)).scalar_one()
        columns = {"id": c.id, "name": c.name, "created": c.created_at}
        order_by = [columns[f].desc() if descending else columns[f].asc() for f, descending in order]
        query = sa.select(t.networks).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return self._many(query), int(total)
