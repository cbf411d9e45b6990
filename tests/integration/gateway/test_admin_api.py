"""/v1/admin and /v1/quotas through the real gateway on uvicorn, talking gRPC to a real
identity service (IdentityService and AdminService) on a scratch database: what each
platform role's key may do, typed settings, paging, and a suspended user's key refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from cpshared.auth.principal import generate_private_key
from cpshared.clock import ManualClock
from cpshared.db import make_engine
from cpshared.grpc.server import ServiceIdentity, serve
from gateway_service.app import create_app
from gateway_service.auth.authentication import CACHE_TTL
from gateway_service.auth.maintenance import TTL as MAINTENANCE_TTL
from gateway_service.config import BACKENDS, Settings
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import UserRole
from identity_service.entrypoints.grpc_admin import add_admin_servicer
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.service_layer import api_keys
from tests.integration.gateway import conftest as gateway_conftest
from tests.integration.gateway.test_api_keys import _free_port, assert_error, call
from tests.integration.identity.support import make_user

STAFF_SCOPES = ("users:write", "settings:write", "quotas:write")


@pytest.fixture
async def identity_address(identity: Identity) -> AsyncIterator[str]:
    address = f"127.0.0.1:{_free_port()}"
    stop, started = asyncio.Event(), asyncio.Event()

    async def on_started() -> None:
        started.set()

    signing = Identity(identity.engine, generate_private_key())
    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, signing) + add_admin_servicer(server, signing),
            grace=0.5,
            on_started=on_started,
            stop_event=stop,
        )
    )
    await asyncio.wait_for(started.wait(), timeout=10)
    yield address
    stop.set()
    await asyncio.wait_for(task, timeout=10)


@pytest.fixture
def base_url(gateway_url: str, clock: ManualClock, identity_address: str) -> Iterator[str]:
    settings = Settings.model_validate(
        {
            "service_name": "gateway",
            "metrics_port": 0,
            "database_url": gateway_url,
            **{f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS},
            "identity_grpc_addr": identity_address,
        }
    )
    engine = make_engine(gateway_url, pool_size=5)
    try:
        app = create_app(settings, engine, clock=clock)
        with contextlib.contextmanager(gateway_conftest.serve)(app) as url:
            yield url
    finally:
        engine.dispose()


@dataclass
class Person:
    id: int
    secret: str


@dataclass
class Staff:
    admin: Person
    support: Person
    billing: Person
    client: Person
    other: Person


def person(identity: Identity, email: str, role: UserRole, scopes: tuple[str, ...] = STAFF_SCOPES) -> Person:
    user = make_user(identity, email, role)
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="staff", scopes=scopes), identity.uow()
    )
    return Person(user.id, secret)


@pytest.fixture
def staff(identity: Identity) -> Staff:
    return Staff(
        admin=person(identity, "root@example.com", UserRole.ADMIN),
        support=person(identity, "help@example.com", UserRole.SUPPORT),
        billing=person(identity, "money@example.com", UserRole.BILLING),
        client=person(identity, "ada@example.com", UserRole.CLIENT),
        other=person(identity, "bob@example.com", UserRole.CLIENT),
    )


async def test_each_role_reaches_only_the_staff_endpoints_its_job_needs(base_url: str, staff: Staff) -> None:
    client, other = staff.client.id, staff.other.id
    reads = [("GET", "/v1/admin/users", None), ("GET", f"/v1/admin/users/{client}", None)]
    admin_only = [
        ("GET", "/v1/admin/settings", None),
        ("GET", "/v1/admin/settings/default_server_limit", None),
        ("PUT", "/v1/admin/settings/default_server_limit", {"value": 7}),
        ("PUT", "/v1/admin/quotas", {"user_id": client, "resource_type": "server", "limit": 9}),
        ("POST", f"/v1/admin/users/{other}/actions/ban", {"reason": "abuse"}),
    ]
    support_writes = [
        ("POST", f"/v1/admin/users/{client}/actions/suspend", {"reason": "unpaid"}),
        ("POST", f"/v1/admin/users/{client}/actions/activate", {}),
    ]
    expected: dict[str, dict[str, int | None]] = {
        "client": {"read": 403, "admin_only": 403, "support_writes": 403},
        "billing": {"read": 200, "admin_only": 403, "support_writes": 403},
        "support": {"read": 200, "admin_only": 403, "support_writes": 201},
        "admin": {"read": 200, "admin_only": None, "support_writes": 201},
    }
    for role, answers in expected.items():
        who: Person = getattr(staff, role)
        for group, calls in (("read", reads), ("admin_only", admin_only), ("support_writes", support_writes)):
            for method, path, body in calls:
                response = await call(base_url, method, path, who.secret, json=body)
                wanted = answers[group]
                if wanted is None:
                    assert response.status_code in (200, 201), (role, path, response.text)
                elif wanted == 403:
                    assert_error(response, 403, "forbidden")
                else:
                    assert response.status_code == wanted, (role, path, response.text)
    # Support changes clients only (identity decides, the gateway passes the refusal on).
    refused = await call(base_url, "POST", f"/v1/admin/users/{staff.billing.id}/actions/suspend", staff.support.secret)
    assert_error(refused, 403, "forbidden")
    # Clients still read their own quotas.
    mine = await call(base_url, "GET", "/v1/quotas", staff.client.secret)
    assert mine.status_code == 200, mine.text
    assert [(q["user_id"], q["resource_type"], q["limit"]) for q in mine.json()["quotas"]] == [(client, "server", 9)]


async def test_a_key_without_the_scope_is_refused_even_for_an_admin(base_url: str, identity: Identity) -> None:
    narrow = person(identity, "root@example.com", UserRole.ADMIN, scopes=("users:read",))
    assert (await call(base_url, "GET", "/v1/admin/users", narrow.secret)).status_code == 200
    assert_error(await call(base_url, "GET", "/v1/admin/settings", narrow.secret), 403, "forbidden")
    assert_error(
        await call(base_url, "POST", f"/v1/admin/users/{narrow.id}/actions/erase", narrow.secret), 403, "forbidden"
    )


async def test_admins_search_users_a_page_at_a_time(base_url: str, staff: Staff) -> None:
    response = await call(base_url, "GET", "/v1/admin/users?q=example&per_page=2&sort=email:desc", staff.admin.secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [u["email"] for u in body["users"]] == ["root@example.com", "money@example.com"]
    assert body["meta"]["pagination"]["total_entries"] == 5 and body["meta"]["pagination"]["last_page"] == 3
    assert 'rel="next"' in response.headers["Link"]
    clients = await call(base_url, "GET", "/v1/admin/users?role=client&status=active", staff.billing.secret)
    assert {u["id"] for u in clients.json()["users"]} == {staff.client.id, staff.other.id}
    assert_error(await call(base_url, "GET", "/v1/admin/users?sort=password", staff.admin.secret), 400, "invalid_input")
    assert_error(await call(base_url, "GET", "/v1/admin/users/999999", staff.admin.secret), 404, "not_found")


async def test_settings_are_read_and_written_typed(base_url: str, staff: Staff, identity: Identity) -> None:
    with identity.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO system_settings (`key`, value, type, description, version) "
                "VALUES ('plans', :value, 'json', 'plans', 1)"
            ),
            {"value": '{"a": 1}'},
        )
    listed = await call(base_url, "GET", "/v1/admin/settings", staff.admin.secret)
    by_key = {s["key"]: s for s in listed.json()["settings"]}
    assert by_key["signup_enabled"]["value"] is True and by_key["plans"]["value"] == {"a": 1}
    changed = await call(base_url, "PUT", "/v1/admin/settings/signup_enabled", staff.admin.secret, {"value": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["setting"]["value"] is False
    plans = await call(base_url, "PUT", "/v1/admin/settings/plans", staff.admin.secret, {"value": {"b": [1, 2]}})
    assert plans.json()["setting"]["value"] == {"b": [1, 2]}
    wrong = await call(base_url, "PUT", "/v1/admin/settings/signup_enabled", staff.admin.secret, {"value": "yes"})
    assert_error(wrong, 400, "invalid_input")
    missing = await call(base_url, "GET", "/v1/admin/settings/nope", staff.admin.secret)
    assert_error(missing, 404, "not_found")


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Maintenance mode is read at most every TTL seconds per replica: wait up to a few TTLs."""
    for _ in range(int(MAINTENANCE_TTL * 4 / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_maintenance_mode_refuses_customers_writes_only(base_url: str, staff: Staff, identity: Identity) -> None:
    keys = ("api_keys:read", "api_keys:write")
    customer = person(identity, "carol@example.com", UserRole.CLIENT, keys)
    support = person(identity, "desk@example.com", UserRole.SUPPORT, keys)
    new_key = {"name": "during maintenance", "scopes": ["api_keys:read"]}

    async def refused() -> bool:
        answer = await call(base_url, "POST", "/v1/api_keys", customer.secret, new_key)
        if answer.status_code != 503:
            assert answer.status_code == 201, answer.text
            return False
        assert_error(answer, 503, "maintenance")
        assert answer.headers["Retry-After"] == "300"
        return True

    turned_on = await call(base_url, "PUT", "/v1/admin/settings/maintenance_mode", staff.admin.secret, {"value": True})
    assert turned_on.status_code == 200, turned_on.text
    await _until(refused, "a customer's write refused")
    assert (await call(base_url, "GET", "/v1/api_keys", customer.secret)).status_code == 200
    staff_write = await call(base_url, "POST", "/v1/api_keys", support.secret, new_key)
    assert staff_write.status_code == 201, staff_write.text

    turned_off = await call(
        base_url, "PUT", "/v1/admin/settings/maintenance_mode", staff.admin.secret, {"value": False}
    )
    assert turned_off.status_code == 200, turned_off.text

    async def allowed() -> bool:
        return not await refused()

    await _until(allowed, "a customer's write allowed again")


async def test_a_suspended_users_api_key_stops_working_within_the_principal_cache_ttl(
    base_url: str, staff: Staff, clock: ManualClock
) -> None:
    assert (await call(base_url, "GET", "/v1/quotas", staff.client.secret)).status_code == 200
    suspended = await call(
        base_url, "POST", f"/v1/admin/users/{staff.client.id}/actions/suspend", staff.support.secret, {"reason": "x"}
    )
    assert suspended.status_code == 201 and suspended.json()["user"]["status"] == "suspended"
    clock.advance(CACHE_TTL)
    assert_error(await call(base_url, "GET", "/v1/quotas", staff.client.secret), 401, "unauthorized")


async def test_erasure_through_the_gateway_answers_the_erased_account(base_url: str, staff: Staff) -> None:
    erased = await call(base_url, "POST", f"/v1/admin/users/{staff.other.id}/actions/erase", staff.admin.secret)
    assert erased.status_code == 201, erased.text
    user = erased.json()["user"]
    assert (user["name"], user["status"], user["deleted"]) == ("Erased user", "banned", True)
    assert_error(
        await call(base_url, "POST", f"/v1/admin/users/{staff.client.id}/actions/erase", staff.support.secret),
        403,
        "forbidden",
    )


async def test_the_openapi_document_describes_the_staff_answers(base_url: str, staff: Staff) -> None:
    document = (await call(base_url, "GET", "/v1/openapi.json", None)).json()
    assert "UsersAnswer" in document["components"]["schemas"]
    assert "/v1/admin/users/{user_id}/actions/erase" in document["paths"]
    assert "/v1/quotas" in document["paths"]
