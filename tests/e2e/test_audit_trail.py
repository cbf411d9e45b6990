"""The audit trail on the running stack: every mutating call through the gateway has exactly
one request record (its request id, status and duration) in the audit log, linked by that
request id to the events it caused; and the log verifies.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pymysql
import pytest

from cloudctl.paths import LocalPaths
from cloudctl.stack import Secrets, gateway_url

pytestmark = pytest.mark.e2e


def cloudctl(paths: LocalPaths, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cloudctl.main", *args]
    return subprocess.run(command, cwd=paths.root, capture_output=True, text=True, check=False)


def audit_rows(paths: LocalPaths, request_ids: list[str]) -> list[tuple[str, str, int | None, int | None]]:
    password = Secrets(paths).database_passwords()["audit"]
    conn = pymysql.connect(host="127.0.0.1", user="cp_audit", password=password, database="cp_audit")
    try:
        with conn.cursor() as cursor:
            marks = ",".join(["%s"] * len(request_ids))
            cursor.execute(
                f"SELECT request_id, action, response_code, duration_ms FROM audit_logs WHERE request_id IN ({marks})",  # noqa: S608
                request_ids,
            )
            return list(cursor.fetchall())
    finally:
        conn.close()


def test_every_mutating_call_has_one_request_record_linked_to_the_events_it_caused(paths: LocalPaths) -> None:
    up = cloudctl(paths, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    token = (paths.local / "admin-token").read_text().strip()
    slug = f"audit-{uuid.uuid4().hex[:8]}"
    calls: list[tuple[httpx.Response, set[str]]] = []
    with httpx.Client(base_url=gateway_url(), headers={"Authorization": f"Bearer {token}"}, timeout=15) as http:

        def call(method: str, path: str, caused: set[str], **kwargs: object) -> httpx.Response:
            answer = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            calls.append((answer, caused))
            return answer

        key = call("POST", "/v1/api_keys", {"api_key.created"}, json={"name": slug, "scopes": ["api_keys:read"]})
        assert key.status_code == 201, key.text
        call("DELETE", f"/v1/api_keys/{key.json()['api_key']['id']}", {"api_key.revoked"})
        organization = call("POST", "/v1/organizations", {"organization.created"}, json={"name": slug, "slug": slug})
        assert organization.status_code == 201, organization.text
        org_id = organization.json()["organization"]["id"]
        call("PUT", f"/v1/organizations/{org_id}", {"organization.updated"}, json={"name": f"{slug} renamed"})
        call(
            "POST",
            f"/v1/organizations/{org_id}/invitations",
            {"organization.member_invited"},
            json={"email": f"{slug}@example.com"},
        )
        call("PATCH", "/v1/me", {"user.profile_updated"}, json={"company_name": slug})
        call("PUT", "/v1/admin/settings/support_email", {"setting.changed"}, json={"value": f"{slug}@example.com"})
        call("POST", "/v1/api_keys", set(), json={"name": ""})  # refused: a request, no event
    for answer, _ in calls:
        assert answer.status_code < 300 or answer.status_code == 400, answer.text
    request_ids = [answer.headers["X-Request-Id"] for answer, _ in calls]

    deadline = time.monotonic() + 60
    while True:
        rows = audit_rows(paths, request_ids)
        recorded = {r[0] for r in rows if r[1] == "request"}
        if recorded >= set(request_ids) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    time.sleep(1.0)  # the events caused travel on other streams: give them their moment too
    rows = audit_rows(paths, request_ids)
    for answer, caused in calls:
        request_id = answer.headers["X-Request-Id"]
        mine = [r for r in rows if r[0] == request_id]
        requests = [r for r in mine if r[1] == "request"]
        assert len(requests) == 1, (answer.request.method, answer.request.url.path, mine)
        _, _, status, duration = requests[0]
        assert status == answer.status_code and duration is not None and duration >= 0
        assert {r[1] for r in mine if r[1] != "request"} == caused, (answer.request.url.path, mine)

    # The same entries through the public API: by request id, and the caller's sign-ins.
    with httpx.Client(base_url=gateway_url(), headers={"Authorization": f"Bearer {token}"}, timeout=15) as http:
        created_id = calls[0][0].headers["X-Request-Id"]
        listed = http.get("/v1/audit_logs", params={"request_id": created_id})
        assert listed.status_code == 200, listed.text
        assert sorted(e["action"] for e in listed.json()["audit_logs"]) == ["api_key.created", "request"]
        me = http.get("/v1/me").json()["user"]
        wrong = httpx.post(
            f"{gateway_url()}/v1/auth/login", json={"email": me["email"], "password": f"not it {slug}"}, timeout=15
        )
        assert wrong.status_code == 401
        deadline = time.monotonic() + 30
        while True:
            activity = http.get("/v1/me/login_activity").json()
            attempts = activity.get("login_activity", [])
            if any(not a["success"] for a in attempts) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert any(not a["success"] and a["reason"] == "wrong_password" for a in attempts), activity

    assert cloudctl(paths, "audit", "digest").returncode == 0
    verified = cloudctl(paths, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout
