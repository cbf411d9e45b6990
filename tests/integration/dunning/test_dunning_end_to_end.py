"""Dunning end to end on a controlled clock, through the gateway (issue 24): a user's and an
organization's October invoices left unpaid past their due date and the grace period → billing
requests their suspension → identity suspends the user and the organization → compute stops and
locks their servers; each invoice paid in two parts → paid → billing lifts its request →
identity reactivates both → compute unlocks the servers; every step in the audit log.

What runs for real: identity, compute, billing, audit and the gateway (tests/integration/live.py)
in this process's threads on scratch databases, on a ManualClock; compute's provisioning worker
in a thread against the in-process Hetzner simulator; metering (``Meter.run``) after every jump
of the clock; the invoice run and the keeper's overdue sweep as billing's own handlers on that
clock; ``relay_main --all`` over identity's, compute's and billing's outboxes, and four consumer
processes (``consumer_main``) on the real Kafka: billing's projection (usage), identity's billing
projection (dunning), compute's account projection (the servers) and audit's projection. Every
scratch outbox sends its rows to one scratch topic, which every consumer reads.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hcloud import Client
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

from billing_service.adapters.tables import billing_accounts, usage_records
from billing_service.service_layer import schedule
from billing_service.service_layer.schedule import RoundReport
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters import tables as compute_tables
from compute_service.service_layer.metering import Meter
from cpshared.clock import ManualClock, set_clock
from cpshared.db import make_engine
from cpshared.events.tables import dead_letters, outbox
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic
from identity_service.domain import commands
from identity_service.domain.model import UserRole, UserStatus
from identity_service.service_layer import api_keys, organizations, users
from tests.integration.billing.support import run_invoices, uow_of
from tests.integration.billing.test_billing_end_to_end import _env, redirect_outbox, relays
from tests.integration.gateway.test_servers_api import Worker
from tests.integration.live import LivePlatform, live_platform
from tests.integration.test_consumer_crashes import wait_until

ROOT = Path(__file__).resolve().parents[3]
START = datetime(2026, 10, 29, 9, 0, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
JUMP = timedelta(hours=12)
GRACE_DAYS = 14
"""billing's default CP_BILLING_SUSPENSION_GRACE_DAYS, as the keeper passes it to the sweep."""
CONSUMERS = {
    "billing": "tests.integration.billing.support:billing_from_env",
    "identity": "tests.integration.dunning.support:identity_from_env",
    "compute": "tests.integration.compute.consumer_support:from_env",
    "audit": "tests.integration.audit_log.support:audit_from_env",
}
"""Each service's consumer over the scratch stream (the factories the stack's PROJECTIONS name,
redirected to it)."""
STEPS = (
    "invoice.issued",
    "invoice.overdue",
    "billing.suspension_requested",
    "user.suspended",
    "organization.suspended",
    "server.suspended",
    "invoice.payment_received",
    "invoice.paid",
    "billing.suspension_lifted",
    "user.activated",
    "organization.activated",
    "server.unsuspended",
)


@contextlib.contextmanager
def consumers(urls: dict[str, str], topic: Topic, logs: Path) -> Iterator[None]:
    """One consumer process per service, each its own consumer group on the scratch topic."""
    processes = []
    try:
        for service, factory in CONSUMERS.items():
            env = _env(
                CP_SERVICE_NAME=service,
                CP_DATABASE_URL=urls[service],
                CP_TEST_TOPIC=topic.name,
                CP_TEST_CONSUMER=f"{service}-{topic.name}",
            )
            with (logs / f"{service}-consumer.log").open("ab") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cpshared.events.consumer_main", factory],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=out,
                    )
                )
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)


