"""/v1/audit_logs and /v1/me/login_activity through the real gateway on uvicorn, identity and
the audit service on scratch databases with principal verification on (so audit learns the
caller's role and organizations from identity's signed assertion), and audit_logs rows
written as the audit projection writes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import OrganizationRole, UserRole, UserStatus
from identity_service.service_layer import api_keys, organizations, users
from tests.integration.audit.conftest import insert_entry
from tests.integration.live import LivePlatform, live_platform

EVERY_SCOPE = ("*:read", "*:write")


@dataclass
class Person:
    user_id: int
    key: str


@dataclass
class World:
    platform: LivePlatform
    alice: Person
    """A client owning organization A."""
    bob: Person
    """A client owning organization B."""
    support: Person
    billing: Person
    org_a: int
    org_b: int
    rows: dict[str, int]

    def get(self, path: str, who: Person, **params: object) -> httpx.Response:
        return httpx.get(
            f"{self.platform.gateway}{path}",
            params=params,  # type: ignore[arg-type]
            headers={"Authorization": f"Bearer {who.key}"},
            timeout=30,
        )

    def ids(self, who: Person, **params: object) -> list[int]:
        answer = self.get("/v1/audit_logs", who, **params)
        assert answer.status_code == 200, answer.text
        return [entry["id"] for entry in answer.json()["audit_logs"]]


def person(platform: LivePlatform, role: UserRole, scopes: tuple[str, ...] = EVERY_SCOPE) -> Person:
    email = f"audit-{role.value}-{uuid.uuid4().hex[:8]}@example.com"
    user = users.create_user(
        commands.CreateUser(
            name=role.value.title(), email=email, password="audit password 1234", role=role, status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="audit", scopes=scopes, rate_limit=100_000),
        platform.identity.uow(),
    )
    return Person(user.id, secret)


def organization(platform: LivePlatform, owner: Person) -> int:
    slug = f"audit-{uuid.uuid4().hex[:10]}"
    org, _ = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=owner.user_id, name=slug, slug=slug), platform.identity.uow()
    )
    return org.id


@pytest.fixture(scope="module")
def world(paths: LocalPaths) -> Iterator[World]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_al_id") as identity_url,
        mariadb.scratch_database("cp_test_al_gw") as gateway_url,
        mariadb.scratch_database("cp_test_al_au") as audit_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("audit", migrations_dir("audit"), audit_url)
        with live_platform(identity_url, gateway_url, audit_url=audit_url) as platform:
            assert platform.audit is not None
            alice, bob = person(platform, UserRole.CLIENT), person(platform, UserRole.CLIENT)
            support, billing = person(platform, UserRole.SUPPORT), person(platform, UserRole.BILLING)
            org_a, org_b = organization(platform, alice), organization(platform, bob)
            e = platform.audit.engine
            rows = {
                "a_key": insert_entry(
                    e,
                    user_id=alice.user_id,
                    organization_id=org_a,
                    action="api_key.created",
                    resource_type="api_key",
                    resource_id=5,
                    new_values={"name": "ci"},
                    request_id="req-a-1",
                    minutes=1,
                ),
                "a_request": insert_entry(
                    e,
                    user_id=alice.user_id,
                    organization_id=org_a,
                    action="request",
                    event_type="request.completed",
                    request_id="req-a-1",
                    response_code=201,
                    duration_ms=9,
                    minutes=2,
                ),
                "a_org": insert_entry(
                    e, user_id=alice.user_id, organization_id=org_a, action="organization.updated", minutes=3
                ),
                "b_org": insert_entry(
                    e, user_id=bob.user_id, organization_id=org_b, action="organization.created", minutes=4
                ),
                "a_login_failed": insert_entry(
                    e,
                    user_id=alice.user_id,
                    action="user.login_failed",
                    ip_address="198.51.100.7",
                    user_agent="curl/8",
                    new_values={"reason": "wrong_password"},
                    minutes=5,
                ),
                "a_login": insert_entry(
                    e, user_id=alice.user_id, action="user.login_succeeded", ip_address="198.51.100.7", minutes=6
                ),
            }
            yield World(platform, alice, bob, support, billing, org_a, org_b, rows)


def test_a_client_reads_its_own_and_its_organizations_entries_newest_first(world: World) -> None:
    r = world.rows
    answer = world.get("/v1/audit_logs", world.alice)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [e["id"] for e in body["audit_logs"]] == [
        r["a_login"],
        r["a_login_failed"],
        r["a_org"],
        r["a_request"],
        r["a_key"],
    ]
    assert body["meta"]["pagination"]["total_entries"] == 5
    key = next(e for e in body["audit_logs"] if e["id"] == r["a_key"])
    assert key["action"] == "api_key.created" and key["resource_type"] == "api_key" and key["resource_id"] == 5
    assert key["new_values"] == {"name": "ci"} and key["old_values"] is None
    assert key["organization_id"] == world.org_a and key["created"].startswith("2026-11-01T12:01:00")
    request = next(e for e in body["audit_logs"] if e["id"] == r["a_request"])
    assert (request["response_code"], request["duration_ms"], request["request_id"]) == (201, 9, "req-a-1")


def test_filters_narrow_and_another_tenant_answers_an_empty_list(world: World) -> None:
    r = world.rows
    assert world.ids(world.alice, request_id="req-a-1") == [r["a_request"], r["a_key"]]
    assert world.ids(world.alice, action_prefix="organization.") == [r["a_org"]]
    assert world.ids(world.alice, resource_type="api_key", resource_id=5) == [r["a_key"]]
    assert world.ids(world.alice, since="2026-11-01T12:02:00Z", until="2026-11-01T13:03:00+01:00") == [r["a_request"]]
    assert world.ids(world.alice, organization_id=world.org_b) == []
    assert world.ids(world.alice, user_id=world.bob.user_id) == []
    assert world.ids(world.bob) == [r["b_org"]]


def test_pages_carry_meta_and_a_link_header_and_sort_orders(world: World) -> None:
    r = world.rows
    answer = world.get("/v1/audit_logs", world.alice, per_page=2, page=2, sort="id:asc")
    assert answer.status_code == 200, answer.text
    assert [e["id"] for e in answer.json()["audit_logs"]] == [r["a_org"], r["a_login_failed"]]
    pagination = answer.json()["meta"]["pagination"]
    assert (pagination["previous_page"], pagination["next_page"], pagination["last_page"]) == (1, 3, 3)
    assert 'rel="next"' in answer.headers["Link"] and "sort=id%3Aasc" in answer.headers["Link"]
    assert world.ids(world.alice, sort="created") == sorted(world.ids(world.alice))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "name"}, "sort"),
        ({"per_page": 51}, "per_page"),
        ({"page": 0}, "page"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_bad_query_parameters_are_invalid_input_naming_the_field(
    world: World, params: dict[str, object], field: str
) -> None:
    answer = world.get("/v1/audit_logs", world.alice, **params)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert [f["name"] for f in error["details"]["fields"]] == [field]


def test_support_reads_every_tenant_and_billing_only_its_own(world: World) -> None:
    assert sorted(world.ids(world.support)) == sorted(world.rows.values())
    assert world.ids(world.support, organization_id=world.org_b) == [world.rows["b_org"]]
    assert world.ids(world.billing) == []


def test_a_key_without_the_audit_logs_scope_is_forbidden(world: World) -> None:
    narrow = person(world.platform, UserRole.CLIENT, scopes=("servers:read",))
    answer = world.get("/v1/audit_logs", narrow)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"


def test_login_activity_is_the_callers_own_sign_ins(world: World) -> None:
    answer = world.get("/v1/me/login_activity", world.alice)
    assert answer.status_code == 200, answer.text
    succeeded, failed = answer.json()["login_activity"]
    assert (succeeded["id"], succeeded["success"], succeeded["reason"]) == (world.rows["a_login"], True, None)
    assert (failed["action"], failed["success"], failed["reason"], failed["user_agent"]) == (
        "user.login_failed",
        False,
        "wrong_password",
        "curl/8",
    )
    assert answer.json()["meta"]["pagination"]["total_entries"] == 2
    assert world.get("/v1/me/login_activity", world.bob).json()["login_activity"] == []


# Last: it adds entries that staff, who read every tenant, would count in the tests above.
@pytest.mark.parametrize("role", [OrganizationRole.MEMBER, OrganizationRole.BILLING, OrganizationRole.ADMIN])
def test_an_organizations_log_is_read_by_its_owner_and_admins_only(world: World, role: OrganizationRole) -> None:
    joined = person(world.platform, UserRole.CLIENT)
    organizations.add_member(
        commands.AddMember(
            acting_user_id=world.alice.user_id, organization_id=world.org_a, user_id=joined.user_id, role=role
        ),
        world.platform.identity.uow(),
    )
    # Its own entry (not the organization's, so the other tests' counts of alice's entries hold).
    own = insert_entry(world.platform.audit.engine, user_id=joined.user_id, action="ssh_key.created", minutes=7)  # type: ignore[union-attr]
    r = world.rows
    seen = world.ids(joined)
    if role is OrganizationRole.ADMIN:
        assert {r["a_key"], r["a_request"], r["a_org"], own} <= set(seen)
    else:
        # Who did what in the organization, from which address, is not a plain or billing member's to read.
        assert seen == [own]
        assert world.ids(joined, organization_id=world.org_a) == []
    assert r["a_login"] not in seen  # another user's sign-ins are never an organization's
