"""Deliveries (``notification_deliveries``), preferences (``notification_preferences``) and
accounts' webhook secrets (``webhook_secrets``), inside one session."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from cpshared.timestamps import as_utc
from support_service.adapters import tables as t
from support_service.domain.delivery import FAILED, PENDING, SENT, Delivery
from support_service.domain.webhooks import new_secret


def _delivery(row: sa.Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        notification_id=row.notification_id,
        channel=row.channel,
        user_id=int(row.user_id),
        type=row.type,
        data=json.loads(row.data),
        status=row.status,
        attempts=int(row.attempts),
        next_attempt_at=as_utc(row.next_attempt_at),
        last_error=row.last_error,
        message_id=row.message_id,
        sent_at=as_utc(row.sent_at) if row.sent_at else None,
        target=row.target,
    )


class DeliveryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, delivery: Delivery, now: datetime) -> None:
        """Once: the (notification, channel) pair is unique, a second one is not written."""
        write = (
            mysql_insert(t.notification_deliveries)
            .values(
                id=delivery.id,
                notification_id=delivery.notification_id,
                channel=delivery.channel,
                user_id=delivery.user_id,
                type=delivery.type,
                data=json.dumps(delivery.data, ensure_ascii=False, sort_keys=True),
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                target=delivery.target,
            )
            .prefix_with("IGNORE")
        )
        self.session.execute(write)

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Up to ``limit`` pending deliveries due at ``now``, locked past other senders
        (SKIP LOCKED) and leased to this one until ``lease_until``: their attempt is counted
        now, so a sender that dies mid-send leaves them due again when the lease ends."""
        c = t.notification_deliveries.c
        rows = self.session.execute(
            sa.select(t.notification_deliveries)
            .where(c.status == PENDING, c.next_attempt_at <= now)
            .order_by(c.next_attempt_at, c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = [_delivery(row) for row in rows]
        if claimed:
            self.session.execute(
                sa.update(t.notification_deliveries)
                .where(c.id.in_([d.id for d in claimed]))
                .values(attempts=c.attempts + 1, next_attempt_at=lease_until, updated_at=now)
            )
        for delivery in claimed:
            delivery.attempts += 1
        return claimed

    def record_sent(self, delivery_id: str, message_id: str, now: datetime) -> None:
        c = t.notification_deliveries.c
        self.session.execute(
            sa.update(t.notification_deliveries)
            .where(c.id == delivery_id)
            .values(status=SENT, message_id=message_id, sent_at=now, last_error=None, updated_at=now)
        )

    def record_failure(self, delivery_id: str, error: str, retry_at: datetime | None, now: datetime) -> None:
        """A failed attempt: due again at ``retry_at``, or ``failed`` for good when None."""
        c = t.notification_deliveries.c
        values: dict[str, Any] = {"last_error": error[:1000], "updated_at": now}
        if retry_at is None:
            values["status"] = FAILED
        else:
            values["next_attempt_at"] = retry_at
        self.session.execute(sa.update(t.notification_deliveries).where(c.id == delivery_id).values(**values))

    def get(self, delivery_id: str) -> Delivery | None:
        row = self.session.execute(
            sa.select(t.notification_deliveries).where(t.notification_deliveries.c.id == delivery_id)
        ).first()
        return _delivery(row) if row else None


class PreferenceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def chosen(self, user_id: int) -> dict[tuple[str, str], bool]:
        """The user's own choices, (kind, channel) → enabled."""
        c = t.notification_preferences.c
        rows = self.session.execute(sa.select(c.kind, c.channel, c.enabled).where(c.user_id == user_id))
        return {(str(kind), str(channel)): bool(enabled) for kind, channel, enabled in rows}

    def set(self, user_id: int, choices: dict[tuple[str, str], bool], now: datetime) -> None:
        for (kind, channel), enabled in choices.items():
            write = mysql_insert(t.notification_preferences).values(
                user_id=user_id, kind=kind, channel=channel, enabled=enabled, updated_at=now
            )
            self.session.execute(
                write.on_duplicate_key_update(enabled=write.inserted.enabled, updated_at=write.inserted.updated_at)
            )


class WebhookSecretRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def secret(self, account_type: str, account_id: int, now: datetime) -> str:
        """The account's secret, made on first use (two first uses at once agree: the row's key decides)."""
        c = t.webhook_secrets.c
        where = (c.account_type == account_type, c.account_id == account_id)
        found = self.session.execute(sa.select(c.secret).where(*where)).scalar_one_or_none()
        if found is None:
            self.session.execute(
                mysql_insert(t.webhook_secrets)
                .values(
                    account_type=account_type,
                    account_id=account_id,
                    secret=new_secret(),
                    created_at=now,
                    rotated_at=now,
                )
                .prefix_with("IGNORE")
            )
            found = self.session.execute(sa.select(c.secret).where(*where)).scalar_one()
        return str(found)

    def rotate(self, account_type: str, account_id: int, secret: str, now: datetime) -> None:
        write = mysql_insert(t.webhook_secrets).values(
            account_type=account_type, account_id=account_id, secret=secret, created_at=now, rotated_at=now
        )
        self.session.execute(
            write.on_duplicate_key_update(secret=write.inserted.secret, rotated_at=write.inserted.rotated_at)
        )
