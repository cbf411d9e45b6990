"""Usage and identity events like the platform's, a billing database, and the billing
projection over a scratch stream, for the tests."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from billing_service.adapters.unit_of_work import BillingUnitOfWork
from billing_service.bootstrap import Billing
from billing_service.config import BillingRules
from billing_service.domain.commands import RunInvoices
from billing_service.entrypoints.projection import BillingProjection
from billing_service.service_layer import invoice_run
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cloudplatform.usage.v1 import events_pb2 as usage_events
from cpshared.db import make_engine
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, new_event, usage_event_id
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.migrations import migrations_dir, upgrade
from cpshared.timestamps import to_timestamp
from cpshared.topics import IDENTITY_EVENTS, USAGE_EVENTS, Topic, TopicKind


def uow_of(engine: Engine, rules: BillingRules | None = None) -> BillingUnitOfWork:
    """A unit of work of billing's, as its entrypoints make them (bootstrap)."""
    return Billing(engine, rules or BillingRules()).uow()


def run_invoices(
    engine: Engine, period: date, rules: BillingRules | None = None, *, batch: int = invoice_run.BATCH
) -> invoice_run.RunReport:
    """The invoice run as billing's entrypoints run it: its handler on the bootstrap's units of work."""
    billing = Billing(engine, rules or BillingRules())
    return invoice_run.run_invoices(RunInvoices(period), billing.terms, billing.uow, batch=batch)


PRICES = {"cx22": ("0.006000", "3.79"), "cx32": ("0.011000", "6.80"), "cpx41": ("0.039200", "24.49")}


@pytest.fixture
def billing_db(paths: LocalPaths) -> Iterator[tuple[str, Engine]]:
    with MariaDB(paths.root).scratch_database("cp_test_bill") as url:
        upgrade("billing", migrations_dir("billing"), url)
        engine = make_engine(url, pool_size=4)
        try:
            yield url, engine
        finally:
            engine.dispose()


def server_hour(
    server_id: int,
    start: datetime,
    *,
    product: str = "cx22",
    user_id: int = 10,
    organization_id: int = 0,
    price: tuple[str, str] | None = None,
    topic: Topic = USAGE_EVENTS,
) -> PendingEvent:
    """What compute's metering sends for one server and one started clock hour."""
    hourly, monthly = price or PRICES[product]
    hour = int(start.timestamp()) // 3600
    pending = new_event(
        catalog.USAGE_RECORDED,
        producer="compute",
        aggregate_id=f"server:{server_id}",
        aggregate_version=hour,
        payload=usage_events.UsageRecorded(
            resource_type="server",
            resource_id=server_id,
            resource_name=f"web-{server_id}",
            user_id=user_id,
            organization_id=organization_id,
            metric_type="compute_hours",
            quantity="1",
            period_start=to_timestamp(start),
            period_end=to_timestamp(start + timedelta(hours=1)),
            product=product,
            location="fsn1",
            price_hourly=hourly,
            price_monthly=monthly,
            currency="EUR",
        ),
        event_id=usage_event_id("server", server_id, "compute_hours", int(start.timestamp())),
    )
    return dataclasses.replace(pending, topic=topic)


def hours(server_id: int, first: datetime, count: int, **kwargs: object) -> list[PendingEvent]:
    return [server_hour(server_id, first + timedelta(hours=n), **kwargs) for n in range(count)]  # type: ignore[arg-type]


def user_created(user_id: int, topic: Topic = IDENTITY_EVENTS) -> PendingEvent:
    pending = new_event(
        catalog.USER_CREATED,
        producer="identity",
        aggregate_id=user_id,
        aggregate_version=1,
        payload=identity_events.UserCreated(user_id=user_id, role="client", status="active"),
    )
    return dataclasses.replace(pending, topic=topic)


def profile_updated(
    user_id: int, country: str, tax_id: str | None = None, topic: Topic = IDENTITY_EVENTS
) -> PendingEvent:
    payload = identity_events.UserProfileUpdated(user_id=user_id, changed_fields=["country"], country=country)
    if tax_id is not None:
        payload.tax_id = tax_id
    pending = new_event(
        catalog.USER_PROFILE_UPDATED, producer="identity", aggregate_id=user_id, aggregate_version=2, payload=payload
    )
    return dataclasses.replace(pending, topic=topic)


def organization_created(organization_id: int, owner: int, topic: Topic = IDENTITY_EVENTS) -> PendingEvent:
    pending = new_event(
        catalog.ORGANIZATION_CREATED,
        producer="identity",
        aggregate_id=organization_id,
        aggregate_version=1,
        payload=identity_events.OrganizationCreated(
            organization_id=organization_id, owner_user_id=owner, status="active"
        ),
    )
    return dataclasses.replace(pending, topic=topic)


def organization_updated(
    organization_id: int,
    *,
    country: str | None = None,
    tax_id: str | None = None,
    name: str | None = None,
    topic: Topic = IDENTITY_EVENTS,
) -> PendingEvent:
    payload = identity_events.OrganizationUpdated(organization_id=organization_id, updated_by_user_id=1)
    for field, value in (("country", country), ("tax_id", tax_id), ("name", name)):
        if value is not None:
            setattr(payload, field, value)
            payload.changed_fields.append(field)
    pending = new_event(
        catalog.ORGANIZATION_UPDATED,
        producer="identity",
        aggregate_id=organization_id,
        aggregate_version=2,
        payload=payload,
    )
    return dataclasses.replace(pending, topic=topic)


def apply(engine: Engine, events: list[PendingEvent]) -> None:
    """Apply ``events`` through the real projection runner, as the consumer would."""
    records = [
        RawRecord(e.topic.name, 0, n, e.key, e.envelope.SerializeToString(), e.headers()) for n, e in enumerate(events)
    ]
    ProjectionRunner(engine, BillingProjection()).apply_batch(records)


def billing_from_env() -> BillingProjection:
    """The billing projection over the scratch stream named by CP_TEST_TOPIC (a consumer subprocess)."""
    topic = Topic(name=os.environ["CP_TEST_TOPIC"], kind=TopicKind.DOMAIN, partitions=3)
    return scratch_billing(topic, os.environ.get("CP_TEST_CONSUMER", "billing-test"))


def scratch_billing(topic: Topic, name: str) -> BillingProjection:
    class ScratchBilling(BillingProjection):
        topics = (topic,)

    ScratchBilling.name = name
    return ScratchBilling()


OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
GROSS = Decimal("1.19")