def _count(engine: sa.Engine, query: sa.Select[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


class Scenario:
    def __init__(self, platform: LivePlatform, clock: ManualClock, compute_engine: sa.Engine, logs: Path) -> None:
        assert platform.billing is not None and platform.compute is not None
        self.platform, self.clock, self.logs = platform, clock, logs
        self.billing = platform.billing
        self.compute_engine = compute_engine
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        self.servers: dict[str, int] = {}

    # -- the platform's doors ------------------------------------------------------------------
    def call(self, who: str, method: str, path: str, body: object = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(method, f"{self.platform.gateway}{path}", json=body, headers=headers, timeout=30)

    def ok(self, who: str, method: str, path: str, body: object = None) -> dict[str, Any]:
        answer = self.call(who, method, path, body)
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json()  # type: ignore[no-any-return]

    def client(self, who: str) -> Client:
        return Client(token=self.tokens[who], api_endpoint=f"{self.platform.gateway}/v1", poll_interval=0.05)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
        try:
            wait_until(condition, timeout, what, poll=0.2)
        except AssertionError as exc:
            tails = []
            for log in sorted(self.logs.glob("*.log")):
                tails.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
            raise AssertionError(f"{exc}\n" + "\n".join(tails)) from None

    # -- set-up --------------------------------------------------------------------------------
    def user(self, name: str, role: UserRole = UserRole.CLIENT) -> int:
        created = users.create_user(
            commands.CreateUser(
                name=name,
                email=f"{name}-{uuid.uuid4().hex[:6]}@example.com",
                password="a long enough password",
                role=role,
                status=UserStatus.ACTIVE,
            ),
            self.platform.identity.uow(),
        )
        self.ids[name] = created.id
        return created.id

    def key(self, who: str, user_id: int, organization_id: int | None = None) -> None:
        _, secret = api_keys.create_api_key(
            commands.CreateApiKey(
                user_id=user_id,
                name=who,
                scopes=("*:read", "*:write"),
                organization_id=organization_id,
                rate_limit=100_000,
            ),
            self.platform.identity.uow(),
        )
        self.tokens[who] = secret

    def create_server(self, who: str, name: str) -> None:
        created = self.client(who).servers.create(
            name=name,
            server_type=ServerType(name="cx22"),
            image=Image(name="ubuntu-24.04"),
            location=Location(name="fsn1"),
        )
        assert created.action is not None and created.server.id is not None
        created.action.wait_until_finished(max_retries=400)
        self.servers[name] = created.server.id

    def advance_metering(self, until: datetime) -> None:
        assert self.platform.compute is not None
        meter = Meter(self.platform.compute.uow, max_hours=200)
        while self.clock.now() < until:
            self.clock.set(min(until, self.clock.now() + JUMP))
            meter.run()

    # -- what the scenario looks at ------------------------------------------------------------
    def server(self, who: str, name: str) -> dict[str, Any]:
        return self.ok(who, "GET", f"/v1/servers/{self.servers[name]}")["server"]  # type: ignore[no-any-return]

    def server_row(self, name: str) -> Any:
        with self.compute_engine.connect() as conn:
            c = compute_tables.servers.c
            return conn.execute(
                sa.select(c.status, c.suspended_at, c.deleted_at).where(c.id == self.servers[name])
            ).one()

    def user_status(self, name: str) -> str:
        return self.ok("admin", "GET", f"/v1/admin/users/{self.ids[name]}")["user"]["status"]  # type: ignore[no-any-return]

    def organization_status(self) -> str:
        return self.ok("olga", "GET", f"/v1/organizations/{self.ids['acme']}")["organization"]["status"]  # type: ignore[no-any-return]

    def billing_status(self, account_type: str, account_id: int) -> str | None:
        """The account's status as billing's projection follows it from identity's events."""
        c = billing_accounts.c
        with self.billing.connect() as conn:
            return conn.execute(
                sa.select(c.status).where(c.account_type == account_type, c.account_id == account_id)
            ).scalar_one_or_none()

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        return self.ok("admin", "GET", f"/v1/invoices/{invoice_id}")["invoice"]  # type: ignore[no-any-return]

    def audit(self, action: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.ok("admin", "GET", f"/v1/audit_logs?action={action}&per_page=50")[
            "audit_logs"
        ]
        return entries

    def outbox_count(self, engine: sa.Engine, event_type: str) -> int:
        return _count(engine, sa.select(sa.func.count()).select_from(outbox).where(outbox.c.event_type == event_type))


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def test_an_unpaid_invoice_suspends_the_account_and_its_servers_and_the_payment_in_two_parts_lifts_it(
    paths: LocalPaths, scratch_stream: Topic, clock: ManualClock, tmp_path: Path
) -> None:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_dun_id") as identity_url,
        mariadb.scratch_database("cp_test_dun_gw") as gateway_url,
        mariadb.scratch_database("cp_test_dun_cp") as compute_url,
        mariadb.scratch_database("cp_test_dun_bi") as billing_url,
        mariadb.scratch_database("cp_test_dun_au") as audit_url,
    ):
        urls = {
            "identity": identity_url,
            "gateway": gateway_url,
            "compute": compute_url,
            "billing": billing_url,
            "audit": audit_url,
        }
        for service, url in urls.items():
            upgrade(service, migrations_dir(service), url)
        for service in ("identity", "compute", "billing"):
            redirect_outbox(mariadb, urls[service], scratch_stream)
        with (
            live_platform(
                identity_url,
                gateway_url,
                clock=clock,
                audit_url=audit_url,
                compute_url=compute_url,
                billing_url=billing_url,
            ) as platform,
            relays({s: urls[s] for s in ("identity", "compute", "billing")}, tmp_path / "relays.log"),
            consumers(urls, scratch_stream, tmp_path),
        ):
            worker = Worker(platform)
            compute_engine = make_engine(compute_url, pool_size=2)
            identity_engine = make_engine(identity_url, pool_size=2)
            worker.start()
            try:
                _dunning(Scenario(platform, clock, compute_engine, tmp_path), identity_engine)
            finally:
                worker.stop()
                compute_engine.dispose()
                identity_engine.dispose()


def _dunning(s: Scenario, identity_engine: sa.Engine) -> None:
    # A user, an organization (its owner olga has no servers of her own), billing staff.
    ana, olga = s.user("ana"), s.user("olga")
    admin = s.user("admin", UserRole.ADMIN)
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    acme, _ = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=olga, name=slug, slug=slug), s.platform.identity.uow()
    )
    s.ids["acme"] = acme.id
    s.key("ana", ana)
    s.key("olga", olga, acme.id)
    s.key("admin", admin)
    s.ok("ana", "PATCH", "/v1/me", {"country": "DE"})
    s.ok("olga", "PUT", f"/v1/organizations/{acme.id}", {"country": "DE"})

    s.create_server("ana", "ana-web")
    s.create_server("olga", "acme-db")
    s.advance_metering(NOVEMBER + timedelta(hours=2))
    metered = s.outbox_count(s.compute_engine, "usage.recorded")
    s.wait(
        lambda: _count(s.billing, sa.select(sa.func.count()).select_from(usage_records)) >= metered,
        "billing ingesting October's usage",
    )

    # October is invoiced: one invoice for ana, one for acme, due after the payment terms.
    assert len(run_invoices(s.billing, date(2026, 10, 1)).issued) == 2
    listed = s.ok("admin", "GET", "/v1/invoices")["invoices"]
    invoice_of = {(i["account_type"], i["account_id"]): i["id"] for i in listed}
    ana_invoice, acme_invoice = invoice_of["user", ana], invoice_of["organization", acme.id]
    due = date.fromisoformat(s.invoice(ana_invoice)["due_date"])

    def sweep(day: date) -> RoundReport:
        s.clock.set(datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=3))
        report = RoundReport()
        schedule.sweep(s.clock.now(), GRACE_DAYS, lambda: uow_of(s.billing), report)
        return report

    # The day after the due date: overdue, nothing suspended yet; past the grace: suspended.
    overdue = sweep(due + timedelta(days=1))
    assert sorted(overdue.marked_overdue) == sorted([ana_invoice, acme_invoice])
    assert overdue.suspensions_requested == []
    assert s.invoice(ana_invoice)["status"] == "overdue"
    requested = sweep(due + timedelta(days=GRACE_DAYS + 1))
    assert sorted(requested.suspensions_requested) == sorted([ana_invoice, acme_invoice])

    s.wait(lambda: s.user_status("ana") == "suspended", "identity suspending ana on billing's request")
    s.wait(lambda: s.organization_status() == "suspended", "identity suspending acme on billing's request")
    assert s.user_status("olga") == "active"  # the organization is suspended, not its owner
    s.wait(lambda: s.billing_status("organization", acme.id) == "suspended", "billing following acme's status")
    s.wait(lambda: s.billing_status("user", ana) == "suspended", "billing following ana's status")
    # ana's key stops working; her server is stopped and locked (read from compute's database).
    s.wait(lambda: s.call("ana", "GET", "/v1/servers").status_code == 401, "ana's key refused")
    s.wait(
        lambda: s.server_row("ana-web").status == "stopped" and s.server_row("ana-web").suspended_at is not None,
        "ana's server stopped and locked",
    )
    # acme's member still reads, through the gateway: the server is off and locked.
    s.wait(lambda: s.server("olga", "acme-db")["status"] == "off", "acme's server stopped")
    assert s.server("olga", "acme-db")["locked"] is True
    refused = s.call("olga", "POST", f"/v1/servers/{s.servers['acme-db']}/actions/poweron")
    assert refused.status_code == 423 and refused.json()["error"]["code"] == "locked", refused.text
    deleted = s.call("olga", "DELETE", f"/v1/servers/{s.servers['acme-db']}")
    assert deleted.status_code == 423, deleted.text  # suspension by billing never deletes anything
    assert s.server_row("acme-db").deleted_at is None and s.server_row("ana-web").deleted_at is None
    # Nothing new is created for a suspended organization (identity refuses its quota).
    body = {"name": "acme-new", "server_type": "cx22", "image": "ubuntu-24.04", "location": "fsn1"}
    created = s.call("olga", "POST", "/v1/servers", body)
    assert created.status_code == 412 and created.json()["error"]["code"] == "precondition_failed", created.text
    assert "suspended" in created.json()["error"]["message"]
    assert [server["name"] for server in s.ok("olga", "GET", "/v1/servers")["servers"]] == ["acme-db"]

    # Each invoice is paid in two parts: the first leaves it overdue, the second pays it.
    for invoice_id, who in ((ana_invoice, "ana"), (acme_invoice, "acme")):
        total = Decimal(s.invoice(invoice_id)["total"])
        first = (total / 3).quantize(Decimal("0.01"))
        body = {"amount": str(first), "method": "bank_transfer", "reference": f"{who}-part-1"}
        assert s.ok("admin", "POST", f"/v1/invoices/{invoice_id}/actions/pay", body)["invoice"]["status"] == "overdue"
        body = {"amount": str(total - first), "method": "bank_transfer", "reference": f"{who}-part-2"}
        assert s.ok("admin", "POST", f"/v1/invoices/{invoice_id}/actions/pay", body)["invoice"]["status"] == "paid"

    s.wait(lambda: s.user_status("ana") == "active", "identity reactivating ana on billing's lift")
    s.wait(lambda: s.organization_status() == "active", "identity reactivating acme on billing's lift")
    s.wait(lambda: s.call("ana", "GET", "/v1/servers").status_code == 200, "ana's key working again")
    s.wait(lambda: s.server("ana", "ana-web")["locked"] is False, "ana's server unlocked")
    s.wait(lambda: s.server("olga", "acme-db")["locked"] is False, "acme's server unlocked")
    assert s.server("ana", "ana-web")["status"] == "off"  # unlocked, not powered on for the owner
    s.wait(lambda: s.billing_status("organization", acme.id) == "active", "billing following acme's status")
    action = s.client("olga").servers.get_by_id(s.servers["acme-db"]).power_on()
    action.wait_until_finished(max_retries=400)
    assert s.server("olga", "acme-db")["status"] == "running"

    # Once each: one suspension and one reactivation per account, one lift per clearing.
    assert s.outbox_count(s.billing, "billing.suspension_lifted") == 2
    assert s.outbox_count(identity_engine, "user.suspended") == 1
    assert s.outbox_count(identity_engine, "organization.suspended") == 1
    assert s.outbox_count(identity_engine, "user.activated") == 1
    assert s.outbox_count(identity_engine, "organization.activated") == 1
    for engine in (s.billing, s.compute_engine, identity_engine):
        assert _count(engine, sa.select(sa.func.count()).select_from(dead_letters)) == 0

    # Every step is in the audit log, read through the gateway.
    s.wait(lambda: all(s.audit(step) for step in STEPS), "the audit log recording every step")
    [suspended] = s.audit("user.suspended")
    assert suspended["new_values"]["requested_by"] == "billing"
    assert "billing asked" in suspended["new_values"]["reason"]
    assert len(s.audit("server.suspended")) == 2 and len(s.audit("server.unsuspended")) == 2
    # The first part of each invoice is a payment received, the second the payment that pays it.
    assert len(s.audit("invoice.payment_received")) == 2 and len(s.audit("invoice.paid")) == 2
    assert len(s.audit("billing.suspension_requested")) == 2 and len(s.audit("billing.suspension_lifted")) == 2
