"""Billing's holds (``billing_holds``) in and out of MariaDB, on the unit of work's session.
The account's own row (user or organization) is locked by the caller first, so a hold changes
only under that lock."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity_service.adapters.rows import from_db, to_db
from identity_service.adapters.tables import billing_holds
from identity_service.domain.dunning import AccountType, BillingHold


def _account(account_type: AccountType, account_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(billing_holds.c.account_type == account_type.value, billing_holds.c.account_id == account_id)


class DunningRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def hold(self, account_type: AccountType, account_id: int) -> BillingHold | None:
        row = self._session.execute(billing_holds.select().where(_account(account_type, account_id))).first()
        if row is None:
            return None
        suspended_at = from_db(row.suspended_at)
        assert suspended_at is not None
        return BillingHold(
            AccountType(row.account_type),
            int(row.account_id),
            row.previous_status,
            int(row.invoice_id),
            row.reason,
            suspended_at,
        )

    def keep(self, hold: BillingHold) -> None:
        self._session.execute(
            billing_holds.insert().values(
                account_type=hold.account_type.value,
                account_id=hold.account_id,
                previous_status=hold.previous_status,
                invoice_id=hold.invoice_id,
                reason=hold.reason[:1000],
                suspended_at=to_db(hold.suspended_at),
            )
        )

    def release(self, account_type: AccountType, account_id: int) -> bool:
        deleted = self._session.execute(billing_holds.delete().where(_account(account_type, account_id)))
        return bool(deleted.rowcount)  # type: ignore[attr-defined]
