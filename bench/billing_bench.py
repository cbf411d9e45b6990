"""Billing benchmark: usage.recorded ingestion by the billing consumer beside the raw consume rate
of the same events in the same run, and the invoice run for 10,000 accounts.

(a) raw: aiokafka ``getmany`` of ``n`` usage.recorded events on a scratch topic (6 partitions,
    keyed by resource like compute's metering), no group, no work;
(b) billing consumer: the billing-consumer PROCESS (``python -m cpshared.events.consumer_main``
    with the billing projection over the scratch topic) into a scratch billing database -- one
    usage_records row with its prices snapshotted and one inbox row per event -- timed from its
    first committed batch to the last row;
(c) the invoice run (``invoice_run.run_invoices``, batches of accounts per transaction) over usage
    seeded straight into ``usage_records``: ``--accounts`` accounts (10,000), each a user with
    one cx22 server used ``--hours`` hours (36) of October, every fifth with a second server
    resized from cx22 to cx32 halfway (12 + 12 hours), countries DE / FR with a VAT id / AT /
    US in turn: 10,000 x 36 + 2,000 x 24 = 408,000 usage rows, 12,000 invoices' lines.

``make bench-billing`` runs it (on the local MariaDB and Kafka of ``cloudctl up --infra-only``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.consumer_bench import _topics, raw_consume_rate  # noqa: E402
from billing_service.adapters.tables import billing_accounts, invoices, usage_records  # noqa: E402
from billing_service.bootstrap import Billing  # noqa: E402
from billing_service.config import BillingRules  # noqa: E402
from billing_service.domain.commands import RunInvoices  # noqa: E402
from billing_service.service_layer.invoice_run import run_invoices  # noqa: E402
from cloudctl.infra.mariadb import MariaDB  # noqa: E402
from cloudctl.paths import LocalPaths  # noqa: E402
from cpshared.db import make_engine  # noqa: E402
from cpshared.migrations import migrations_dir, upgrade  # noqa: E402
from cpshared.topics import Topic, TopicKind  # noqa: E402
from tests.integration.backbone import KAFKA, produce_events  # noqa: E402
from tests.integration.billing.support import PRICES, server_hour  # noqa: E402

FACTORY = "tests.integration.billing.support:billing_from_env"
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
COUNTRIES = [("DE", None), ("FR", "FR12345678901"), ("AT", None), ("US", None)]


def count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(usage_records)).scalar_one())


def consumer_rate(url: str, topic: Topic, n: int) -> dict[str, float]:
    engine = make_engine(url, pool_size=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_") or k.startswith("CP_CONSUMER_")} | {
        "CP_SERVICE_NAME": "billing-bench",
        "CP_METRICS_PORT": "0",
        "CP_LOG_LEVEL": "WARNING",
        "CP_DATABASE_URL": url,
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_TEST_TOPIC": topic.name,
        "CP_TEST_CONSUMER": f"billing-bench-{uuid.uuid4().hex[:6]}",
    }
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "cpshared.events.consumer_main", FACTORY], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        first = done = None
        try:
            while done is None:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the consumer exited:\n{log.read().decode(errors='replace')[-3000:]}")
                if time.perf_counter() - started > 900:
                    raise RuntimeError("the billing consumer did not finish in 900 s")
                applied = count(engine)
                now = time.perf_counter()
                if applied and first is None:
                    first = now
                if applied >= n:
                    done = now
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(30)
            engine.dispose()
    assert first is not None
    return {"from_start": n / (done - started), "steady": n / (done - first)}


def usage_row(account: int, server: int, start: datetime, product: str) -> dict[str, Any]:
    hourly, monthly = PRICES[product]
    naive = start.replace(tzinfo=None)
    return {
        "user_id": account,
        "organization_id": None,
        "resource_type": "server",
        "resource_id": server,
        "metric_type": "compute_hours",
        "quantity": Decimal(1),
        "unit_price": Decimal(hourly),
        "total_cost": Decimal(hourly),
        "recorded_at": naive,
        "billed": False,
        "invoice_id": None,
        "metadata": {"resource_name": f"web-{server}", "location": "fsn1", "product": product},
        "created_at": naive,
        "event_id": uuid.uuid4().bytes,
        "period_end": naive + timedelta(hours=1),
        "product": product,
        "price_monthly": Decimal(monthly),
        "currency": "EUR",
    }


def seed(engine: sa.Engine, accounts: int, hours: int) -> int:
    rows: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        nonlocal written
        if rows:
            with engine.begin() as conn:
                conn.execute(usage_records.insert(), rows)
            written += len(rows)
            rows.clear()

    with engine.begin() as conn:
        conn.execute(
            billing_accounts.insert(),
            [
                {
                    "account_type": "user",
                    "account_id": a,
                    "owner_user_id": a,
                    "status": "active",
                    "country": COUNTRIES[a % 4][0],
                    "tax_id": COUNTRIES[a % 4][1],
                    "currency": "EUR",
                    "created_at": OCTOBER.replace(tzinfo=None),
                    "updated_at": OCTOBER.replace(tzinfo=None),
                }
                for a in range(1, accounts + 1)
            ],
        )
    for account in range(1, accounts + 1):
        first = OCTOBER + timedelta(hours=account % 500)
        rows.extend(usage_row(account, account, first + timedelta(hours=h), "cx22") for h in range(hours))
        if account % 5 == 0:
            second = 100_000 + account
            rows.extend(usage_row(account, second, first + timedelta(hours=h), "cx22") for h in range(12))
            rows.extend(usage_row(account, second, first + timedelta(hours=12 + h), "cx32") for h in range(12))
        if len(rows) >= 20_000:
            flush()
    flush()
    return written


def invoice_run_time(accounts: int, hours: int) -> dict[str, Any]:
    mariadb = MariaDB(LocalPaths().root)
    with mariadb.scratch_database("cp_bench_bill") as url:
        upgrade("billing", migrations_dir("billing"), url)
        engine = make_engine(url, pool_size=2)
        try:
            started = time.perf_counter()
            rows = seed(engine, accounts, hours)
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            billing = Billing(engine, BillingRules())
            report = run_invoices(RunInvoices(date(2026, 10, 1)), billing.terms, billing.uow)
            seconds = time.perf_counter() - started
            with engine.connect() as conn:
                issued = int(conn.execute(sa.select(sa.func.count()).select_from(invoices)).scalar_one())
            started = time.perf_counter()
            again = run_invoices(RunInvoices(date(2026, 10, 1)), billing.terms, billing.uow)
            rerun = time.perf_counter() - started
        finally:
            engine.dispose()
    assert issued == len(report.issued) == accounts and not again.issued
    return {"rows": rows, "seed_seconds": seeded, "seconds": seconds, "issued": issued, "rerun_seconds": rerun}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="usage.recorded events to ingest")
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts in the invoice run")
    parser.add_argument("--hours", type=int, default=36, help="hourly usage rows of each account's first server")
    parser.add_argument("--skip-ingest", action="store_true", help="only the invoice run")
    args = parser.parse_args()
    n = args.n
    if not args.skip_ingest:
        topic = Topic(name=f"bench.billing.{uuid.uuid4().hex[:8]}", kind=TopicKind.DOMAIN, partitions=6)
        asyncio.run(_topics(KAFKA, create=[topic.name]))
        try:
            servers = 2_000
            events = (
                server_hour(1 + i % servers, OCTOBER + timedelta(hours=i // servers), user_id=1 + i % 997, topic=topic)
                for i in range(n)
            )
            asyncio.run(produce_events(topic, events))
            raw = asyncio.run(raw_consume_rate(KAFKA, topic, n))
            with MariaDB(LocalPaths().root).scratch_database("cp_bench_bill") as url:
                upgrade("billing", migrations_dir("billing"), url)
                consumer = consumer_rate(url, topic, n)
        finally:
            asyncio.run(_topics(KAFKA, delete=[topic.name]))
        print(f"\n{n:,} usage.recorded events (6 partitions, 2,000 servers)")
        print(f"raw aiokafka consume                 {raw:10,.0f} events/s")
        steady = consumer["steady"]
        print(f"billing consumer process, steady     {steady:10,.0f} events/s  ({steady / raw:.3f} x raw)")
        print(f"billing consumer process, from start {consumer['from_start']:10,.0f} events/s")
    run = invoice_run_time(args.accounts, args.hours)
    seeded = f"seeded in {run['seed_seconds']:.1f}s"
    print(f"\ninvoice run: {run['issued']:,} accounts, {run['rows']:,} usage rows ({seeded})")
    print(
        f"invoice run                          {run['seconds']:10.1f} s  "
        f"({run['issued'] / run['seconds']:,.0f} invoices/s, {run['rows'] / run['seconds']:,.0f} usage rows/s)"
    )
    print(f"second run of the period (no-op)     {run['rerun_seconds']:10.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
