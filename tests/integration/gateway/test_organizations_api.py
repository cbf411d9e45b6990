"""/v1/organizations through the real gateway on uvicorn, with API keys of several users,
against identity on a scratch database with principal verification on (so identity knows a
platform admin from a customer), and the invitation mail through the real SMTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudctl.infra.mailsink import MailSink
from cloudctl.paths import LocalPaths
from cpshared.auth.principal import TrustedKeys, generate_private_key, private_key_pem
from cpshared.clock import ManualClock
from cpshared.db import make_engine
from cpshared.grpc.server import ServiceIdentity, serve
from gateway_service.app import create_app
from gateway_service.config import BACKENDS, Settings
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import User, UserRole
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.entrypoints.grpc_organizations import add_organization_servicer
from identity_service.service_layer import api_keys, organizations
from tests.integration.gateway import conftest as gateway_conftest
from tests.integration.identity.conftest import _free_port
from tests.integration.identity.support import event_types, make_user

IDENTITY_KEY, GATEWAY_KEY = generate_private_key(), generate_private_key()
SCOPES = ("organizations:read", "organizations:write")
TOKEN = re.compile(r"accept\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
async def identity_address(identity: Identity) -> AsyncIterator[str]:
    address = f"127.0.0.1:{_free_port()}"
    stop, started = asyncio.Event(), asyncio.Event()
    signing = Identity(identity.engine, IDENTITY_KEY)

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, signing) + add_organization_servicer(server, signing),
            grace=0.5,
            on_started=on_started,
            stop_event=stop,
            trusted=TrustedKeys(issuer=IDENTITY_KEY.public_key(), services={"gateway": GATEWAY_KEY.public_key()}),
        )
    )
    await asyncio.wait_for(started.wait(), timeout=10)
    yield address
    stop.set()
    await asyncio.wait_for(task, timeout=10)


@pytest.fixture
def base_url(gateway_url: str, identity_address: str, tmp_path: Path) -> Iterator[str]:
    key_file = tmp_path / "gateway.key"
    key_file.write_text(private_key_pem(GATEWAY_KEY))
    settings = Settings.model_validate(
        {
            "service_name": "gateway",
            "metrics_port": 0,
            "database_url": gateway_url,
            **{f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS},
            "identity_grpc_addr": identity_address,
            "principal_service_key_file": str(key_file),
        }
    )
    engine = make_engine(gateway_url, pool_size=5)
    try:
        app = create_app(settings, engine, clock=ManualClock())
        with contextlib.contextmanager(gateway_conftest.serve)(app) as url:
            yield url
    finally:
        engine.dispose()


def unique_email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}@example.com"


def user_with_key(identity: Identity, name: str, role: UserRole = UserRole.CLIENT) -> tuple[User, str]:
    user = make_user(identity, unique_email(name), role)
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="orgs", scopes=SCOPES), identity.uow()
    )
    return user, secret


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def __call__(self, method: str, path: str, secret: str, json: Any = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as client:
            return await client.request(method, path, json=json, headers={"Authorization": f"Bearer {secret}"})


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_organizations_members_invitations_and_ownership_over_http(
    base_url: str, identity: Identity, paths: LocalPaths
) -> None:
    api = Api(base_url)
    owner, owner_key = user_with_key(identity, "owner")
    invitee, invitee_key = user_with_key(identity, "invitee")
    helper, helper_key = user_with_key(identity, "helper")
    outsider, outsider_key = user_with_key(identity, "outsider")

    created = ok(await api("POST", "/v1/organizations", owner_key, {"name": "Acme Cloud", "slug": "acme"}), 201)
    org = created["organization"]
    assert (org["name"], org["slug"], org["owner_id"], org["role"], org["status"]) == (
        "Acme Cloud",
        "acme",
        owner.id,
        "owner",
        "active",
    )
    ok(await api("POST", "/v1/organizations", owner_key, {"name": "Beta", "slug": "beta"}), 201)
    duplicate, bad = {"name": "Dup", "slug": "acme"}, {"name": "Bad", "slug": "Not Slug"}
    refused(await api("POST", "/v1/organizations", owner_key, duplicate), 409, "uniqueness_error")
    refused(await api("POST", "/v1/organizations", owner_key, bad), 400, "invalid_input")

    listed = ok(await api("GET", "/v1/organizations?sort=name:desc&per_page=1", owner_key))
    assert [o["slug"] for o in listed["organizations"]] == ["beta"]
    assert listed["meta"]["pagination"]["total_entries"] == 2
    assert [o["role"] for o in ok(await api("GET", "/v1/organizations?sort=id", owner_key))["organizations"]] == [
        "owner",
        "owner",
    ]
    path = f"/v1/organizations/{org['id']}"

    # Invite by email; the token comes only by mail.
    invited = ok(
        await api(
            "POST",
            f"{path}/invitations",
            owner_key,
            {"email": invitee_email(identity, invitee), "role": "admin", "permissions": ["servers:read"]},
        ),
        201,
    )
    assert invited["mail_sent"] and "token" not in str(invited)
    assert (invited["invitation"]["role"], invited["invitation"]["email"]) == ("admin", invitee.email)
    invitations = ok(await api("GET", f"{path}/invitations", owner_key))["invitations"]
    assert [i["id"] for i in invitations] == [invited["invitation"]["id"]]
    mail = MailSink(paths.root).wait_for(invitee.email, "You are invited to join Acme Cloud")
    token = TOKEN.search(mail.body).group(1)  # type: ignore[union-attr]
    # The mail's link lands on an answer a person can use (no credentials, nothing changes).
    link = re.search(r"(/v1/organizations/invitations/accept\?token=\S+)", mail.body).group(1)  # type: ignore[union-attr]
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        landing = await client.get(link)
        mangled = await client.get("/v1/organizations/invitations/accept", params={"token": "x\r\n<script>"})
    assert landing.status_code == 200, landing.text
    assert landing.json()["token"] == token and landing.json()["accept"] == "POST /v1/organizations/invitations/accept"
    refused(mangled, 400, "invalid_input")
    refused(await api("POST", "/v1/organizations/invitations/accept", outsider_key, {"token": token}), 403, "forbidden")
    joined = ok(await api("POST", "/v1/organizations/invitations/accept", invitee_key, {"token": token}))
    assert (joined["member"]["user_id"], joined["member"]["role"], joined["organization"]["role"]) == (
        invitee.id,
        "admin",
        "admin",
    )
    assert joined["member"]["permissions"] == ["servers:read"] and joined["member"]["invited_by"] == owner.id

    # The new admin invites a helper, who joins as a plain member.
    ok(await api("POST", f"{path}/invitations", invitee_key, {"email": helper.email}), 201)
    helper_token = TOKEN.search(MailSink(paths.root).wait_for(helper.email, "Acme Cloud").body).group(1)  # type: ignore[union-attr]
    ok(await api("POST", "/v1/organizations/invitations/accept", helper_key, {"token": helper_token}))
    members = ok(await api("GET", f"{path}/members", helper_key))
    assert [(m["user_id"], m["role"]) for m in members["members"]] == [
        (owner.id, "owner"),
        (invitee.id, "admin"),
        (helper.id, "member"),
    ]

    # A member without the owner or admin role is refused management: 403.
    refused(await api("PUT", path, helper_key, {"name": "Mine"}), 403, "forbidden")
    refused(await api("GET", f"{path}/invitations", helper_key), 403, "forbidden")
    refused(await api("POST", f"{path}/invitations", helper_key, {"email": unique_email("x")}), 403, "forbidden")
    refused(await api("PUT", f"{path}/members/{invitee.id}", helper_key, {"role": "member"}), 403, "forbidden")
    refused(await api("DELETE", f"{path}/members/{invitee.id}", helper_key), 403, "forbidden")
    # Another tenant's organization does not exist for an outsider: 404 on every endpoint.
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "", {"name": "Taken"}),
        ("GET", "/members", None),
        ("PUT", f"/members/{helper.id}", {"role": "admin"}),
        ("DELETE", f"/members/{helper.id}", None),
        ("POST", "/actions/transfer_ownership", {"user_id": outsider.id}),
        ("GET", "/invitations", None),
        ("POST", "/invitations", {"email": unique_email("y")}),
        ("DELETE", f"/invitations/{invited['invitation']['id']}", None),
    ):
        refused(await api(method, f"{path}{suffix}", outsider_key, body), 404, "not_found")

    # Managing: details, role and permissions.
    updated = ok(await api("PUT", path, invitee_key, {"name": "Acme Two", "billing_email": "Bills@Example.com"}))
    assert (updated["organization"]["name"], updated["organization"]["billing_email"]) == (
        "Acme Two",
        "bills@example.com",
    )
    assert updated["organization"]["role"] == "admin"
    changed = ok(
        await api("PUT", f"{path}/members/{helper.id}", owner_key, {"role": "billing", "permissions": ["volumes:read"]})
    )
    assert (changed["member"]["role"], changed["member"]["permissions"]) == ("billing", ["volumes:read"])
    refused(await api("PUT", f"{path}/members/{owner.id}", invitee_key, {"role": "member"}), 412, "precondition_failed")
    refused(await api("PUT", f"{path}/members/{helper.id}", owner_key, {"role": "owner"}), 400, "invalid_input")
    refused(await api("PUT", f"{path}/members/{helper.id}", owner_key, {"permissions": ["all"]}), 400, "invalid_input")

    # Revoking an invitation.
    pending = ok(await api("POST", f"{path}/invitations", owner_key, {"email": unique_email("late")}), 201)
    ok(await api("DELETE", f"{path}/invitations/{pending['invitation']['id']}", owner_key), 204)
    assert ok(await api("GET", f"{path}/invitations", owner_key))["invitations"] == []

    # Transfer: only the owner; the old owner stays as an admin.
    refused(
        await api("POST", f"{path}/actions/transfer_ownership", invitee_key, {"user_id": invitee.id}), 403, "forbidden"
    )
    moved = ok(await api("POST", f"{path}/actions/transfer_ownership", owner_key, {"user_id": invitee.id}))
    assert (moved["organization"]["owner_id"], moved["organization"]["role"]) == (invitee.id, "admin")

    # Removing a member; a member may also leave.
    ok(await api("DELETE", f"{path}/members/{helper.id}", owner_key), 204)
    refused(await api("GET", path, helper_key), 404, "not_found")
    ok(await api("DELETE", f"{path}/members/{owner.id}", owner_key), 204)
    assert [m["user_id"] for m in ok(await api("GET", f"{path}/members", invitee_key))["members"]] == [invitee.id]

    for expected in (
        "organization.member_invited",
        "organization.invitation_accepted",
        "organization.updated",
        "organization.member_permissions_changed",
        "organization.invitation_revoked",
        "organization.ownership_transferred",
        "organization.member_removed",
    ):
        assert expected in event_types(identity.engine)


def invitee_email(identity: Identity, user: User) -> str:
    """The invitee's address in another case: invitations match email case-insensitively."""
    return user.email.upper()


