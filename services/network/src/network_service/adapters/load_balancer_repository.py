"""Reading and writing load balancers (load_balancers with their services, targets in list
order and the health upstream last reported) and certificates, inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cpshared.metering import hour_floor
from hetzner_conventions.label_sql import LabelRequirement, requirements_clause
from network_service.adapters import tables as t
from network_service.adapters.repository import _tenant
from network_service.domain.certificates import Certificate
from network_service.domain.load_balancers import LoadBalancer, Spec, Target
from network_service.domain.metering import MeteredLoadBalancer


def _owner(c: Any, user_id: int, organization_id: int | None) -> sa.ColumnElement[bool]:
    if organization_id:
        return sa.and_(c.organization_id == organization_id)
    return sa.and_(c.user_id == user_id, c.organization_id.is_(None))


def _order(columns: dict[str, Any], order: Sequence[tuple[str, bool]]) -> list[Any]:
    return [columns[f].desc() if descending else columns[f].asc() for f, descending in order]


class LoadBalancerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[LoadBalancer] = []

    def _saw(self, lb: LoadBalancer) -> None:
        if not any(seen is lb for seen in self.seen):
            self.seen.append(lb)

    def _many(self, query: sa.Select[Any], for_update: bool = False) -> list[LoadBalancer]:
        rows = list(self.session.execute(query.with_for_update() if for_update else query))
        ids = sorted(row.id for row in rows)
        services: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        targets: dict[int, list[Target]] = {i: [] for i in ids}
        if ids:
            s = t.load_balancer_services.c
            for row in self.session.execute(
                sa.select(t.load_balancer_services).where(s.load_balancer_id.in_(ids)).order_by(s.id)
            ):
                services[row.load_balancer_id].append(
                    {
                        "protocol": row.protocol,
                        "listen_port": row.listen_port,
                        "destination_port": row.destination_port,
                        "proxyprotocol": bool(row.proxyprotocol),
                        "health_check": dict(row.health_check),
                        "http": dict(row.http) if row.http else None,
                    }
                )
            g = t.load_balancer_targets.c
            for row in self.session.execute(
                sa.select(t.load_balancer_targets).where(g.load_balancer_id.in_(ids)).order_by(g.position, g.id)
            ):
                targets[row.load_balancer_id].append(
                    Target(
                        type=row.type,
                        server_id=int(row.server_id) if row.server_id is not None else None,
                        selector=row.label_selector,
                        ip=row.ip,
                        use_private_ip=bool(row.use_private_ip),
                    )
                )
        return [
            LoadBalancer(
                id=row.id,
                user_id=row.user_id,
                organization_id=row.organization_id,
                name=row.name,
                location=row.location,
                location_id=row.datacenter_id,
                network_zone=row.network_zone,
                spec=Spec(
                    type=row.type,
                    algorithm=row.algorithm or "round_robin",
                    public_enabled=bool(row.public_enabled),
                    services=services[row.id],
                    targets=targets[row.id],
                    networks=list(row.networks or []),
                    dns_ptrs=dict(row.dns_ptrs or {}),
                ),
                labels=dict(row.labels or {}),
                status=row.status or "provisioning",
                hetzner_id=row.hetzner_id,
                ipv4=row.public_ip,
                ipv6=row.ipv6,
                protection_delete=bool(row.protection_delete),
                blocked=bool(row.blocked),
                locked=bool(row.locked),
                synced=bool(row.synced),
                created_at=row.created_at,
                deleted_at=row.deleted_at,
                version=row.version,
            )
            for row in rows
        ]

    def _one(self, query: sa.Select[Any], for_update: bool = False) -> LoadBalancer | None:
        found = self._many(query, for_update)
        return found[0] if found else None

    def get(self, lb_id: int, *, for_update: bool = False) -> LoadBalancer | None:
        c = t.load_balancers.c
        return self._one(sa.select(t.load_balancers).where(c.id == lb_id, c.deleted_at.is_(None)), for_update)

    def get_any(self, lb_id: int, *, for_update: bool = False) -> LoadBalancer | None:
        return self._one(sa.select(t.load_balancers).where(t.load_balancers.c.id == lb_id), for_update)

    def named(self, user_id: int, organization_id: int | None, name: str) -> LoadBalancer | None:
        c = t.load_balancers.c
        query = sa.select(t.load_balancers).where(
            _owner(c, user_id, organization_id), c.name == name, c.deleted_at.is_(None)
        )
        return self._one(query)

    def _values(self, lb: LoadBalancer, now: datetime) -> dict[str, Any]:
        return {
            "hetzner_id": lb.hetzner_id,
            "name": lb.name,
            "type": lb.spec.type,
            "datacenter_id": lb.location_id,
            "public_ip": lb.ipv4,
            "algorithm": lb.spec.algorithm,
            "status": lb.status,
            "labels": lb.labels,
            "updated_at": now,
            "deleted_at": lb.deleted_at,
            "location": lb.location,
            "network_zone": lb.network_zone,
            "ipv6": lb.ipv6,
            "public_enabled": lb.spec.public_enabled,
            "dns_ptrs": lb.spec.dns_ptrs,
            "networks": lb.spec.networks,
            "protection_delete": lb.protection_delete,
            "blocked": lb.blocked,
            "locked": lb.locked,
            "synced": lb.synced,
            "version": lb.version,
        }

    def add(self, lb: LoadBalancer, now: datetime) -> LoadBalancer:
        result = self.session.execute(
            sa.insert(t.load_balancers).values(
                user_id=lb.user_id, organization_id=lb.organization_id, created_at=now, **self._values(lb, now)
            )
        )
        lb.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        lb.created_at = now
        self._write_parts(lb)
        self._saw(lb)
        return lb

    def _write_parts(self, lb: LoadBalancer) -> None:
        s, g = t.load_balancer_services.c, t.load_balancer_targets.c
        self.session.execute(sa.delete(t.load_balancer_services).where(s.load_balancer_id == lb.id))
        self.session.execute(sa.delete(t.load_balancer_targets).where(g.load_balancer_id == lb.id))
        if lb.spec.services:
            self.session.execute(
                sa.insert(t.load_balancer_services),
                [
                    {
                        "load_balancer_id": lb.id,
                        "listen_port": svc["listen_port"],
                        "protocol": svc["protocol"],
                        "destination_port": svc["destination_port"],
                        "proxyprotocol": bool(svc["proxyprotocol"]),
                        "health_check": svc["health_check"],
                        "http": svc.get("http"),
                    }
                    for svc in lb.spec.services
                ],
            )
        if lb.spec.targets:
            self.session.execute(
                sa.insert(t.load_balancer_targets),
                [
                    {
                        "load_balancer_id": lb.id,
                        "type": target.type,
                        "server_id": target.server_id,
                        "label_selector": target.selector,
                        "ip": target.ip,
                        "use_private_ip": target.use_private_ip,
                        "position": place,
                    }
                    for place, target in enumerate(lb.spec.targets)
                ],
            )

    def save(self, lb: LoadBalancer, now: datetime) -> None:
        self.session.execute(
            sa.update(t.load_balancers).where(t.load_balancers.c.id == lb.id).values(**self._values(lb, now))
        )
        self._write_parts(lb)
        self._saw(lb)

    def targeting(self, server_ids: Collection[int], *, for_update: bool = False) -> list[LoadBalancer]:
        if not server_ids:
            return []
        c, g = t.load_balancers.c, t.load_balancer_targets.c
        ids = sa.select(g.load_balancer_id).where(g.type == "server", g.server_id.in_(sorted(server_ids)))
        query = sa.select(t.load_balancers).where(c.id.in_(ids), c.deleted_at.is_(None)).order_by(c.id)
        return self._many(query, for_update)

    def _selector_ids(self) -> sa.Select[Any]:
        g = t.load_balancer_targets.c
        return sa.select(g.load_balancer_id).where(g.type == "label_selector")

    def with_selectors(self, user_id: int, organization_id: int | None) -> list[LoadBalancer]:
        c = t.load_balancers.c
        query = sa.select(t.load_balancers).where(
            _owner(c, user_id, organization_id), c.deleted_at.is_(None), c.id.in_(self._selector_ids())
        )
        return self._many(query.order_by(c.id))

    def unsync_tenant(self, user_id: int, organization_id: int | None) -> None:
        c = t.load_balancers.c
        self.session.execute(
            sa.update(t.load_balancers)
            .where(_owner(c, user_id, organization_id), c.deleted_at.is_(None), c.id.in_(self._selector_ids()))
            .values(synced=False)
        )

    def unsynced(self, limit: int, *, for_update: bool = False) -> list[LoadBalancer]:
        c = t.load_balancers.c
        query = (
            sa.select(t.load_balancers)
            .where(c.synced.is_(False), c.locked.is_(False), c.deleted_at.is_(None), c.status == "running")
            .order_by(c.id)
            .limit(limit)
        )
        return self._many(query.with_for_update(skip_locked=True) if for_update else query)

    def using_certificate(self, certificate_id: int) -> list[int]:
        c, s = t.load_balancers.c, t.load_balancer_services.c
        rows = self.session.execute(
            sa.select(s.load_balancer_id, s.http)
            .join(t.load_balancers, c.id == s.load_balancer_id)
            .where(c.deleted_at.is_(None), s.protocol == "https")
        )
        return sorted(
            {int(r.load_balancer_id) for r in rows if certificate_id in ((r.http or {}).get("certificates") or [])}
        )

    def owned_by(self, user_id: int, *, for_update: bool = False) -> list[LoadBalancer]:
        c = t.load_balancers.c
        query = sa.select(t.load_balancers).where(
            c.user_id == user_id, c.organization_id.is_(None), c.deleted_at.is_(None)
        )
        return self._many(query.order_by(c.id), for_update)

    def deleted_ids(self, ids: Collection[int]) -> set[int]:
        if not ids:
            return set()
        c = t.load_balancers.c
        live = self.session.execute(sa.select(c.id).where(c.id.in_(sorted(ids)), c.deleted_at.is_(None)))
        return set(ids) - {int(row.id) for row in live}

    def health(self, lb_ids: Collection[int]) -> dict[int, dict[tuple[str, int], str]]:
        found: dict[int, dict[tuple[str, int], str]] = {i: {} for i in lb_ids}
        if lb_ids:
            h = t.load_balancer_health.c
            for row in self.session.execute(
                sa.select(t.load_balancer_health).where(h.load_balancer_id.in_(sorted(lb_ids)))
            ):
                found[row.load_balancer_id][(row.target, row.listen_port)] = row.status
        return found

    def set_health(self, lb_id: int, health: dict[tuple[str, int], str], now: datetime) -> None:
        h = t.load_balancer_health.c
        self.session.execute(sa.delete(t.load_balancer_health).where(h.load_balancer_id == lb_id))
        rows = [
            {"load_balancer_id": lb_id, "target": key, "listen_port": port, "status": status, "checked_at": now}
            for (key, port), status in sorted(health.items())
        ]
        if not rows:  # nothing to report: a row with port 0 says when upstream was read
            rows = [{"load_balancer_id": lb_id, "target": "", "listen_port": 0, "status": "unknown", "checked_at": now}]
        self.session.execute(sa.insert(t.load_balancer_health), rows)

    def stale_health(self, older_than: datetime, limit: int) -> list[int]:
        c, h = t.load_balancers.c, t.load_balancer_health.c
        last = (
            sa.select(h.load_balancer_id, sa.func.max(h.checked_at).label("checked"))
            .group_by(h.load_balancer_id)
            .subquery()
        )
        query = (
            sa.select(c.id)
            .outerjoin(last, last.c.load_balancer_id == c.id)
            .where(
                c.deleted_at.is_(None),
                c.status == "running",
                c.locked.is_(False),
                sa.or_(last.c.checked.is_(None), last.c.checked < older_than),
            )
            .order_by(last.c.checked, c.id)
            .limit(limit)
        )
        return [int(row.id) for row in self.session.execute(query)]

    def claim_due(self, now: datetime, limit: int) -> list[MeteredLoadBalancer]:
        """Up to ``limit`` load balancers with an hour to record by ``now`` (made upstream:
        running, or deleted after it ran), locked for this transaction (SKIP LOCKED)."""
        c = t.load_balancers.c
        current_hour = hour_floor(now)
        live_due = sa.and_(
            c.deleted_at.is_(None),
            sa.or_(sa.and_(c.metered_until.is_(None), c.created_at < current_hour), c.metered_until < current_hour),
        )
        deleted_due = sa.and_(
            c.deleted_at.is_not(None), sa.or_(c.metered_until.is_(None), c.metered_until < c.deleted_at)
        )
        query = (
            sa.select(t.load_balancers)
            .where(c.hetzner_id.is_not(None), c.status == "running", sa.or_(live_due, deleted_due))
            .order_by(c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            MeteredLoadBalancer(
                id=row.id,
                user_id=row.user_id,
                organization_id=row.organization_id,
                name=row.name,
                type=row.type,
                location=row.location,
                created_at=row.created_at,
                deleted_at=row.deleted_at,
                metered_until=row.metered_until,
            )
            for row in self.session.execute(query)
        ]

    def advance(self, lb_id: int, metered_until: datetime) -> None:
        self.session.execute(
            sa.update(t.load_balancers).where(t.load_balancers.c.id == lb_id).values(metered_until=metered_until)
        )

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
    ) -> tuple[list[LoadBalancer], int]:
        c = t.load_balancers.c
        conditions: list[sa.ColumnElement[bool]] = [c.deleted_at.is_(None), *_tenant(c, user_id, organization_id)]
        if name:
            conditions.append(c.name == name)
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.load_balancers).where(where)).scalar_one()
        order_by = _order({"id": c.id, "name": c.name, "created": c.created_at}, order)
        query = sa.select(t.load_balancers).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return self._many(query), int(total)


def _certificate(row: sa.Row[Any]) -> Certificate:
    return Certificate(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        certificate=row.certificate,
        private_key=row.private_key,
        domain_names=list(row.domain_names or []),
        fingerprint=row.fingerprint,
        not_valid_before=row.not_valid_before,
        not_valid_after=row.not_valid_after,
        type=row.type,
        labels=dict(row.labels or {}),
        created_at=row.created_at,
        deleted_at=row.deleted_at,
        version=row.version,
    )


class CertificateRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Certificate] = []

    def _values(self, certificate: Certificate, now: datetime) -> dict[str, Any]:
        return {
            "name": certificate.name,
            "labels": certificate.labels,
            "version": certificate.version,
            "updated_at": now,
            "deleted_at": certificate.deleted_at,
        }

    def add(self, certificate: Certificate, now: datetime) -> Certificate:
        result = self.session.execute(
            sa.insert(t.certificates).values(
                user_id=certificate.user_id,
                organization_id=certificate.organization_id,
                type=certificate.type,
                certificate=certificate.certificate,
                private_key=certificate.private_key,
                domain_names=certificate.domain_names,
                fingerprint=certificate.fingerprint,
                not_valid_before=certificate.not_valid_before.replace(tzinfo=None),
                not_valid_after=certificate.not_valid_after.replace(tzinfo=None),
                created_at=now,
                **self._values(certificate, now),
            )
        )
        certificate.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        certificate.created_at = now
        self.seen.append(certificate)
        return certificate

    def get(self, certificate_id: int) -> Certificate | None:
        c = t.certificates.c
        row = self.session.execute(
            sa.select(t.certificates).where(c.id == certificate_id, c.deleted_at.is_(None))
        ).first()
        return _certificate(row) if row else None

    def named(self, user_id: int, organization_id: int | None, name: str) -> Certificate | None:
        c = t.certificates.c
        row = self.session.execute(
            sa.select(t.certificates).where(_owner(c, user_id, organization_id), c.name == name, c.deleted_at.is_(None))
        ).first()
        return _certificate(row) if row else None

    def save(self, certificate: Certificate, now: datetime) -> None:
        self.session.execute(
            sa.update(t.certificates)
            .where(t.certificates.c.id == certificate.id)
            .values(**self._values(certificate, now))
        )
        if not any(seen is certificate for seen in self.seen):
            self.seen.append(certificate)

    def owned_by(self, user_id: int) -> list[Certificate]:
        c = t.certificates.c
        rows = self.session.execute(
            sa.select(t.certificates)
            .where(c.user_id == user_id, c.organization_id.is_(None), c.deleted_at.is_(None))
            .order_by(c.id)
        )
        return [_certificate(row) for row in rows]

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
    ) -> tuple[list[Certificate], int]:
        c = t.certificates.c
        conditions: list[sa.ColumnElement[bool]] = [c.deleted_at.is_(None), *_tenant(c, user_id, organization_id)]
        if name:
            conditions.append(c.name == name)
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.certificates).where(where)).scalar_one()
        order_by = _order({"id": c.id, "name": c.name, "created": c.created_at}, order)
        query = sa.select(t.certificates).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return [_certificate(row) for row in self.session.execute(query)], int(total)
