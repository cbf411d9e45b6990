"""Reading and writing firewalls (firewalls, their rules in firewall_rules in list order, the
servers they are applied to one by one in server_firewalls) inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from hetzner_conventions.label_sql import LabelRequirement, requirements_clause
from network_service.adapters import tables as t
from network_service.adapters.repository import _tenant
from network_service.domain.firewalls import Firewall, Rule


def _firewall(row: sa.Row[Any], rules: list[Rule], servers: list[int]) -> Firewall:
    return Firewall(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        rules=rules,
        labels=dict(row.labels or {}),
        servers=servers,
        selectors=list(row.selectors or []),
        hetzner_id=row.hetzner_id,
        blocked=bool(row.blocked),
        locked=bool(row.locked),
        synced=bool(row.synced),
        created_at=row.created_at,
        deleted_at=row.deleted_at,
        version=row.version,
    )


def _rule(row: sa.Row[Any]) -> Rule:
    return Rule(
        direction=row.direction,
        protocol=row.protocol,
        port=row.port,
        source_ips=tuple(row.source_ips or ()),
        destination_ips=tuple(row.destination_ips or ()),
        description=row.description,
    )


class FirewallRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Firewall] = []
        """The firewalls written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, firewall: Firewall) -> None:
        if not any(seen is firewall for seen in self.seen):
            self.seen.append(firewall)

    def _rules(self, ids: Collection[int]) -> dict[int, list[Rule]]:
        found: dict[int, list[Rule]] = {i: [] for i in ids}
        if ids:
            c = t.firewall_rules.c
            query = sa.select(t.firewall_rules).where(c.firewall_id.in_(sorted(ids))).order_by(c.priority, c.id)
            for row in self.session.execute(query):
                found[row.firewall_id].append(_rule(row))
        return found

    def _servers(self, ids: Collection[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {i: [] for i in ids}
        if ids:
            c = t.server_firewalls.c
            query = sa.select(t.server_firewalls).where(c.firewall_id.in_(sorted(ids))).order_by(c.attached_at)
            for row in self.session.execute(query):
                found[row.firewall_id].append(int(row.server_id))
        return found

    def _many(self, query: sa.Select[Any], for_update: bool = False) -> list[Firewall]:
        rows = list(self.session.execute(query.with_for_update() if for_update else query))
        ids = [row.id for row in rows]
        rules, servers = self._rules(ids), self._servers(ids)
        return [_firewall(row, rules[row.id], servers[row.id]) for row in rows]

    def _one(self, query: sa.Select[Any], for_update: bool) -> Firewall | None:
        found = self._many(query, for_update)
        return found[0] if found else None

    def get(self, firewall_id: int, *, for_update: bool = False) -> Firewall | None:
        """A live (not deleted) firewall."""
        c = t.firewalls.c
        return self._one(sa.select(t.firewalls).where(c.id == firewall_id, c.deleted_at.is_(None)), for_update)

    def get_any(self, firewall_id: int, *, for_update: bool = False) -> Firewall | None:
        return self._one(sa.select(t.firewalls).where(t.firewalls.c.id == firewall_id), for_update)

    def named(self, user_id: int, organization_id: int | None, name: str) -> Firewall | None:
        c = t.firewalls.c
        owner = (
            c.organization_id == organization_id
            if organization_id
            else sa.and_(c.user_id == user_id, c.organization_id.is_(None))
        )
        return self._one(sa.select(t.firewalls).where(owner, c.name == name, c.deleted_at.is_(None)), False)

    def _values(self, firewall: Firewall, now: datetime) -> dict[str, Any]:
        return {
            "hetzner_id": firewall.hetzner_id,
            "name": firewall.name,
            "labels": firewall.labels,
            "selectors": list(firewall.selectors),
            "updated_at": now,
            "deleted_at": firewall.deleted_at,
            "blocked": firewall.blocked,
            "locked": firewall.locked,
            "synced": firewall.synced,
            "version": firewall.version,
        }

    def add(self, firewall: Firewall, now: datetime) -> Firewall:
        result = self.session.execute(
            sa.insert(t.firewalls).values(
                user_id=firewall.user_id,
                organization_id=firewall.organization_id,
                created_at=now,
                **self._values(firewall, now),
            )
        )
        firewall.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        firewall.created_at = now
        self._write_rules(firewall, now)
        self._write_servers(firewall, now)
        self._saw(firewall)
        return firewall

    def _write_rules(self, firewall: Firewall, now: datetime) -> None:
        if self._rules([firewall.id])[firewall.id] == firewall.rules:
            return
        self.session.execute(sa.delete(t.firewall_rules).where(t.firewall_rules.c.firewall_id == firewall.id))
        if firewall.rules:
            self.session.execute(
                sa.insert(t.firewall_rules),
                [
                    {
                        "firewall_id": firewall.id,
                        "direction": rule.direction,
                        "protocol": rule.protocol,
                        "source_ips": list(rule.source_ips),
                        "destination_ips": list(rule.destination_ips),
                        "port": rule.port,
                        "description": rule.description,
                        "priority": place,
                        "created_at": now,
                    }
                    for place, rule in enumerate(firewall.rules)
                ],
            )

    def _write_servers(self, firewall: Firewall, now: datetime) -> None:
        c = t.server_firewalls.c
        stored = set(self._servers([firewall.id])[firewall.id])
        wanted = set(firewall.servers)
        gone = sorted(stored - wanted)
        if gone:
            self.session.execute(
                sa.delete(t.server_firewalls).where(c.firewall_id == firewall.id, c.server_id.in_(gone))
            )
        for server_id in firewall.servers:
            if server_id not in stored:
                self.session.execute(
                    sa.insert(t.server_firewalls).values(server_id=server_id, firewall_id=firewall.id, attached_at=now)
                )

    def save(self, firewall: Firewall, now: datetime) -> None:
        """Write the firewall, its rules and the servers it is applied to one by one."""
        self.session.execute(
            sa.update(t.firewalls).where(t.firewalls.c.id == firewall.id).values(**self._values(firewall, now))
        )
        self._write_rules(firewall, now)
        self._write_servers(firewall, now)
        self._saw(firewall)

    def applied_to(self, server_ids: Collection[int], *, for_update: bool = False) -> list[Firewall]:
        """The live firewalls applied one by one to any of those servers."""
        if not server_ids:
            return []
        c, a = t.firewalls.c, t.server_firewalls.c
        ids = sa.select(a.firewall_id).where(a.server_id.in_(sorted(server_ids)))
        query = sa.select(t.firewalls).where(c.id.in_(ids), c.deleted_at.is_(None)).order_by(c.id)
        return self._many(query, for_update)

    def with_selectors(self, user_id: int, organization_id: int | None, *, for_update: bool = False) -> list[Firewall]:
        """The tenant's live firewalls applied to at least one label selector."""
        c = t.firewalls.c
        conditions = [c.deleted_at.is_(None), *_tenant(c, user_id if not organization_id else None, organization_id)]
        conditions.append(sa.func.json_length(sa.func.coalesce(c.selectors, sa.text("'[]'"))) > 0)
        return self._many(sa.select(t.firewalls).where(*conditions).order_by(c.id), for_update)

    def unsynced(self, limit: int, *, for_update: bool = False) -> list[Firewall]:
        """Live firewalls upstream may not mirror yet (oldest first), no action running on them."""
        c = t.firewalls.c
        query = (
            sa.select(t.firewalls)
            .where(c.synced.is_(False), c.locked.is_(False), c.deleted_at.is_(None))
            .order_by(c.id)
            .limit(limit)
        )
        return self._many(query.with_for_update(skip_locked=True) if for_update else query)

    def deleted_ids(self, ids: Collection[int]) -> set[int]:
        """Those of ``ids`` that name no live firewall (deleted, or never stored)."""
        if not ids:
            return set()
        c = t.firewalls.c
        live = self.session.execute(sa.select(c.id).where(c.id.in_(sorted(ids)), c.deleted_at.is_(None)))
        return set(ids) - {int(row.id) for row in live}

    def server_labels(self, user_id: int, organization_id: int | None) -> dict[int, dict[str, str]]:
        """The tenant's servers network knows (from compute.events) with their labels."""
        c = t.server_labels.c
        owner = (
            c.organization_id == organization_id
            if organization_id
            else sa.and_(c.user_id == user_id, c.organization_id.is_(None))
        )
        rows = self.session.execute(sa.select(t.server_labels).where(owner).order_by(c.server_id))
        return {int(row.server_id): dict(row.labels or {}) for row in rows}

    def known_servers(self, server_ids: Collection[int]) -> dict[int, tuple[int, int | None, dict[str, str]]]:
        """Those of the servers network knows: (user id, organization id, labels) by server."""
        if not server_ids:
            return {}
        c = t.server_labels.c
        rows = self.session.execute(sa.select(t.server_labels).where(c.server_id.in_(sorted(server_ids))))
        return {int(r.server_id): (int(r.user_id), r.organization_id, dict(r.labels or {})) for r in rows}

    def server_seen(
        self, server_id: int, user_id: int, organization_id: int | None, labels: dict[str, str], now: datetime
    ) -> None:
        """Record the server's tenant and labels; the tenant's firewalls with selectors become unsynced."""
        values = {"user_id": user_id, "organization_id": organization_id, "labels": labels, "updated_at": now}
        insert = mysql_insert(t.server_labels).values(server_id=server_id, **values)
        self.session.execute(insert.on_duplicate_key_update(**values))
        self._unsync(user_id, organization_id)

    def server_forgotten(self, server_id: int) -> None:
        c = t.server_labels.c
        row = self.session.execute(sa.select(t.server_labels).where(c.server_id == server_id)).first()
        if row is None:
            return
        self.session.execute(sa.delete(t.server_labels).where(c.server_id == server_id))
        self._unsync(int(row.user_id), row.organization_id)

    def _unsync(self, user_id: int, organization_id: int | None) -> None:
        c = t.firewalls.c
        owner = (
            c.organization_id == organization_id
            if organization_id
            else sa.and_(c.user_id == user_id, c.organization_id.is_(None))
        )
        has_selectors = sa.func.json_length(sa.func.coalesce(c.selectors, sa.text("'[]'"))) > 0
        self.session.execute(
            sa.update(t.firewalls).where(owner, c.deleted_at.is_(None), has_selectors).values(synced=False)
        )

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[Firewall]:
        c = t.firewalls.c
        query = (
            sa.select(t.firewalls)
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
    ) -> tuple[list[Firewall], int]:
        """One page of a user's own firewalls and/or an organization's; both None: every tenant's.
        ``order``: (id|name|created, descending)."""
        c = t.firewalls.c
        conditions: list[sa.ColumnElement[bool]] = [c.deleted_at.is_(None), *_tenant(c, user_id, organization_id)]
        if name:
            conditions.append(c.name == name)
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.firewalls).where(where)).scalar_one()
        columns = {"id": c.id, "name": c.name, "created": c.created_at}
        order_by = [columns[f].desc() if descending else columns[f].asc() for f, descending in order]
        query = sa.select(t.firewalls).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return self._many(query), int(total)
