"""The notification reaction on the real Kafka, SIGKILLed again and again while 1,000 notifying
events flow, and the mail sender sending beside it through the real SMTP sink: in the end every
event made exactly one notification in the inbox and exactly one mail (counted in the sink's
Maildir by the deliveries' Message-IDs)."""

from __future__ import annotations

import asyncio
import email.policy
import mailbox
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from cloudctl.infra.mailsink import MailSink
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudctl.stack import SMTP_HOST, SMTP_PORT
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.db import make_engine
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.events.tables import inbox
from cpshared.mail import MailSettings
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic
from support_service.adapters import tables as t
from support_service.adapters.object_store import LocalObjectStore
from support_service.bootstrap import Support
from support_service.domain.delivery import RetryPolicy
from support_service.entrypoints import mail_sender
from tests.integration.backbone import KAFKA
from tests.integration.support.recipients import identity_for_support, make_user
from tests.integration.test_consumer_crashes import produce, wait_until

ROOT = Path(__file__).resolve().parents[3]
TOTAL, USERS, KILLS, CHUNK = 1000, 10, 4, 20
SINK = MailSettings(smtp_host=SMTP_HOST, smtp_port=SMTP_PORT)


def invoices(topic: Topic, user_ids: list[int]) -> list[PendingEvent]:
    due = Timestamp()
    due.FromDatetime(datetime(2026, 12, 31, tzinfo=UTC))
    events = []
    for i in range(TOTAL):
        user_id = user_ids[i % len(user_ids)]
        payload = billing_events.InvoiceIssued(
            invoice_id=i + 1,
            invoice_number=f"INV-CRASH-{i + 1:05d}",
            account_type="user",
            account_id=user_id,
            user_id=user_id,
            currency="EUR",
            total="1.19",
            due_date=due,
        )
        spec = REGISTRY.spec("invoice.issued")
        events.append(
            new_event(spec, producer="billing", aggregate_id=i + 1, aggregate_version=1, payload=payload, topic=topic)
        )
    return events


def count(engine: sa.Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def message_ids_to(sink: MailSink, addresses: set[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for message in mailbox.Maildir(sink.maildir, create=False):
        parsed = message_from_bytes(message.as_bytes(), policy=email.policy.default)
        if str(parsed["To"]).strip().lower() in addresses:
            found[str(parsed["Message-ID"]).strip()] += 1
    return found


def test_the_reaction_killed_while_1000_events_flow_notifies_and_mails_each_exactly_once(
    paths: LocalPaths, scratch_stream: Topic, tmp_path: Path
) -> None:
    sink = MailSink(paths.root)
    assert sink.status().healthy, "the SMTP sink is not running: `cloudctl up --infra-only` starts it"
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_nc_id") as identity_url,
        mariadb.scratch_database("cp_test_nc_su") as support_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("support", migrations_dir("support"), support_url)
        identity_engine = make_engine(identity_url, pool_size=4)
        support_engine = make_engine(support_url, pool_size=4)
        try:
            with identity_for_support(identity_engine) as (identity, recipients):
                people = [make_user(identity) for _ in range(USERS)]
                events = invoices(scratch_stream, [user_id for user_id, _ in people])
                support = Support(support_engine, LocalObjectStore(tmp_path / "attachments"))
                log = tmp_path / "consumer.log"
                env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
                    "CP_SERVICE_NAME": "support-consumer",
                    "CP_ENVIRONMENT": "test",
                    "CP_METRICS_PORT": "0",
                    "CP_KAFKA_BOOTSTRAP": KAFKA,
                    "CP_DATABASE_URL": support_url,
                    "CP_TEST_TOPIC": scratch_stream.name,
                    "CP_TEST_CONSUMER": f"support-{scratch_stream.name}",
                    "CP_CONSUMER_INSTANCE_ID": f"support-crash-{scratch_stream.name}",
                    "CP_CONSUMER_COMMIT_INTERVAL": "1.0",
                }

                def start() -> subprocess.Popen[bytes]:
                    with log.open("ab") as out:
                        return subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "cpshared.events.consumer_main",
                                "tests.integration.support.scratch:notifications_from_env",
                            ],
                            cwd=ROOT,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )

                def applied() -> int:
                    return count(support_engine, inbox)

                stop_sending = threading.Event()
                policy = RetryPolicy()

                def send() -> None:
                    while not stop_sending.is_set():
                        mail_sender.run_once(support, recipients, SINK, policy)
                        stop_sending.wait(0.2)

                problems: list[BaseException] = []
                sent = [0]
                kills_done = threading.Event()

                def feed() -> None:
                    """20 events every 0.4 s; the last 20 once the kills are over, so every kill
                    comes while the stream flows however slowly a consumer process starts."""
                    try:
                        for first in range(0, TOTAL, CHUNK):
                            if first + CHUNK >= TOTAL:
                                kills_done.wait(300)
                            asyncio.run(produce(events[first : first + CHUNK]))
                            sent[0] = min(first + CHUNK, TOTAL)
                            time.sleep(0.4)
                    except BaseException as exc:
                        problems.append(exc)

                producer = threading.Thread(target=feed, name="producer", daemon=True)
                sender = threading.Thread(target=send, name="sender", daemon=True)
                producer.start()
                sender.start()
                host: subprocess.Popen[bytes] | None = None
                rng = random.Random()
                try:
                    for _ in range(KILLS):
                        host = start()
                        before = applied()
                        wait_until(
                            lambda: applied() > before or applied() >= sent[0],  # noqa: B023
                            90,
                            "the reaction to apply events",
                        )
                        time.sleep(rng.uniform(0.1, 1.0))
                        host.send_signal(signal.SIGKILL)
                        host.wait(10)
                    kills_done.set()
                    producer.join(120)
                    assert not producer.is_alive() and not problems, problems
                    kills_while_flowing = applied()
                    host = start()
                    wait_until(lambda: applied() >= TOTAL, 180, "every event to be applied", poll=0.5)
                    c = t.notification_deliveries.c
                    wait_until(
                        lambda: count(support_engine, t.notification_deliveries, c.status == "sent") >= TOTAL,
                        180,
                        "every mail to be sent",
                        poll=0.5,
                    )
                    host.send_signal(signal.SIGTERM)
                    assert host.wait(30) == 0
                finally:
                    kills_done.set()
                    stop_sending.set()
                    sender.join(30)
                    if host is not None and host.poll() is None:
                        host.kill()
                        host.wait(10)

                assert kills_while_flowing < TOTAL, "the kills all came after the stream was applied"
                assert count(support_engine, inbox) == TOTAL
                assert count(support_engine, t.notifications) == TOTAL
                assert count(support_engine, t.notification_deliveries) == TOTAL
                with support_engine.connect() as conn:
                    ids = [f"<{d}@notifications.cloud.localhost>" for (d,) in conn.execute(sa.select(c.id))]
                mails = message_ids_to(sink, {address for _, address in people})
                assert sum(mails.values()) == TOTAL
                assert set(mails) == set(ids) and set(mails.values()) == {1}
        finally:
            support_engine.dispose()
            identity_engine.dispose()
