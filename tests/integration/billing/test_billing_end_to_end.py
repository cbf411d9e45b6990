"""Billing end to end on a controlled clock (issue 6): a month of servers through the gateway
with the ``hcloud`` client, metered by compute, relayed to Kafka, ingested by a billing
consumer process that is SIGKILLed again and again, invoiced by ``cloudctl billing run``, read
back through the gateway — every line and total equal to a reference computed here from the
scenario's own timeline — and ``cloudctl billing reconcile`` clean until a line is tampered with.

What runs for real: identity, compute, billing's gRPC and the gateway (tests/integration/live.py)
in this process's threads on scratch databases, with the process-wide clock a ManualClock
that the test moves through October 2026; compute's provisioning worker in a thread against
the in-process Hetzner simulator (zero action delay); metering (``Meter.run``) after every jump
of the clock; ``relay_main --all`` publishing identity's and compute's outboxes, and the billing
consumer (``consumer_main`` with the billing projection), as subprocesses on the real Kafka.
The one redirection: a trigger on each scratch outbox sends its rows to a scratch topic instead
of identity.events/usage.events, so the test neither reads nor pollutes the shared streams.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
import sqlalchemy as sa
from hcloud import Client
from hcloud.actions import ActionFailedException
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType
from hcloud.servers import BoundServer

from billing_service.adapters.tables import invoice_items, invoices, usage_records
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.service_layer.metering import Meter
from cpshared.clock import ManualClock, get_clock, set_clock
from cpshared.db import make_engine
from cpshared.events.tables import dead_letters, outbox
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic
from identity_service.domain import commands
from identity_service.domain.model import UserStatus
from identity_service.service_layer import api_keys, organizations, users
from tests.faketime import environment_at
from tests.integration.backbone import KAFKA
from tests.integration.gateway.test_servers_api import Worker
from tests.integration.live import LivePlatform, live_platform
from tests.integration.test_consumer_crashes import wait_until

ROOT = Path(__file__).resolve().parents[3]
FACTORY = "tests.integration.billing.support:billing_from_env"
CLOUDCTL = str(Path(sys.executable).parent / "cloudctl")
HOUR = timedelta(hours=1)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
METERED_UNTIL = NOVEMBER + timedelta(hours=3)
"""Where the clock stops: three hours of November are metered too, and must stay off October's invoices."""
JUMP = timedelta(hours=12)
KILL_DAYS = (5, 11, 17, 23, 29)
"""The billing consumer is SIGKILLed once the clock has passed each of these days of October."""
INCLUDED_VAT = Decimal("1.19")
"""The README: catalog prices are gross, with 19 % German VAT; invoice lines are net of it."""
CENT, MICRO = Decimal("0.01"), Decimal("0.000001")


# -- the scenario's own timeline ----------------------------------------------------------------
@dataclass
class Life:
    """One server as the scenario made it: when it was created and deleted, its types."""

    name: str
    tenant: str
    created: datetime
    types: list[tuple[datetime, str]]
    deleted: datetime | None = None
    failed: bool = False
    server: BoundServer | None = None
    server_id: int = 0


def billed_hours(life: Life, until: datetime) -> list[tuple[datetime, str]]:
    """(hour start, type) of every hour billable by ``until``, written from the README's rule:
    every started UTC hour of the server's life (a stopped server too), the last partial hour of
    a deleted one included, each priced by the type in effect at the hour's end (or at the
    deletion, if earlier); a live server's hours once they have ended; never a failed server."""
    if life.failed:
        return []
    hours = []
    hour = life.created.replace(minute=0, second=0, microsecond=0)
    while (hour < life.deleted) if life.deleted is not None else (hour + HOUR <= until):
        priced_at = min(hour + HOUR, life.deleted) if life.deleted is not None else hour + HOUR
        hours.append((hour, [name for changed, name in life.types if changed < priced_at][-1]))
        hour += HOUR
    return hours