async def test_a_platform_admin_reaches_every_organization_and_a_key_needs_the_scope(
    base_url: str, identity: Identity
) -> None:
    api = Api(base_url)
    owner, owner_key = user_with_key(identity, "owner")
    member, _ = user_with_key(identity, "member")
    _, admin_key = user_with_key(identity, "staff", UserRole.ADMIN)
    org = ok(await api("POST", "/v1/organizations", owner_key, {"name": "Acme Cloud", "slug": "acme"}), 201)
    path = f"/v1/organizations/{org['organization']['id']}"
    organizations.add_member(
        commands.AddMember(acting_user_id=owner.id, organization_id=org["organization"]["id"], user_id=member.id),
        identity.uow(),
    )

    seen = ok(await api("GET", path, admin_key))["organization"]
    assert (seen["id"], seen["role"]) == (org["organization"]["id"], None)
    assert len(ok(await api("GET", f"{path}/members", admin_key))["members"]) == 2
    assert ok(await api("PUT", path, admin_key, {"name": "Renamed by staff"}))["organization"]["name"] == (
        "Renamed by staff"
    )
    promoted = ok(await api("PUT", f"{path}/members/{member.id}", admin_key, {"role": "admin"}))
    assert promoted["member"]["role"] == "admin"
    ok(await api("POST", f"{path}/invitations", admin_key, {"email": unique_email("staff-invite")}), 201)
    # Ownership moves only by the owner's own transfer, even for staff.
    transfer = {"user_id": member.id}
    refused(await api("POST", f"{path}/actions/transfer_ownership", admin_key, transfer), 403, "forbidden")

    _, other_scope = api_keys.create_api_key(
        commands.CreateApiKey(user_id=owner.id, name="servers only", scopes=("servers:read",)), identity.uow()
    )
    refused(await api("GET", "/v1/organizations", other_scope), 403, "forbidden")
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        spec = (await client.get("/v1/openapi.json")).json()
    assert "/v1/organizations/{organization_id}/invitations" in spec["paths"]
    assert "OrganizationOut" in spec["components"]["schemas"]
