"""No secret is ever at rest in clear: after a scenario on the running stack that signs a
user up, signs in (with a wrong password too), creates an API key, turns on two-factor
authentication, signs in with a TOTP code and with a recovery code, refreshes the session,
creates a server without SSH keys (its root password), enables its rescue system, resets its
root password, rebuilds it, opens its console, and changes the password, none of those secrets appears in

- any row of any service's database, nor anywhere in MariaDB's files (tables, undo and redo
  logs: what was once written in clear would linger there);
- any process's log (.local/logs);
- any record of any Kafka topic.

The mailbox of the SMTP sink is the user's own mail and is not scanned (it holds the
verification link by design); .local/secrets and .local/admin-token hold the operator's own
keys and the first admin's token by design.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pyotp
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from cloudctl.infra.mailsink import MailSink
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudctl.stack import KAFKA_BOOTSTRAP, gateway_url
from cpshared.kafka_admin import topic_partitions

pytestmark = pytest.mark.e2e

TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")


def up(root: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cloudctl.main", "up"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def scenario(base: str, sink: MailSink, email: str) -> dict[str, str]:
    """Run the scenario through the public API; every secret it used or was shown, by name."""
    secrets: dict[str, str] = {}
    secrets["password"] = f"first password {uuid.uuid4().hex}"
    secrets["wrong password"] = f"wrong password {uuid.uuid4().hex}"
    secrets["new password"] = f"second password {uuid.uuid4().hex}"
    with httpx.Client(base_url=base, timeout=15) as http:
        signed_up = http.post("/v1/auth/signup", json={"name": "Scan", "email": email, "password": secrets["password"]})
        assert signed_up.status_code == 202, signed_up.text
        match = TOKEN.search(sink.wait_for(email, "Verify").body)
        assert match
        assert http.post("/v1/auth/verify", json={"token": match.group(1)}).status_code == 200

        wrong = http.post("/v1/auth/login", json={"email": email, "password": secrets["wrong password"]})
        assert wrong.status_code == 401, wrong.text
        login = http.post("/v1/auth/login", json={"email": email, "password": secrets["password"]})
        assert login.status_code == 200, login.text
        secrets["access token"] = login.json()["access_token"]
        secrets["refresh token"] = login.json()["refresh_token"]
        bearer = {"Authorization": f"Bearer {secrets['access token']}"}

        key = http.post("/v1/api_keys", headers=bearer, json={"name": "scan", "scopes": ["api_keys:read"]})
        assert key.status_code == 201, key.text
        secrets["API key"] = key.json()["secret"]
        assert http.get("/v1/api_keys", headers={"Authorization": f"Bearer {secrets['API key']}"}).status_code == 200

        enrolled = http.post("/v1/me/two_factor", headers=bearer)
        assert enrolled.status_code == 201, enrolled.text
        secrets["TOTP secret"] = enrolled.json()["secret"]
        totp = pyotp.TOTP(secrets["TOTP secret"])
        confirmed = http.post("/v1/me/two_factor/confirm", headers=bearer, json={"code": totp.now()})
        assert confirmed.status_code == 200, confirmed.text
        codes = confirmed.json()["recovery_codes"]
        assert len(codes) >= 2
        for i, code in enumerate(codes):
            secrets[f"recovery code {i}"] = code

        needs_code = http.post("/v1/auth/login", json={"email": email, "password": secrets["password"]})
        assert needs_code.status_code == 401 and needs_code.json()["error"]["code"] == "two_factor_required"
        with_recovery = http.post(
            "/v1/auth/login", json={"email": email, "password": secrets["password"], "recovery_code": codes[0]}
        )
        assert with_recovery.status_code == 200, with_recovery.text
        secrets["second access token"] = with_recovery.json()["access_token"]

        refreshed = http.post("/v1/auth/refresh", json={"refresh_token": secrets["refresh token"]})
        assert refreshed.status_code == 200, refreshed.text
        secrets["rotated refresh token"] = refreshed.json()["refresh_token"]
        new_bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        secrets.update(server_secrets(http, new_bearer))
        changed = http.post(
            "/v1/me/password",
            headers=new_bearer,
            json={"current_password": secrets["password"], "new_password": secrets["new password"]},
        )
        assert changed.status_code == 200, changed.text
    return secrets


def finished(http: httpx.Client, headers: dict[str, str], action: dict[str, object], timeout: float = 120.0) -> None:
    """Until the action (as answered) has succeeded, read through /v1/actions/{id}."""
    deadline = time.monotonic() + timeout
    while True:
        got = http.get(f"/v1/actions/{action['id']}", headers=headers)
        assert got.status_code == 200, got.text
        status = got.json()["action"]["status"]
        if status == "success":
            return
        assert status == "running", got.text
        assert time.monotonic() < deadline, f"action {action['id']} still running after {timeout}s"
        time.sleep(0.5)


def server_secrets(http: httpx.Client, headers: dict[str, str]) -> dict[str, str]:
    """A server created without SSH keys (its root password shown once), its rescue system, a root
    password reset, a rebuild and a console: every password the platform handed out, by name."""
    secrets: dict[str, str] = {}
    body = {"name": f"scan-{uuid.uuid4().hex[:8]}", "server_type": "cx22", "image": "ubuntu-24.04", "location": "fsn1"}
    created = http.post("/v1/servers", headers=headers, json=body)
    assert created.status_code == 201, created.text
    secrets["root password at creation"] = created.json()["root_password"]
    assert secrets["root password at creation"], created.text
    finished(http, headers, created.json()["action"])
    server = f"/v1/servers/{created.json()['server']['id']}"
    rescue = http.post(f"{server}/actions/enable_rescue", headers=headers, json={})
    assert rescue.status_code == 201, rescue.text
    secrets["rescue root password"] = rescue.json()["root_password"]
    finished(http, headers, rescue.json()["action"])
    reset = http.post(f"{server}/actions/reset_password", headers=headers)
    assert reset.status_code == 201, reset.text
    secrets["reset root password"] = reset.json()["root_password"]
    finished(http, headers, reset.json()["action"])
    rebuilt = http.post(f"{server}/actions/rebuild", headers=headers, json={"image": "debian-12"})
    assert rebuilt.status_code == 201, rebuilt.text
    secrets["rebuilt root password"] = rebuilt.json()["root_password"]
    finished(http, headers, rebuilt.json()["action"])
    console = http.post(f"{server}/actions/request_console", headers=headers)
    assert console.status_code == 201, console.text
    secrets["console password"] = console.json()["password"]
    finished(http, headers, console.json()["action"])
    deleted = http.delete(server, headers=headers)
    assert deleted.status_code == 200, deleted.text
    finished(http, headers, deleted.json()["action"])
    assert all(secrets.values()), secrets.keys()
    return secrets


def outboxes_drained(mariadb: MariaDB, timeout: float = 30.0) -> None:
    """Wait until every service's relay has published its outbox (so Kafka holds all events)."""
    deadline = time.monotonic() + timeout
    conn = mariadb.admin_connect()
    try:
        while True:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT table_schema FROM information_schema.tables "
                    "WHERE table_name = 'outbox' AND table_schema LIKE 'cp\\_%'"
                )
                schemas = [row[0] for row in cursor.fetchall()]
                pending = 0
                for schema in schemas:
                    cursor.execute(f"SELECT COUNT(*) FROM `{schema}`.outbox WHERE published_at IS NULL")  # noqa: S608
                    (count,) = cursor.fetchone() or (0,)
                    pending += int(count)
            conn.commit()
            if pending == 0:
                return
            assert time.monotonic() < deadline, f"{pending} events still unpublished after {timeout}s"
            time.sleep(0.2)
    finally:
        conn.close()


def database_rows(mariadb: MariaDB) -> bytes:
    """Every row of every table of every platform database, as bytes."""
    conn = mariadb.admin_connect()
    chunks: list[bytes] = []
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema LIKE 'cp\\_%' AND table_type = 'BASE TABLE'"
            )
            for schema, table in cursor.fetchall():
                cursor.execute(f"SELECT * FROM `{schema}`.`{table}`")  # noqa: S608
                for row in cursor.fetchall():
                    for value in row:
                        if isinstance(value, bytes | bytearray):
                            chunks.append(bytes(value))
                        elif value is not None:
                            chunks.append(str(value).encode())
    finally:
        conn.close()
    return b"\n".join(chunks)


def files_under(folder: Path) -> bytes:
    return b"\n".join(path.read_bytes() for path in folder.rglob("*") if path.is_file())


async def every_kafka_record() -> bytes:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
    finally:
        await admin.close()
    partitions = await topic_partitions(KAFKA_BOOTSTRAP, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA_BOOTSTRAP, enable_auto_commit=False, group_id=None)
    await consumer.start()
    chunks: list[bytes] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    chunks += [record.key or b"", record.value or b""]
                    chunks += [value for _, value in record.headers]
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if not batches:
                remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return b"\n".join(chunks)


def test_no_password_key_totp_secret_recovery_code_or_token_is_stored_logged_or_streamed(paths: LocalPaths) -> None:
    up(paths.root)
    mariadb = MariaDB(paths.root)
    email = f"secret-scan-{uuid.uuid4().hex[:8]}@example.com"
    secrets = scenario(gateway_url(), MailSink(paths.root), email)
    outboxes_drained(mariadb)
    time.sleep(1.0)  # the processes' last log lines
    places = {
        "a database row": database_rows(mariadb),
        "MariaDB's files": files_under(paths.local / "mariadb"),
        "a log": files_under(paths.logs),
        "a Kafka record": asyncio.run(every_kafka_record()),
    }
    # Controls: what may be stored is found where it belongs, so the scan can see the scenario.
    assert email.encode() in places["a database row"] and email.encode() in places["MariaDB's files"]
    assert b"user.two_factor_enabled" in places["a Kafka record"]
    assert b"/v1/me/two_factor/confirm" in places["a Kafka record"]  # the request log
    assert b"server.password_reset" in places["a Kafka record"]
    found = [
        f"the {name} in {place}"
        for name, secret in secrets.items()
        for place, content in places.items()
        if secret.encode() in content
    ]
    assert not found, "secrets in clear: " + "; ".join(found)