def half_up(amount: Decimal, places: Decimal) -> Decimal:
    return amount.quantize(places, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ExpectedLine:
    resource_id: int
    product: str
    quantity: Decimal
    unit_price: Decimal
    total: Decimal
    capped: bool
    start: datetime
    end: datetime


def expected_lines(
    lives: list[Life], prices: dict[str, tuple[Decimal, Decimal]], until: datetime = METERED_UNTIL
) -> list[ExpectedLine]:
    """October's lines of some servers: hours x gross hourly price, at most the gross monthly
    price per (server, type), net of the included 19 % and rounded once to the cent."""
    lines = []
    for life in lives:
        october = [(hour, kind) for hour, kind in billed_hours(life, until) if hour < NOVEMBER]
        for kind in sorted({kind for _, kind in october}):
            starts = [hour for hour, k in october if k == kind]
            hourly, monthly = prices[kind]
            lines.append(
                ExpectedLine(
                    resource_id=life.server_id,
                    product=kind,
                    quantity=Decimal(len(starts)),
                    unit_price=half_up(hourly / INCLUDED_VAT, MICRO),
                    total=half_up(min(len(starts) * hourly, monthly) / INCLUDED_VAT, CENT),
                    capped=len(starts) * hourly > monthly,
                    start=starts[0],
                    end=starts[-1] + HOUR,
                )
            )
    return sorted(lines, key=lambda line: (line.resource_id, line.product))


def expected_figures(lines: list[ExpectedLine], rate: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Subtotal (the lines' sum), VAT (on the subtotal, to the cent half up), total."""
    subtotal = sum((line.total for line in lines), Decimal("0.00"))
    tax = half_up(subtotal * rate / 100, CENT)
    return subtotal, tax, subtotal + tax


TENANTS = {"ana": Decimal(19), "ben": Decimal(20), "acme": Decimal(0)}
"""VAT rate per tenant (README's EU table): ana in DE, ben in AT; acme a French business with a
VAT id, reverse charge."""


def _usage_lines(answer: dict[str, Any]) -> list[tuple[int, str, Decimal, Decimal, bool]]:
    return sorted(
        (u["resource_id"], u["product"], Decimal(u["quantity"]), Decimal(u["total"]), u["capped"])
        for u in answer["lines"]
    )


def _as_usage(lines: list[ExpectedLine]) -> list[tuple[int, str, Decimal, Decimal, bool]]:
    return sorted((e.resource_id, e.product, e.quantity, e.total, e.capped) for e in lines)


# -- the platform around the test ---------------------------------------------------------------
def redirect_outbox(mariadb: MariaDB, url: str, topic: Topic) -> None:
    """Every row this scratch database's outbox gets goes to ``topic`` (a scratch topic)."""
    database = sa.engine.make_url(url).database
    conn = mariadb.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE TRIGGER `{database}`.`outbox_to_scratch_topic` BEFORE INSERT ON `{database}`.`outbox` "
                "FOR EACH ROW SET NEW.topic = %s",
                (topic.name,),
            )
    finally:
        conn.close()


def _env(**values: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": "0",
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        **values,
    }


@contextlib.contextmanager
def relays(urls: dict[str, str], log: Path) -> Iterator[None]:
    """``relay_main --all`` over the scratch databases (published rows kept: the test counts them)."""
    env = _env(
        CP_SERVICE_NAME="relays",
        CP_RELAY_DATABASE_URLS=json.dumps(urls),
        CP_RELAY_IDLE_POLL_INTERVAL="0.1",
        CP_RELAY_PUBLISHED_RETENTION_HOURS="1000000",
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cpshared.events.relay_main", "--all"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


class BillingConsumer:
    """The billing consumer process (billing's projection over the scratch topic), killable."""

    def __init__(self, billing_url: str, topic: Topic, log: Path) -> None:
        self.env = _env(
            CP_SERVICE_NAME="billing",
            CP_DATABASE_URL=billing_url,
            CP_TEST_TOPIC=topic.name,
            CP_TEST_CONSUMER=f"billing-{topic.name}",
            CP_CONSUMER_INSTANCE_ID=f"billing-e2e-{topic.name}",
        )
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cpshared.events.consumer_main",
                    "tests.integration.billing.support:billing_from_env",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, "the billing consumer died on its own"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.kills += 1

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """``wait_until``, with the end of the consumer's log in the failure."""
        try:
            wait_until(condition, timeout, what)
        except AssertionError as exc:
            tail = self.log.read_text(errors="replace").splitlines()[-40:]
            raise AssertionError(f"{exc}; kills so far {self.kills}; consumer log:\n" + "\n".join(tail)) from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def _count(engine: sa.Engine, query: sa.Select[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def usage_rows(engine: sa.Engine) -> int:
    return _count(engine, sa.select(sa.func.count()).select_from(usage_records))


@dataclass
class Month:
    """The scenario's state: the clock, the tenants' clients, the servers, the consumer."""

    platform: LivePlatform
    clock: ManualClock
    billing: sa.Engine
    consumer: BillingConsumer
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    lives: dict[str, Life] = field(default_factory=dict)
    kill_days: list[int] = field(default_factory=lambda: list(KILL_DAYS))
    meter_hours: int = 0

    def advance_to(self, when: datetime) -> None:
        """Move the clock in jumps of at most 12 h, metering after each; the consumer is killed
        on the way (once the running one has applied something: a kill while it works)."""
        assert self.platform.compute is not None
        meter = Meter(self.platform.compute.uow, max_hours=200)
        while self.clock.now() < when:
            self.clock.set(min(when, self.clock.now() + JUMP))
            applied = usage_rows(self.billing)  # before this jump's hours are metered: some are still to come
            self.meter_hours += meter.run().hours
            if self.kill_days and self.clock.now() >= OCTOBER + timedelta(days=self.kill_days[0]):
                self.kill_days.pop(0)
                what = "the billing consumer applying usage"
                self.consumer.wait_until(partial(self.applied_more_than, applied), 90, what)
                self.consumer.kill()
                self.consumer.start()

    def applied_more_than(self, applied: int) -> bool:
        return usage_rows(self.billing) > applied

    def create(self, tenant: str, name: str, kind: str, *, fails: bool = False) -> Life:
        created = self.clients[tenant].servers.create(
            name=name,
            server_type=ServerType(name=kind),
            image=Image(name="ubuntu-24.04"),
            location=Location(name="fsn1"),
        )
        assert created.action is not None and created.server.id is not None
        life = Life(name, tenant, self.clock.now(), [(self.clock.now(), kind)], failed=fails)
        life.server, life.server_id = created.server, created.server.id
        self.lives[name] = life
        if fails:
            with pytest.raises(ActionFailedException):
                created.action.wait_until_finished(max_retries=400)
        else:
            created.action.wait_until_finished(max_retries=400)
        return life

    def act(self, name: str, what: Callable[[BoundServer], Any]) -> None:
        server = self.lives[name].server
        assert server is not None
        action = what(server)
        action.wait_until_finished(max_retries=400)

    def change_type(self, name: str, kind: str, *, upgrade_disk: bool) -> None:
        self.act(name, lambda s: s.change_type(ServerType(name=kind), upgrade_disk=upgrade_disk))
        self.lives[name].types.append((self.clock.now(), kind))

    def delete(self, name: str) -> None:
        self.act(name, lambda s: s.delete())
        self.lives[name].deleted = self.clock.now()

    def call(self, tenant: str, method: str, path: str, body: object = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[tenant]}"}
        return httpx.request(method, f"{self.platform.gateway}{path}", json=body, headers=headers, timeout=30)


def _user(platform: LivePlatform, name: str) -> int:
    return users.create_user(
        commands.CreateUser(
            name=name,
            email=f"{name}-{uuid.uuid4().hex[:6]}@example.com",
            password="a long enough password",
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    ).id


def _key(platform: LivePlatform, user_id: int, organization_id: int | None = None) -> str:
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(
            user_id=user_id,
            name="hcloud",
            scopes=("*:read", "*:write"),
            organization_id=organization_id,
            rate_limit=100_000,
        ),
        platform.identity.uow(),
    )
    return secret


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(OCTOBER)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``cloudctl billing ARGS`` as an operator runs it, on the scenario's clock: the invoices it
    issues are dated by the ManualClock's now (libfaketime), not by the machine's calendar."""
    return subprocess.run(
        [CLOUDCTL, "billing", *args],
        cwd=ROOT,
        env=environment_at(get_clock().now(), _env(COLUMNS="250")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_month_of_servers_through_the_gateway_is_invoiced_as_the_reference_says_and_reconciles(
    paths: LocalPaths, scratch_stream: Topic, clock: ManualClock, tmp_path: Path
) -> None:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_e2eb_id") as identity_url,
        mariadb.scratch_database("cp_test_e2eb_gw") as gateway_url,
        mariadb.scratch_database("cp_test_e2eb_cp") as compute_url,
        mariadb.scratch_database("cp_test_e2eb_bi") as billing_url,
    ):
        for service, url in (
            ("identity", identity_url),
            ("gateway", gateway_url),
            ("compute", compute_url),
            ("billing", billing_url),
        ):
            upgrade(service, migrations_dir(service), url)
        redirect_outbox(mariadb, identity_url, scratch_stream)
        redirect_outbox(mariadb, compute_url, scratch_stream)
        with (
            live_platform(
                identity_url, gateway_url, clock=clock, compute_url=compute_url, billing_url=billing_url
            ) as platform,
            relays({"identity": identity_url, "compute": compute_url}, tmp_path / "relays.log"),
        ):
            consumer = BillingConsumer(billing_url, scratch_stream, tmp_path / "consumer.log")
            worker = Worker(platform)
            assert platform.billing is not None and platform.simulator is not None
            compute_engine = make_engine(compute_url, pool_size=2)
            consumer.start()
            worker.start()
            try:
                month = Month(platform, clock, platform.billing, consumer)
                _play_october(month, platform.simulator.removesuffix("/v1"), compute_engine)
                assert consumer.kills >= 3
                # Caught up: every hour compute metered is a usage row of billing's, once.
                metered = _caught_up(month, compute_engine)
                time.sleep(1)  # anything applied twice would show now
                _check_usage(month, metered)
                _invoice_and_check(month, billing_url, scratch_stream)
            finally:
                worker.stop()
                consumer.stop()
                compute_engine.dispose()


def _play_october(month: Month, simulator_control: str, compute_engine: sa.Engine) -> None:
    platform = month.platform
    # Three tenants: a German consumer, an Austrian consumer, a French business with a VAT id.
    ana, ben, olga = _user(platform, "ana"), _user(platform, "ben"), _user(platform, "olga")
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    organization, _ = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=olga, name=slug, slug=slug), platform.identity.uow()
    )
    month.tokens = {
        "ana": _key(platform, ana),
        "ben": _key(platform, ben),
        "acme": _key(platform, olga, organization.id),
    }
    for tenant, body, path in (
        ("ana", {"country": "DE"}, "/v1/me"),
        ("ben", {"country": "AT"}, "/v1/me"),
        ("acme", {"country": "FR", "tax_id": "FR40303265045"}, f"/v1/organizations/{organization.id}"),
    ):
        answer = month.call(tenant, "PATCH" if path == "/v1/me" else "PUT", path, body)
        assert answer.status_code == 200, answer.text
    month.clients = {
        tenant: Client(token=token, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.05)
        for tenant, token in month.tokens.items()
    }

    at = OCTOBER.replace
    month.create("acme", "acme-db", "cx22")  # all month and beyond: capped
    month.advance_to(at(day=3, hour=10, minute=20))
    month.create("ana", "ana-web", "cx22")
    month.advance_to(at(day=5, hour=8))
    month.act("ana-web", lambda s: s.power_off())  # off: still billed
    month.advance_to(at(day=6, hour=12, minute=30))
    month.change_type("ana-web", "cx32", upgrade_disk=False)
    month.advance_to(at(day=6, hour=13, minute=5))
    month.act("ana-web", lambda s: s.power_on())
    month.advance_to(at(day=10))
    month.create("ana", "ana-tmp", "cx22")
    month.advance_to(at(day=10, hour=5))  # on the hour: exactly five hours
    month.delete("ana-tmp")
    month.advance_to(at(day=12, hour=14))
    # Upstream takes the create (compute asks it at once for the root password) but its action fails.
    fault: dict[str, object] = {"method": "POST", "path": "/v1/servers", "kind": "action_error"}
    fault |= {"code": "resource_unavailable", "message": "no capacity", "times": 1}
    httpx.post(f"{simulator_control}/_sim/faults", json=fault, timeout=5).raise_for_status()
    month.create("ben", "ben-fail", "cx22", fails=True)  # its creation failed upstream: never billed
    month.advance_to(at(day=12, hour=15, minute=10))
    month.delete("ben-fail")
    month.advance_to(at(day=15, hour=9, minute=10))
    month.create("ben", "ben-app", "cx32")  # past the month's end
    month.advance_to(at(day=20, hour=6))
    _check_estimate(month, compute_engine)
    month.create("acme", "acme-cache", "cx22")
    month.advance_to(at(day=20, hour=17, minute=45))
    month.delete("ana-web")
    month.advance_to(at(day=22, hour=6, minute=30))
    month.act("acme-cache", lambda s: s.power_off())
    month.advance_to(at(day=22, hour=6, minute=40))
    month.change_type("acme-cache", "cpx31", upgrade_disk=True)
    month.advance_to(at(day=22, hour=6, minute=45))
    month.act("acme-cache", lambda s: s.power_on())
    month.advance_to(at(day=25, hour=11))
    month.act("ben-app", lambda s: s.power_off())
    month.advance_to(at(day=28, hour=23, minute=30))
    month.create("acme", "acme-batch", "cpx31")
    month.advance_to(NOVEMBER + timedelta(hours=2))
    month.delete("acme-batch")
    month.advance_to(METERED_UNTIL)
    assert not month.kill_days


def _caught_up(month: Month, compute_engine: sa.Engine) -> int:
    """Wait until billing has a usage row for every hour compute metered; their number."""
    metered = _count(
        compute_engine,
        sa.select(sa.func.count()).select_from(outbox).where(outbox.c.event_type == "usage.recorded"),
    )
    month.consumer.wait_until(lambda: usage_rows(month.billing) >= metered, 90, "billing catching up on usage")
    return metered


def _check_estimate(month: Month, compute_engine: sa.Engine) -> None:
    """Mid-month, once billing has caught up: each tenant's month-to-date estimate is the
    reference's October so far (the hours that have ended)."""
    _caught_up(month, compute_engine)
    prices = _prices(month)
    for tenant, rate in TENANTS.items():
        answer = month.call(tenant, "GET", "/v1/billing/usage")
        assert answer.status_code == 200, answer.text
        usage = answer.json()["usage"]
        lives = [life for life in month.lives.values() if life.tenant == tenant]
        expected = expected_lines(lives, prices, until=month.clock.now())
        assert (usage["month"], usage["estimate"]) == ("2026-10", True)
        assert _usage_lines(usage) == _as_usage(expected), tenant
        figures = (Decimal(usage["subtotal"]), Decimal(usage["tax_amount"]), Decimal(usage["total"]))
        assert figures == expected_figures(expected, rate), tenant


def _check_usage(month: Month, metered: int) -> None:
    """What compute metered is what the reference says, and billing has each hour once."""
    reference = sum(len(billed_hours(life, METERED_UNTIL)) for life in month.lives.values())
    assert metered == month.meter_hours == reference
    assert usage_rows(month.billing) == metered
    assert _count(month.billing, sa.select(sa.func.count()).select_from(dead_letters)) == 0
    with month.billing.connect() as conn:
        billed_servers = set(conn.execute(sa.select(usage_records.c.resource_id).distinct()).scalars())
    assert month.lives["ben-fail"].server_id not in billed_servers
    assert billed_servers == {life.server_id for life in month.lives.values() if not life.failed}


def _prices(month: Month) -> dict[str, tuple[Decimal, Decimal]]:
    """The catalog's gross prices, as the public API shows them."""
    prices = {}
    for server_type in month.clients["ana"].server_types.get_all():
        assert server_type.prices
        price = server_type.prices[0]  # one price in every location
        assert server_type.name is not None
        prices[server_type.name] = (Decimal(price["price_hourly"]["gross"]), Decimal(price["price_monthly"]["gross"]))
    return prices


def _invoice_and_check(month: Month, billing_url: str, topic: Topic) -> None:
    issued_from = get_clock().now()
    run = run_cli("run", "--period", "2026-10", "--database-url", billing_url)
    assert run.returncode == 0, run.stderr
    assert "3 invoice(s) issued for 2026-10" in run.stdout, run.stdout

    prices = _prices(month)
    grand_total = Decimal(0)
    figures: list[str] = []
    for tenant, rate in TENANTS.items():
        listed = month.call(tenant, "GET", "/v1/invoices")
        assert listed.status_code == 200, listed.text
        [summary] = listed.json()["invoices"]
        answer = month.call(tenant, "GET", f"/v1/invoices/{summary['id']}")
        assert answer.status_code == 200, answer.text
        invoice = answer.json()["invoice"]

        lives = [life for life in month.lives.values() if life.tenant == tenant]
        expected = expected_lines(lives, prices)
        got = sorted(
            (
                ExpectedLine(
                    resource_id=item["resource_id"],
                    product=item["product"],
                    quantity=Decimal(item["quantity"]),
                    unit_price=Decimal(item["unit_price"]),
                    total=Decimal(item["total"]),
                    capped=item["capped"],
                    start=datetime.fromisoformat(item["usage_period_start"]),
                    end=datetime.fromisoformat(item["usage_period_end"]),
                )
                for item in invoice["items"]
            ),
            key=lambda line: (line.resource_id, line.product),
        )
        assert got == expected, tenant
        assert not any(item["adjustment"] for item in invoice["items"])
        subtotal, tax, total = expected_figures(expected, rate)
        assert (Decimal(invoice["subtotal"]), Decimal(invoice["tax_rate"]), Decimal(invoice["tax_amount"])) == (
            subtotal,
            rate,
            tax,
        ), tenant
        assert (Decimal(invoice["credits_applied"]), Decimal(invoice["total"])) == (Decimal(0), total), tenant
        assert (invoice["period_start"], invoice["period_end"]) == ("2026-10-01", "2026-10-31")
        # issued on the scenario's clock (the CLI runs on it), not on the machine's calendar
        issued = datetime.fromisoformat(invoice["issued"])
        assert issued_from <= issued < issued_from + timedelta(minutes=5), invoice["issued"]
        assert ("Reverse charge" in (invoice["notes"] or "")) is (tenant == "acme")
        # October's usage report (the seed's calculate_monthly_usage) says what the invoice says.
        report = month.call(tenant, "GET", "/v1/billing/usage?month=2026-10")
        assert report.status_code == 200, report.text
        usage = report.json()["usage"]
        assert usage["estimate"] is False and _usage_lines(usage) == _as_usage(expected), tenant
        assert (Decimal(usage["subtotal"]), Decimal(usage["tax_amount"]), Decimal(usage["total"])) == (
            subtotal,
            tax,
            total,
        )
        hours = {life.server_id: len([h for h, _ in billed_hours(life, NOVEMBER) if h < NOVEMBER]) for life in lives}
        assert {r["resource_id"]: Decimal(r["total_quantity"]) for r in usage["resources"]} == {
            server: Decimal(count) for server, count in hours.items() if count
        }, tenant
        pdf = month.call(tenant, "GET", f"/v1/invoices/{summary['id']}/pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
        assert invoice["number"] in text and invoice["total"] in text
        grand_total += total
        figures.append(f"{tenant} {invoice['number']} {subtotal} + {tax} = {invoice['total']}")
    acme_db = next(line for line in expected_lines([month.lives["acme-db"]], prices))
    assert acme_db.capped and acme_db.quantity == 744  # the whole month hit the cap
    print(f"\nOctober: {'; '.join(figures)}; all {grand_total} EUR")  # figures for the report (-s)

    # A second run issues nothing; reconcile finds no difference, until a line is tampered with.
    again = run_cli("run", "--period", "2026-10", "--database-url", billing_url)
    assert again.returncode == 0 and "0 invoice(s) issued for 2026-10" in again.stdout, again.stdout
    assert _count(month.billing, sa.select(sa.func.count()).select_from(invoices)) == 3
    clean = run_cli("reconcile", "--period", "2026-10", "--database-url", billing_url, "--topic", topic.name)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no difference" in clean.stdout
    with month.billing.begin() as conn:
        item = conn.execute(sa.select(invoice_items).order_by(invoice_items.c.id).limit(1)).one()
        tampered = item.total + Decimal("0.01")
        conn.execute(invoice_items.update().where(invoice_items.c.id == item.id).values(total=tampered))
    dirty = run_cli("reconcile", "--period", "2026-10", "--database-url", billing_url, "--topic", topic.name)
    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert str(tampered) in dirty.stdout and "no difference" not in dirty.stdout
