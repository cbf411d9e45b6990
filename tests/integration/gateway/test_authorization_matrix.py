"""Every endpoint of the public API, every role, the caller's own tenant and another's:
allowed (2xx) or denied (403 forbidden for a role that may not, 404 not_found for a resource
of another tenant), and 401 without credentials.

Callers (each with an API key holding every scope, so only roles and tenants decide):

- ``admin``, ``support``, ``billing``: platform staff, members of no organization;
- ``owner``: a client owning organization A; ``member``: a client with the role member in A;
- ``other``: a client owning organization B, the other tenant for the three above and the
  one whose tenant the others reach for as "other".

A cell that changes state (revoke a key, suspend a user, remove a member, transfer an
organization) works on a resource made for that cell, so cells do not depend on each other.
Identity verifies every call's principal as in the stack (tests/integration/live.py).
"""

from __future__ import annotations

import base64
import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

import httpx
import pyotp
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from hcloud import Client as HcloudClient

from billing_service.adapters.tables import invoices as invoice_table
from billing_service.bootstrap import Billing
from billing_service.config import BillingRules
from billing_service.domain.payment_methods import NewPaymentMethod
from billing_service.service_layer import invoice_life, payment_methods
from cloudctl.infra.mailsink import MailSink
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.bootstrap import Compute
from compute_service.domain.servers import POWER_OFF, Server
from compute_service.service_layer import catalog as compute_catalog
from compute_service.service_layer import placement_groups as compute_placement_groups
from compute_service.service_layer import server_actions as compute_server_actions
from compute_service.service_layer import server_settings as compute_server_settings
from compute_service.service_layer import servers as compute_servers
from compute_service.service_layer import ssh_keys as compute_ssh_keys
from compute_service.service_layer.provisioning import Provisioner
from cpshared.clock import utcnow
from cpshared.events.projection import ProjectionRunner
from cpshared.migrations import migrations_dir, upgrade
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import OrganizationRole, QuotaOwner, User, UserRole, UserStatus
from identity_service.service_layer import api_keys, organizations, users
from identity_service.service_layer import staff as identity_staff
from monitoring_service.service_layer import alert_rules as monitoring_alert_rules
from monitoring_service.service_layer import uptime as monitoring_uptime
from network_service.domain.firewalls import Firewall
from network_service.domain.floating_ips import FloatingIp
from network_service.domain.load_balancers import LoadBalancer
from network_service.domain.networks import Network as PrivateNetwork
from network_service.domain.primary_ips import PrimaryIp
from network_service.service_layer import certificates as network_certificates
from network_service.service_layer import firewalls as network_firewalls
from network_service.service_layer import floating_ips as network_floating_ips
from network_service.service_layer import load_balancers as network_load_balancers
from network_service.service_layer import networks as network_networks
from network_service.service_layer import primary_ips as network_primary_ips
from storage_service.entrypoints.server_projection import ServerProjection as StorageProjection
from storage_service.service_layer import backups as storage_backups
from storage_service.service_layer import volumes as storage_volumes
from support_service.domain.notifications import Notification
from tests.integration.billing.support import apply as apply_to_billing
from tests.integration.billing.support import hours, organization_created, run_invoices, user_created
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform, network_worker_running
from tests.integration.monitoring.support import outbox_records, project, trigger_alert

PASSWORD = "matrix password 1234"
EVERY_SCOPE = ("*:read", "*:write")
CALLERS = ("admin", "support", "billing", "owner", "member", "other")
STAFF = ("admin", "support", "billing")
Target = Literal["own", "other"]
Expected = Literal["ok", 400, 403, 404]
OK: Final = "ok"
NOT_SUPPORTED: Final = 400
"""Reached, and refused because upstream has no such operation (a volume snapshot)."""
FORBIDDEN: Final = 403
NOT_FOUND: Final = 404
TOKEN = re.compile(r"accept\?token=([A-Za-z0-9_-]+)")


@dataclass
class Caller:
    name: str
    user: User
    key: str
    key_id: int
    email: str
    organization: int | None = None
    """The organization the caller belongs to (owner and member: A; other: B)."""


@dataclass
class World:
    platform: LivePlatform
    callers: dict[str, Caller]
    org_a: int
    org_b: int
    org_b_member: int
    sink: MailSink
    host: Caller | None = None
    """Owns the organizations that invite callers (a client in neither A nor B)."""
    made: list[str] = field(default_factory=list)

    @property
    def identity(self) -> Identity:
        return self.platform.identity

    @property
    def compute(self) -> Compute:
        assert self.platform.compute is not None
        return self.platform.compute

    def call(self, method: str, path: str, caller: Caller | None, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {caller.key}"} if caller else {}
        return httpx.request(method, f"{self.platform.gateway}{path}", json=body, headers=headers, timeout=30)

    def other_of(self, caller: Caller) -> Caller:
        """Whose tenant is "other" for ``caller``: B's owner for everyone but B, A's owner for B."""
        return self.callers["owner"] if caller.name == "other" else self.callers["other"]

    def other_org(self, caller: Caller) -> int:
        return self.org_a if caller.name == "other" else self.org_b

    # -- fresh resources for cells that change state ------------------------------------------
    def user(self, role: UserRole = UserRole.CLIENT, status: UserStatus = UserStatus.ACTIVE) -> User:
        email = f"m-{uuid.uuid4().hex[:10]}@example.com"
        name = f"Matrix {role.value}"
        cmd = commands.CreateUser(name=name, email=email, password=PASSWORD, role=role, status=status)
        return users.create_user(cmd, self.identity.uow())

    def key_of(self, user_id: int) -> tuple[int, str]:
        key, secret = api_keys.create_api_key(
            commands.CreateApiKey(user_id=user_id, name="cell", scopes=EVERY_SCOPE, rate_limit=100_000),
            self.identity.uow(),
        )
        return key.id, secret

    def organization(self, owner_id: int) -> int:
        slug = f"org-{uuid.uuid4().hex[:12]}"
        cmd = commands.CreateOrganization(acting_user_id=owner_id, name=slug, slug=slug)
        organization, _ = organizations.create_organization(cmd, self.identity.uow())
        return organization.id

    def add_member(self, organization_id: int, owner_id: int, user_id: int) -> None:
        cmd = commands.AddMember(
            acting_user_id=owner_id, organization_id=organization_id, user_id=user_id, role=OrganizationRole.MEMBER
        )
        organizations.add_member(cmd, self.identity.uow())

    def session_of(self, email: str) -> int:
        answer = self.call("POST", "/v1/auth/login", None, {"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["session"]["id"])


@pytest.fixture(scope="module")
def world(paths: LocalPaths) -> Iterator[World]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_mx_id") as identity_url,
        mariadb.scratch_database("cp_test_mx_gw") as gateway_url,
        mariadb.scratch_database("cp_test_mx_au") as audit_url,
        mariadb.scratch_database("cp_test_mx_cp") as compute_url,
        mariadb.scratch_database("cp_test_mx_bi") as billing_url,
        mariadb.scratch_database("cp_test_mx_st") as storage_url,
        mariadb.scratch_database("cp_test_mx_su") as support_url,
        mariadb.scratch_database("cp_test_mx_nw") as network_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("audit", migrations_dir("audit"), audit_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("billing", migrations_dir("billing"), billing_url)
        upgrade("storage", migrations_dir("storage"), storage_url)
        upgrade("support", migrations_dir("support"), support_url)
        upgrade("network", migrations_dir("network"), network_url)
        with (
            live_platform(
                identity_url,
                gateway_url,
                audit_url=audit_url,
                compute_url=compute_url,
                billing_url=billing_url,
                storage_url=storage_url,
                support_url=support_url,
                network_url=network_url,
            ) as platform,
            network_worker_running(platform),
        ):
            callers: dict[str, Caller] = {}
            roles = {"admin": UserRole.ADMIN, "support": UserRole.SUPPORT, "billing": UserRole.BILLING}
            for name in CALLERS:
                email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
                cmd = commands.CreateUser(
                    name=name.title(),
                    email=email,
                    password=PASSWORD,
                    role=roles.get(name, UserRole.CLIENT),
                    status=UserStatus.ACTIVE,
                )
                user = users.create_user(cmd, platform.identity.uow())
                key, secret = api_keys.create_api_key(
                    commands.CreateApiKey(user_id=user.id, name=name, scopes=EVERY_SCOPE, rate_limit=100_000),
                    platform.identity.uow(),
                )
                callers[name] = Caller(name=name, user=user, key=secret, key_id=key.id, email=email)
            world = World(platform, callers, 0, 0, 0, MailSink(paths.root))
            world.org_a = world.organization(callers["owner"].user.id)
            world.add_member(world.org_a, callers["owner"].user.id, callers["member"].user.id)
            world.org_b = world.organization(callers["other"].user.id)
            b_member = world.user()
            world.add_member(world.org_b, callers["other"].user.id, b_member.id)
            world.org_b_member = b_member.id
            callers["owner"].organization = callers["member"].organization = world.org_a
            callers["other"].organization = world.org_b
            host = world.user()
            host_key_id, host_key = world.key_of(host.id)
            world.host = Caller(name="host", user=host, key=host_key, key_id=host_key_id, email=host.email)
            yield world


# -- the cells --------------------------------------------------------------------------------

Request = tuple[str, str, Any]
"""(method, path, JSON body or None)."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    request: Callable[[World, Caller, Target], Request | None]
    """The request a caller sends for a target; None where the cell does not exist (no own organization)."""
    own: Expected | dict[str, Expected] = OK
    other: Expected | dict[str, Expected] | None = None
    """None: the endpoint has no other tenant's resource (it lists or acts on the caller's own)."""
    in_organization: bool = False
    """The own cell needs the caller's organization: staff, members of none, have no own cell."""

    def expected(self, caller: str, target: Target) -> Expected | None:
        table = self.own if target == "own" else self.other
        if table is None or (target == "own" and self.in_organization and caller in STAFF):
            return None
        return table[caller] if isinstance(table, dict) else table


def staff(admin: Expected, support: Expected, billing: Expected, clients: Expected) -> dict[str, Expected]:
    return {
        "admin": admin,
        "support": support,
        "billing": billing,
        "owner": clients,
        "member": clients,
        "other": clients,
    }


def org_roles(owner: Expected, member: Expected) -> dict[str, Expected]:
    """For a caller's own organization: its owner and member (staff and B have A/B as "other")."""
    return {"owner": owner, "member": member, "other": owner, "admin": OK, "support": OK, "billing": OK}


ADMIN_REACHES = staff(OK, NOT_FOUND, NOT_FOUND, NOT_FOUND)
"""Another tenant's organization: only a platform admin reaches it."""


def own_org(world: World, caller: Caller, target: Target) -> int | None:
    """The caller's organization, or another tenant's; None for staff's own (filtered out)."""
    return caller.organization if target == "own" else world.other_org(caller)


def key_path(world: World, caller: Caller, target: Target, method: str) -> Request:
    owner = caller if target == "own" else world.other_of(caller)
    key_id, _ = world.key_of(owner.user.id)
    return (method, f"/v1/api_keys/{key_id}", None)


def key_request(method: str, suffix: str, body: Any) -> Callable[[World, Caller, Target], Request]:
    def build(world: World, caller: Caller, target: Target) -> Request:
        _, path, _ = key_path(world, caller, target, method)
        return (method, path + suffix, body)

    return build


def session_path(world: World, caller: Caller, target: Target) -> Request:
    whose = caller if target == "own" else world.other_of(caller)
    return ("DELETE", f"/v1/me/sessions/{world.session_of(whose.email)}", None)


def org_request(method: str, suffix: str = "", body: Any = None) -> Callable[[World, Caller, Target], Request | None]:
    def build(world: World, caller: Caller, target: Target) -> Request | None:
        organization = own_org(world, caller, target)
        if organization is None:
            return None
        return (method, f"/v1/organizations/{organization}{suffix}", body)

    return build


def member_change(world: World, caller: Caller, target: Target) -> Request | None:
    organization = own_org(world, caller, target)
    if organization is None:
        return None
    member = world.callers["member"].user.id if organization == world.org_a else world.org_b_member
    return ("PUT", f"/v1/organizations/{organization}/members/{member}", {"permissions": ["servers:read"]})


def member_removal(world: World, caller: Caller, target: Target) -> Request | None:
    organization = own_org(world, caller, target)
    if organization is None:
        return None
    owner = world.callers["owner"] if organization == world.org_a else world.callers["other"]
    leaving = world.user()
    world.add_member(organization, owner.user.id, leaving.id)
    return ("DELETE", f"/v1/organizations/{organization}/members/{leaving.id}", None)


def transfer(world: World, caller: Caller, target: Target) -> Request | None:
    """A fresh organization per cell: owned by the caller's side (owner → the caller, member →
    A's owner with the caller a member) or by the other tenant."""
    if target == "own" and caller.organization is None:
        return None
    if target == "own":
        owner = caller if caller.name in ("owner", "other") else world.callers["owner"]
    else:
        owner = world.other_of(caller)
    organization = world.organization(owner.user.id)
    heir = world.user()
    world.add_member(organization, owner.user.id, heir.id)
    if target == "own" and caller.name == "member":
        world.add_member(organization, owner.user.id, caller.user.id)
    return ("POST", f"/v1/organizations/{organization}/actions/transfer_ownership", {"user_id": heir.id})


def invitation_revocation(world: World, caller: Caller, target: Target) -> Request | None:
    organization = own_org(world, caller, target)
    if organization is None:
        return None
    owner = world.callers["owner"] if organization == world.org_a else world.callers["other"]
    email = f"r-{uuid.uuid4().hex[:8]}@example.com"
    sent = world.call("POST", f"/v1/organizations/{organization}/invitations", owner, {"email": email})
    assert sent.status_code == 201, sent.text
    return ("DELETE", f"/v1/organizations/{organization}/invitations/{sent.json()['invitation']['id']}", None)


def accept(world: World, caller: Caller, target: Target) -> Request:
    """An invitation to a fresh organization, sent to the caller's own email or to somebody else's."""
    assert world.host is not None
    email = caller.email if target == "own" else f"someone-{uuid.uuid4().hex[:8]}@example.com"
    organization = world.organization(world.host.user.id)
    sent = world.call("POST", f"/v1/organizations/{organization}/invitations", world.host, {"email": email})
    assert sent.status_code == 201, sent.text
    match = TOKEN.search(world.sink.wait_for(email, "invited").body)
    assert match, "no accept link in the invitation mail"
    return ("POST", "/v1/organizations/invitations/accept", {"token": match.group(1)})


def victim(status: UserStatus = UserStatus.ACTIVE) -> Callable[[World, Caller, Target], Request]:
    def build(world: World, caller: Caller, target: Target) -> Request:
        user = world.user(status=status)
        return ("POST", f"/v1/admin/users/{user.id}/actions/{ACTION_OF[status]}", {"reason": "matrix"})

    return build


ACTION_OF = {UserStatus.ACTIVE: "suspend", UserStatus.SUSPENDED: "activate", UserStatus.PENDING: "activate"}


def admin_action(action: str) -> Callable[[World, Caller, Target], Request]:
    def build(world: World, caller: Caller, target: Target) -> Request:
        user = world.user()
        return (
            "POST",
            f"/v1/admin/users/{user.id}/actions/{action}",
            {"reason": "matrix"} if action != "erase" else None,
        )

    return build


def two_factor_flow(world: World, caller: Caller, target: Target) -> Request:
    """Enrol (checked itself), then the confirmation is the cell."""
    enrolled = world.call("POST", "/v1/me/two_factor", caller)
    assert enrolled.status_code == 201, enrolled.text
    code = pyotp.TOTP(enrolled.json()["secret"]).now()
    return ("POST", "/v1/me/two_factor/confirm", {"code": code})


def fixed(method: str, path: str, body: Any = None) -> Callable[[World, Caller, Target], Request]:
    return lambda world, caller, target: (method, path, body)


def new_slug(world: World, caller: Caller, target: Target) -> Request:
    slug = f"made-{uuid.uuid4().hex[:10]}"
    return ("POST", "/v1/organizations", {"name": slug, "slug": slug})


def audit_logs_of(world: World, caller: Caller, target: Target) -> Request:
    """The audit log, unfiltered, or filtered on another tenant's user: an empty list for a
    client, not an error (tests/integration/gateway/test_audit_logs_api.py checks the rows)."""
    if target == "own":
        return ("GET", "/v1/audit_logs", None)
    return ("GET", f"/v1/audit_logs?user_id={world.other_of(caller).user.id}", None)


def public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def new_ssh_key(world: World, caller: Caller, target: Target) -> Request:
    return ("POST", "/v1/ssh_keys", {"name": f"k-{uuid.uuid4().hex[:8]}", "public_key": public_key()})


def ssh_key_request(method: str) -> Callable[[World, Caller, Target], Request]:
    """A fresh key of the caller's own, or of the other tenant's owner (PUT renames it uniquely)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        key = compute_ssh_keys.create(
            owner.user.id, None, f"k-{uuid.uuid4().hex[:8]}", public_key(), {}, world.compute.uow()
        )
        body = {"name": f"renamed-{uuid.uuid4().hex[:8]}"} if method == "PUT" else None
        return (method, f"/v1/ssh_keys/{key.id}", body)

    return build


ALERT_RULE = {"name": "cpu high", "resource_type": "server", "metric": "cpu_usage", "operator": "gt", "threshold": 80}


def alert_rule_request(method: str) -> Callable[[World, Caller, Target], Request]:
    """A fresh alert rule of the caller's own, or of the other tenant's owner (made in monitoring)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        assert world.platform.monitoring is not None
        fields = {k: str(v) for k, v in ALERT_RULE.items()}
        rule = monitoring_alert_rules.create(
            monitoring_alert_rules.NewAlertRule(
                user_id=owner.user.id,
                organization_id=None,
                resource_id=None,
                duration_minutes=None,
                enabled=None,
                channels=[],
                **fields,
            ),
            world.platform.monitoring.uow(),
        )
        body = {"threshold": 90} if method == "PUT" else None
        return (method, f"/v1/alert_rules/{rule.id}", body)

    return build


UPTIME_MONITOR = {"name": "shop", "type": "http", "target": "shop.example.com"}


def uptime_monitor_request(method: str, suffix: str = "") -> Callable[[World, Caller, Target], Request]:
    """A fresh uptime monitor of the caller's own, or of the other tenant's owner (made in monitoring)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        assert world.platform.monitoring is not None
        monitor = monitoring_uptime.create(
            monitoring_uptime.NewUptimeMonitor(
                user_id=owner.user.id,
                organization_id=None,
                name="shop",
                type="http",
                target="shop.example.com",
                port=None,
                interval_seconds=None,
                timeout_seconds=None,
                regions=[],
                enabled=False,
                channels=[],
            ),
            ("local",),
            world.platform.monitoring.uow(),
        )
        body = {"interval_seconds": 120} if method == "PUT" else None
        return (method, f"/v1/uptime_monitors/{monitor.id}{suffix}", body)

    return build


def alert_request(method: str, suffix: str = "") -> Callable[[World, Caller, Target], Request]:
    """A fresh alert of a fresh rule of the caller's own, or of the other tenant's owner (the
    rule made in monitoring, its alert.triggered applied by monitoring's projection)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        assert world.platform.monitoring is not None
        fields = {k: str(v) for k, v in ALERT_RULE.items()}
        rule = monitoring_alert_rules.create(
            monitoring_alert_rules.NewAlertRule(
                user_id=owner.user.id,
                organization_id=None,
                resource_id=None,
                duration_minutes=None,
                enabled=None,
                channels=[],
                **fields,
            ),
            world.platform.monitoring.uow(),
        )
        alert = trigger_alert(world.platform.monitoring.engine, rule.id, owner.user.id, 41, datetime.now(UTC))
        return (method, f"/v1/alerts/{alert}{suffix}", None)

    return build


def placement_group_of(world: World, owner: Caller) -> int:
    """A fresh placement group of ``owner``'s own."""
    group = compute_placement_groups.create(
        owner.user.id, None, f"pg-{uuid.uuid4().hex[:8]}", "spread", {}, world.compute.uow()
    )
    return group.id


def new_placement_group(world: World, caller: Caller, target: Target) -> Request:
    return ("POST", "/v1/placement_groups", {"name": f"pg-{uuid.uuid4().hex[:8]}", "type": "spread"})


def placement_group_request(method: str) -> Callable[[World, Caller, Target], Request]:
    """A fresh group of the caller's own, or of the other tenant's owner (PUT renames it uniquely)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        group_id = placement_group_of(world, owner)
        body = {"name": f"renamed-{uuid.uuid4().hex[:8]}"} if method == "PUT" else None
        return (method, f"/v1/placement_groups/{group_id}", body)

    return build


def add_to_placement_group(world: World, caller: Caller, target: Target) -> Request:
    """A powered-off server and a placement group, both of the caller's own or the other tenant's."""
    owner = caller if target == "own" else world.other_of(caller)
    server = provisioned_server(world, owner)
    powered_off(world, server)
    carry_out_actions(world)
    body = {"placement_group": placement_group_of(world, owner)}
    return ("POST", f"/v1/servers/{server.id}/actions/add_to_placement_group", body)


def remove_from_placement_group(world: World, caller: Caller, target: Target) -> Request:
    """A server made in a placement group, of the caller's own or the other tenant's."""
    owner = caller if target == "own" else world.other_of(caller)
    server = provisioned_server(world, owner, placement_group_id=placement_group_of(world, owner))
    return ("POST", f"/v1/servers/{server.id}/actions/remove_from_placement_group", None)


def raise_server_limit(world: World, owner: Caller) -> None:
    """Room for the many servers cells make (the quota rows set limits of their own)."""
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=world.callers["admin"].user.id,
            owner=QuotaOwner(user_id=owner.user.id),
            resource_type="server",
            quota_limit=500,
        ),
        world.identity.uow,
    )


def provisioned_server(world: World, owner: Caller, placement_group_id: int = 0) -> Server:
    """A server of ``owner``'s made through compute's use case, its create action carried out
    by compute's provisioning worker against the simulator (one round at a time, in this thread)."""
    raise_server_limit(world, owner)
    assert world.platform.simulator is not None
    # Every server cell makes one upstream (and the snapshot and backup cells an image): room for
    # them all in the simulator's one project.
    control = world.platform.simulator.removesuffix("/v1")
    limits = {"max_servers": 5000, "max_images": 5000}
    httpx.patch(f"{control}/_sim/config", json=limits, timeout=5).raise_for_status()
    server, _ = compute_servers.create(
        compute_servers.NewServer(
            user_id=owner.user.id,
            organization_id=None,
            name=f"mx-{uuid.uuid4().hex[:8]}",
            server_type="cx22",
            image="ubuntu-24.04",
            datacenter="fsn1",
            placement_group_id=placement_group_id,
        ),
        world.compute.quotas,
        world.compute.uow(),
    )
    assert world.platform.simulator is not None
    upstream = HcloudServers(
        world.platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
    )
    provisioner = Provisioner(world.compute.uow, upstream, world.compute.quotas)
    while provisioner.run_once() is not None:
        pass
    return server


def ready_floating_ip(world: World, owner: Caller) -> FloatingIp:
    """A fresh floating IP of ``owner``'s own in fsn1, made upstream by network's worker."""
    network = world.platform.network
    assert network is not None
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=world.callers["admin"].user.id,
            owner=QuotaOwner(user_id=owner.user.id),
            resource_type="floating_ip",
            quota_limit=500,
        ),
        world.identity.uow,
    )
    assert world.platform.simulator is not None
    control = world.platform.simulator.removesuffix("/v1")
    httpx.patch(f"{control}/_sim/config", json={"max_floating_ips": 5000}, timeout=5).raise_for_status()
    made, _ = network_floating_ips.create(
        network_floating_ips.NewFloatingIp(
            user_id=owner.user.id, organization_id=None, type="ipv4", home_location="fsn1"
        ),
        network.uow(),
        network.compute,
        network.quotas,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with network.uow() as uow:
            current = uow.floating_ips.get_any(made.id)
        if current is not None and not current.locked:
            return current
        time.sleep(0.05)
    raise AssertionError(f"floating IP {made.id} was not made upstream")


def floating_ip_request(
    method: str, suffix: str = "", body: Callable[[World, Caller, FloatingIp], dict[str, Any]] | None = None
) -> Callable[[World, Caller, Target], Request]:
    """A fresh floating IP of the caller's own, or of the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        fip = ready_floating_ip(world, owner)
        return (method, f"/v1/floating_ips/{fip.id}{suffix}", body(world, owner, fip) if body else None)

    return build


def assign_body(world: World, owner: Caller, fip: FloatingIp) -> dict[str, Any]:
    return {"server": provisioned_server(world, owner).id}


def dns_ptr_body(world: World, owner: Caller, fip: FloatingIp) -> dict[str, Any]:
    return {"ip": fip.ip_address, "dns_ptr": "matrix.example.com"}


def new_floating_ip(world: World, caller: Caller, target: Target) -> Request:
    ready_floating_ip(world, caller)  # raises the caller's floating IP limit too
    return ("POST", "/v1/floating_ips", {"type": "ipv4", "home_location": "fsn1"})


def floating_ip_action(of_floating_ip: bool) -> Callable[[World, Caller, Target], Request]:
    """The create action of a fresh floating IP of the caller's own or the other tenant's owner, at
    /v1/floating_ips/{id}/actions/{action_id} (``of_floating_ip``) or /v1/floating_ips/actions/{id}."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        fip = ready_floating_ip(world, owner)
        network = world.platform.network
        assert network is not None
        (action,), _ = network_floating_ips.actions(
            network_floating_ips.ActionSearch(user_id=None, organization_id=None, floating_ip_id=fip.id),
            _anyone,
            network.uow(),
        )
        if of_floating_ip:
            return ("GET", f"/v1/floating_ips/{fip.id}/actions/{action.id}", None)
        return ("GET", f"/v1/floating_ips/actions/{action.id}", None)

    return build


def ready_primary_ip(world: World, owner: Caller, *, assignee: int = 0) -> PrimaryIp:
    """A fresh primary IPv4 of ``owner``'s own (in fsn1, or assigned to ``assignee``), made
    upstream by network's worker."""
    network = world.platform.network
    assert network is not None and world.platform.simulator is not None
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=world.callers["admin"].user.id,
            owner=QuotaOwner(user_id=owner.user.id),
            resource_type="primary_ip",
            quota_limit=500,
        ),
        world.identity.uow,
    )
    control = world.platform.simulator.removesuffix("/v1")
    httpx.patch(f"{control}/_sim/config", json={"max_primary_ips": 5000}, timeout=5).raise_for_status()
    made, _ = network_primary_ips.create(
        network_primary_ips.NewPrimaryIp(
            user_id=owner.user.id,
            organization_id=None,
            type="ipv4",
            name=f"mx-{uuid.uuid4().hex[:8]}",
            location="" if assignee else "fsn1",
            assignee_id=assignee,
        ),
        network.uow(),
        network.compute,
        network.primary_ip_quotas,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with network.uow() as uow:
            current = uow.primary_ips.get_any(made.id)
        if current is not None and current.status == "ready" and not current.locked:
            return current
        time.sleep(0.05)
    raise AssertionError(f"primary IP {made.id} was not made upstream")


def stopped_server(world: World, owner: Caller) -> Server:
    """A server of ``owner``'s, powered off by compute's worker."""
    server = provisioned_server(world, owner)
    powered_off(world, server)
    assert world.platform.simulator is not None
    upstream = HcloudServers(
        world.platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
    )
    provisioner = Provisioner(world.compute.uow, upstream, world.compute.quotas)
    while provisioner.run_once() is not None:
        pass
    return server


def assigned_primary_ip(world: World, owner: Caller) -> PrimaryIp:
    """A primary IPv4 of ``owner``'s assigned to its powered-off server (whose own IPv4 was
    unassigned upstream first: a server has one primary IPv4)."""
    server = stopped_server(world, owner)
    assert world.platform.simulator is not None
    upstream: Any = HcloudClient(token=SIMULATOR_TOKEN, api_endpoint=world.platform.simulator)
    (found,) = upstream.servers.get_all(label_selector=f"cp_server_id={server.id}")
    upstream.primary_ips.unassign(found.public_net.primary_ipv4).wait_until_finished(max_retries=200)
    return ready_primary_ip(world, owner, assignee=server.id)


def primary_ip_request(
    method: str,
    suffix: str = "",
    body: Callable[[World, Caller, PrimaryIp], dict[str, Any]] | None = None,
    *,
    assigned: bool = False,
) -> Callable[[World, Caller, Target], Request]:
    """A fresh primary IP of the caller's own, or of the other tenant's owner (``assigned``: to a
    powered-off server of that owner)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        pip = assigned_primary_ip(world, owner) if assigned else ready_primary_ip(world, owner)
        return (method, f"/v1/primary_ips/{pip.id}{suffix}", body(world, owner, pip) if body else None)

    return build


def assign_primary_ip_body(world: World, owner: Caller, pip: PrimaryIp) -> dict[str, Any]:
    return {"assignee_id": stopped_server(world, owner).id, "assignee_type": "server"}


def new_primary_ip(world: World, caller: Caller, target: Target) -> Request:
    ready_primary_ip(world, caller)  # raises the caller's primary IP limit too
    return ("POST", "/v1/primary_ips", {"type": "ipv4", "name": f"mx-{uuid.uuid4().hex[:8]}", "location": "fsn1"})


def primary_ip_action(of_primary_ip: bool) -> Callable[[World, Caller, Target], Request]:
    """The create action of a fresh primary IP of the caller's own or the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        pip = ready_primary_ip(world, owner)
        network = world.platform.network
        assert network is not None
        (action,), _ = network_primary_ips.actions(
            network_primary_ips.ActionSearch(user_id=None, organization_id=None, primary_ip_id=pip.id),
            _anyone,
            network.uow(),
        )
        if of_primary_ip:
            return ("GET", f"/v1/primary_ips/{pip.id}/actions/{action.id}", None)
        return ("GET", f"/v1/primary_ips/actions/{action.id}", None)

    return build


def ready_network(world: World, owner: Caller) -> PrivateNetwork:
    """A fresh private network of ``owner``'s own (10.0.0.0/16, a cloud subnet 10.0.1.0/24 in
    eu-central, a route), made upstream by network's worker."""
    network = world.platform.network
    assert network is not None and world.platform.simulator is not None
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=world.callers["admin"].user.id,
            owner=QuotaOwner(user_id=owner.user.id),
            resource_type="network",
            quota_limit=500,
        ),
        world.identity.uow,
    )
    control = world.platform.simulator.removesuffix("/v1")
    httpx.patch(f"{control}/_sim/config", json={"max_networks": 5000}, timeout=5).raise_for_status()
    made, _ = network_networks.create(
        network_networks.NewNetwork(
            user_id=owner.user.id,
            organization_id=None,
            name=f"matrix-{time.monotonic_ns()}",
            ip_range="10.0.0.0/16",
            subnets=[network_networks.NewSubnet("cloud", "eu-central", "10.0.1.0/24")],
            routes=[("10.100.0.0/24", "10.0.1.5")],
        ),
        network.uow(),
        network.network_quotas,
    )
    return _unlocked(world, made.id)


def _unlocked(world: World, network_id: int) -> PrivateNetwork:
    network = world.platform.network
    assert network is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with network.uow() as uow:
            current = uow.networks.get_any(network_id)
        if current is not None and not current.locked:
            return current
        time.sleep(0.05)
    raise AssertionError(f"network {network_id} is still locked")


def network_request(
    method: str, suffix: str = "", body: dict[str, Any] | None = None
) -> Callable[[World, Caller, Target], Request]:
    """A fresh network of the caller's own, or of the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        made = ready_network(world, owner)
        return (method, f"/v1/networks/{made.id}{suffix}", body)

    return build


def new_network(world: World, caller: Caller, target: Target) -> Request:
    ready_network(world, caller)  # raises the caller's network limit too
    return ("POST", "/v1/networks", {"name": f"new-{time.monotonic_ns()}", "ip_range": "10.0.0.0/16"})


def network_action(of_network: bool) -> Callable[[World, Caller, Target], Request]:
    """The create action of a fresh network of the caller's own or the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        made = ready_network(world, owner)
        network = world.platform.network
        assert network is not None
        (action,), _ = network_networks.actions(
            network_networks.ActionSearch(user_id=None, organization_id=None, network_id=made.id),
            _anyone,
            network.uow(),
        )
        if of_network:
            return ("GET", f"/v1/networks/{made.id}/actions/{action.id}", None)
        return ("GET", f"/v1/networks/actions/{action.id}", None)

    return build


def ready_firewall(world: World, owner: Caller, applied: bool = False) -> Firewall:
    """A fresh firewall of ``owner``'s own with one rule (applied to the selector
    ``matrix=yes`` when ``applied``), made upstream by network's worker; it has one finished
    action (``apply_firewall``, or ``set_firewall_rules``)."""
    network = world.platform.network
    assert network is not None
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=world.callers["admin"].user.id,
            owner=QuotaOwner(user_id=owner.user.id),
            resource_type="firewall",
            quota_limit=500,
        ),
        world.identity.uow,
    )
    assert world.platform.simulator is not None
    control = world.platform.simulator.removesuffix("/v1")
    httpx.patch(f"{control}/_sim/config", json={"max_firewalls": 5000}, timeout=5).raise_for_status()
    rule = {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0"]}
    made, _ = network_firewalls.create(
        network_firewalls.NewFirewall(
            user_id=owner.user.id,
            organization_id=None,
            name=f"matrix-{time.monotonic_ns()}",
            rules=[rule],
            apply_to=network_firewalls.Targets(selectors=["matrix=yes"] if applied else []),
        ),
        _anyone,
        network.uow(),
        network.firewall_quotas,
        network.compute,
    )
    if not applied:
        network_firewalls.set_rules(made.id, [rule], _anyone, network.uow())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = network_firewalls.get(made.id, _anyone, network.uow())
        if not current.locked:
            assert current.selectors == (["matrix=yes"] if applied else []), "the worker's action failed"
            return current
        time.sleep(0.05)
    raise AssertionError(f"firewall {made.id} is still locked")


SEL_MATRIX = {"type": "label_selector", "label_selector": {"selector": "matrix=yes"}}
SEL_OTHER = {"type": "label_selector", "label_selector": {"selector": "other=yes"}}


def firewall_request(
    method: str, suffix: str = "", body: dict[str, Any] | None = None, applied: bool = False
) -> Callable[[World, Caller, Target], Request]:
    """A fresh firewall of the caller's own, or of the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        made = ready_firewall(world, owner, applied)
        return (method, f"/v1/firewalls/{made.id}{suffix}", body)

    return build


def new_firewall(world: World, caller: Caller, target: Target) -> Request:
    ready_firewall(world, caller)  # raises the caller's firewall limit too
    return ("POST", "/v1/firewalls", {"name": f"new-{time.monotonic_ns()}"})


def firewall_action(of_firewall: bool) -> Callable[[World, Caller, Target], Request]:
    """The action of a fresh firewall of the caller's own or the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        made = ready_firewall(world, owner)
        network = world.platform.network
        assert network is not None
        (action,), _ = network_firewalls.actions(
            network_firewalls.ActionSearch(user_id=None, organization_id=None, firewall_id=made.id),
            _anyone,
            network.uow(),
        )
        if of_firewall:
            return ("GET", f"/v1/firewalls/{made.id}/actions/{action.id}", None)
        return ("GET", f"/v1/firewalls/actions/{action.id}", None)

    return build


def ready_load_balancer(world: World, owner: Caller, attached: bool = False) -> LoadBalancer:
    """A fresh lb11 of ``owner``'s own in fsn1 with a tcp service on port 80 and an ip target
    1.1.1.2 (attached to a fresh network of the owner's when ``attached``), made upstream by
    network's worker; its one action is ``create_load_balancer``."""
    network = world.platform.network
    assert network is not None and world.platform.simulator is not None
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=world.callers["admin"].user.id,
            owner=QuotaOwner(user_id=owner.user.id),
            resource_type="load_balancer",
            quota_limit=500,
        ),
        world.identity.uow,
    )
    control = world.platform.simulator.removesuffix("/v1")
    httpx.patch(f"{control}/_sim/config", json={"max_load_balancers": 5000}, timeout=5).raise_for_status()
    made, _ = network_load_balancers.create(
        network_load_balancers.NewLoadBalancer(
            user_id=owner.user.id,
            organization_id=None,
            name=f"matrix-{time.monotonic_ns()}",
            load_balancer_type="lb11",
            location="fsn1",
            services=[{"protocol": "tcp", "listen_port": 80, "destination_port": 80}],
            targets=[{"type": "ip", "ip": "1.1.1.2"}],
            network=ready_network(world, owner).id if attached else 0,
        ),
        _anyone,
        network.uow(),
        network_load_balancers.Peers(network.compute, network.load_balancer_types, network.load_balancer_quotas),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = network_load_balancers.get(made.id, _anyone, network.uow())
        if not current.locked:
            assert current.status == "running", "the worker's create failed"
            return current
        time.sleep(0.05)
    raise AssertionError(f"load balancer {made.id} is still locked")


def load_balancer_request(
    method: str, suffix: str = "", body: dict[str, Any] | None = None, attached: bool = False
) -> Callable[[World, Caller, Target], Request]:
    """A fresh load balancer of the caller's own, or of the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        made = ready_load_balancer(world, owner, attached)
        wanted = dict(body or {})
        if "network" in wanted:  # the network it is (or is to be) attached to
            wanted["network"] = made.spec.networks[0]["network"] if attached else ready_network(world, owner).id
        if wanted.get("ip") == "own":
            wanted["ip"] = made.ipv4
        return (method, f"/v1/load_balancers/{made.id}{suffix}", wanted if body is not None else None)

    return build


def new_load_balancer(world: World, caller: Caller, target: Target) -> Request:
    ready_load_balancer(world, caller)  # raises the caller's load balancer limit too
    return (
        "POST",
        "/v1/load_balancers",
        {"name": f"new-{time.monotonic_ns()}", "load_balancer_type": "lb11", "location": "fsn1"},
    )


def load_balancer_action(of_load_balancer: bool) -> Callable[[World, Caller, Target], Request]:
    """The create action of a fresh load balancer of the caller's own or the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        made = ready_load_balancer(world, owner)
        network = world.platform.network
        assert network is not None
        (action,), _ = network_load_balancers.actions(
            network_load_balancers.ActionSearch(user_id=None, organization_id=None, load_balancer_id=made.id),
            _anyone,
            network.uow(),
        )
        if of_load_balancer:
            return ("GET", f"/v1/load_balancers/{made.id}/actions/{action.id}", None)
        return ("GET", f"/v1/load_balancers/actions/{action.id}", None)

    return build


def certificate_pem(name: str) -> tuple[str, str]:
    """A self-signed certificate for ``name`` and its key, in PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), private.decode()


def certificate_request(method: str, body: dict[str, Any] | None = None) -> Callable[[World, Caller, Target], Request]:
    """A fresh certificate of the caller's own, or of the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        network = world.platform.network
        assert network is not None
        pem, key = certificate_pem("matrix.example.com")
        made = network_certificates.create(
            network_certificates.NewCertificate(
                user_id=owner.user.id,
                organization_id=None,
                name=f"matrix-{time.monotonic_ns()}",
                certificate=pem,
                private_key=key,
            ),
            network.uow(),
        )
        return (method, f"/v1/certificates/{made.id}", body)

    return build


def new_certificate(world: World, caller: Caller, target: Target) -> Request:
    pem, key = certificate_pem("new.example.com")
    return ("POST", "/v1/certificates", {"name": f"new-{time.monotonic_ns()}", "certificate": pem, "private_key": key})


def server_network_action(name: str, attached: bool) -> Callable[[World, Caller, Target], Request]:
    """A server and a network of the caller's own or the other tenant's owner (the server
    attached first when ``attached``), and the server action ``name`` on them."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        server = provisioned_server(world, owner)
        made = ready_network(world, owner)
        body: dict[str, Any] = {"network": made.id}
        if attached:
            network = world.platform.network
            assert network is not None
            network_networks.attach(
                network_networks.Attach(server_id=server.id, network_id=made.id),
                _anyone,
                network.uow(),
                network.compute,
            )
            _unlocked(world, made.id)
        if name == "change_alias_ips":
            body["alias_ips"] = ["10.0.1.77"]
        return ("POST", f"/v1/servers/{server.id}/actions/{name}", body)

    return build


def carry_out_actions(world: World) -> None:
    """Compute's worker rounds, in this thread, until no action is left."""
    assert world.platform.simulator is not None
    upstream = HcloudServers(
        world.platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
    )
    provisioner = Provisioner(world.compute.uow, upstream, world.compute.quotas)
    while provisioner.run_once() is not None:
        pass


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


def server_action(
    name: str, body: dict[str, object] | None = None, prepare: Callable[[World, Server], None] | None = None
) -> Callable[[World, Caller, Target], Request]:
    """POST /v1/servers/{id}/actions/<name> on a fresh provisioned server (``prepare``d first)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        server = provisioned_server(world, owner)
        if prepare is not None:
            prepare(world, server)
            carry_out_actions(world)
        return ("POST", f"/v1/servers/{server.id}/actions/{name}", body)

    return build


def server_with_body(method: str, suffix: str, body: dict[str, object]) -> Callable[[World, Caller, Target], Request]:
    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        server = provisioned_server(world, owner)
        return (method, f"/v1/servers/{server.id}{suffix}", body)

    return build


def server_create_action(world: World, caller: Caller, target: Target) -> Request:
    owner = caller if target == "own" else world.other_of(caller)
    server = provisioned_server(world, owner)
    action = compute_servers.list_actions(server.id, _anyone, world.compute.uow())[0]
    return ("GET", f"/v1/servers/{server.id}/actions/{action.id}", None)


def tenant_server_action(world: World, caller: Caller, target: Target) -> Request:
    """``GET /v1/servers/actions/{id}``: the same action, by its id alone."""
    _, path, _ = server_create_action(world, caller, target)
    return ("GET", f"/v1/servers/actions/{path.rsplit('/', 1)[1]}", None)


def powered_off(world: World, server: Server) -> None:
    compute_servers.start_action(server.id, POWER_OFF, _anyone, world.compute.uow())


def in_rescue(world: World, server: Server) -> None:
    compute_server_actions.enable_rescue(server.id, "", [], _anyone, world.compute.uow(), world.compute.upstream())


def with_iso(world: World, server: Server) -> None:
    compute_server_settings.attach_iso(server.id, "virtio-win-0.1.248.iso", _anyone, world.compute.uow())


def with_backups(world: World, server: Server) -> None:
    compute_server_settings.set_backup(server.id, True, _anyone, world.compute.uow(), world.compute.backup_pricing)


def server_dns_ptr(world: World, caller: Caller, target: Target) -> Request:
    """POST change_dns_ptr for the IPv4 address of a fresh provisioned server."""
    owner = caller if target == "own" else world.other_of(caller)
    server = provisioned_server(world, owner)
    found = compute_servers.get(server.id, _anyone, world.compute.uow())
    body = {"ip": found.ipv4_address, "dns_ptr": "matrix.example.com"}
    return ("POST", f"/v1/servers/{server.id}/actions/change_dns_ptr", body)


def snapshot_request(
    method: str, body: dict[str, object] | None = None, suffix: str = ""
) -> Callable[[World, Caller, Target], Request]:
    """A fresh snapshot image of the caller's own server, or of the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        server = provisioned_server(world, owner)
        image, _ = compute_server_actions.create_image(server.id, "", "", {}, _anyone, world.compute.uow())
        carry_out_actions(world)
        return (method, f"/v1/images/{image.id}{suffix}", body)

    return build


def image_action_request(of_image: bool) -> Callable[[World, Caller, Target], Request]:
    """The create_image action of a fresh snapshot of the caller's own or the other tenant's owner,
    at /v1/images/{id}/actions/{action_id} (``of_image``) or /v1/images/actions/{id}."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        server = provisioned_server(world, owner)
        image, action = compute_server_actions.create_image(server.id, "", "", {}, _anyone, world.compute.uow())
        carry_out_actions(world)
        path = f"/v1/images/{image.id}/actions/{action.id}" if of_image else f"/v1/images/actions/{action.id}"
        return ("GET", path, None)

    return build


def server_request(method: str, suffix: str = "") -> Callable[[World, Caller, Target], Request]:
    """A fresh provisioned server of the caller's own, or of the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        server = provisioned_server(world, owner)
        return (method, f"/v1/servers/{server.id}{suffix}", None)

    return build


def metrics_request(world: World, caller: Caller, target: Target) -> Request:
    """A fresh provisioned server's metrics, once monitoring's projection has its compute events."""
    method, path, body = server_request("GET", METRICS_QUERY)(world, caller, target)
    assert world.platform.monitoring is not None
    project(world.platform.monitoring.engine, outbox_records(world.compute.engine))
    return (method, path, body)


METRICS_QUERY = "/metrics?type=cpu&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z"


def new_server(world: World, caller: Caller, target: Target) -> Request:
    raise_server_limit(world, caller)
    body = {"name": f"mx-{uuid.uuid4().hex[:8]}", "server_type": "cx22", "image": "ubuntu-24.04", "location": "fsn1"}
    return ("POST", "/v1/servers", body)


def action_request(listing: bool) -> Callable[[World, Caller, Target], Request]:
    """The create action of a fresh server of the caller's own or the other tenant's."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        server = provisioned_server(world, owner)
        action = compute_servers.list_actions(server.id, lambda user_id, organization_id: None, world.compute.uow())[0]
        return ("GET", f"/v1/actions?id={action.id}" if listing else f"/v1/actions/{action.id}", None)

    return build


# -- servers' backups (storage) -----------------------------------------------------------------


def backed_up_server(world: World, owner: Caller) -> tuple[int, int]:
    """A fresh provisioned server of ``owner``'s with one backup: storage's consumer applies
    compute's events, the server's backups are enabled upstream (one backup image made there)
    and in storage (the use case its consumer runs on ``server.backup_changed``), and storage's
    backup pass records the image. (server id, backup id)."""
    server = provisioned_server(world, owner)
    storage = world.platform.storage
    assert storage is not None and world.platform.simulator is not None
    ProjectionRunner(storage.engine, StorageProjection()).apply_batch(outbox_records(world.compute.engine))
    with storage.uow() as uow:
        known = uow.backups.server(server.id)
        assert known is not None and known.upstream_id
        storage_backups.backup_option_changed(uow.backups, server.id, owner.user.id, None, True)
        uow.commit()
    headers = {"Authorization": f"Bearer {SIMULATOR_TOKEN}"}
    base = f"{world.platform.simulator}/servers/{known.upstream_id}/actions"
    httpx.post(f"{base}/enable_backup", headers=headers, timeout=5).raise_for_status()
    httpx.post(f"{base}/create_image", json={"type": "backup"}, headers=headers, timeout=5).raise_for_status()
    storage.mirror_backups()
    with storage.uow() as uow:
        (backup,) = uow.backups.of_server(server.id)
    return server.id, backup.id


def backups_request(method: str) -> Callable[[World, Caller, Target], Request]:
    """A fresh server (of the caller's own or the other tenant's owner) with one backup: its
    backups listed (GET) or the backup deleted (DELETE)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        server_id, backup_id = backed_up_server(world, owner)
        suffix = f"/{backup_id}" if method == "DELETE" else ""
        return (method, f"/v1/servers/{server_id}/backups{suffix}", None)

    return build


# -- volumes (storage) ------------------------------------------------------------------------


def carry_out_volume_actions(world: World) -> None:
    """Storage's worker rounds, in this thread, until no action is left."""
    assert world.platform.storage is not None
    provisioner = world.platform.storage.provisioner()
    while provisioner.run_once() is not None:
        pass


def volume_of(world: World, owner: Caller, attached: bool = False) -> tuple[int, int]:
    """A fresh volume of ``owner``'s (on a fresh server of its when ``attached``), made through
    storage's use case and carried out by its worker: (volume id, create action id)."""
    storage = world.platform.storage
    assert storage is not None
    for resource_type in ("volume", "volume_gb"):
        identity_staff.set_quota_limit(
            identity_staff.SetQuotaLimit(
                acting_user_id=world.callers["admin"].user.id,
                owner=QuotaOwner(user_id=owner.user.id),
                resource_type=resource_type,
                quota_limit=100_000,
            ),
            world.identity.uow,
        )
    server_id = provisioned_server(world, owner).id if attached else 0
    assert world.platform.simulator is not None
    control = world.platform.simulator.removesuffix("/v1")
    httpx.patch(f"{control}/_sim/config", json={"max_volumes": 5000}, timeout=5).raise_for_status()
    created = storage_volumes.create(
        storage_volumes.CreateVolume(
            user_id=owner.user.id,
            organization_id=None,
            name=f"mx-{uuid.uuid4().hex[:8]}",
            size_gb=10,
            location="" if server_id else "fsn1",
            server_id=server_id,
        ),
        storage.uow(),
        storage.servers,
        storage.quotas,
    )
    carry_out_volume_actions(world)
    return created.volume.id, created.action.id


def new_volume(world: World, caller: Caller, target: Target) -> Request:
    volume_of(world, caller)  # the quotas raised for the caller
    return ("POST", "/v1/volumes", {"name": f"mx-{uuid.uuid4().hex[:8]}", "size": 10, "location": "fsn1"})


def volume_request(
    method: str, suffix: str = "", body: Any = None, attached: bool = False
) -> Callable[[World, Caller, Target], Request]:
    """A fresh volume of the caller's own, or of the other tenant's owner (attached: on a server)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        volume_id, _ = volume_of(world, owner, attached)
        return (method, f"/v1/volumes/{volume_id}{suffix}", body)

    return build


def volume_attach(world: World, caller: Caller, target: Target) -> Request:
    """Attach a fresh volume to a fresh server, both of the caller's own or the other tenant's owner."""
    owner = caller if target == "own" else world.other_of(caller)
    volume_id, _ = volume_of(world, owner)
    server = provisioned_server(world, owner)
    return ("POST", f"/v1/volumes/{volume_id}/actions/attach", {"server": server.id})


def volume_action_request(of_volume: bool) -> Callable[[World, Caller, Target], Request]:
    """The create_volume action of a fresh volume, at /v1/volumes/{id}/actions/{action_id}
    (``of_volume``) or /v1/volumes/actions/{id}."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        volume_id, action_id = volume_of(world, owner)
        path = f"/v1/volumes/{volume_id}/actions/{action_id}" if of_volume else f"/v1/volumes/actions/{action_id}"
        return ("GET", path, None)

    return build


MONTHS = itertools.count()


def issued_invoice(world: World, user_id: int, organization_id: int | None = None) -> int:
    """An invoice of the user's (or the organization's) account for a month of its own: two
    hours of a server through the billing projection, then the month's invoice run."""
    assert world.platform.billing is not None
    n = next(MONTHS)
    month = date(2001 + n // 12, n % 12 + 1, 1)
    events = [user_created(user_id)] + ([organization_created(organization_id, user_id)] if organization_id else [])
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    events += hours(900_000 + n, start, 2, user_id=user_id, organization_id=organization_id or 0)
    apply_to_billing(world.platform.billing, events)
    (issued,) = run_invoices(world.platform.billing, month, BillingRules()).issued
    return issued.invoice_id


def invoice_of(world: World, caller: Caller, target: Target) -> int:
    """The caller's own invoice — for a client in organization A, A's invoice (its owner may see
    it, a plain member may not) — or the other tenant's owner's own."""
    if target == "other":
        return issued_invoice(world, world.other_of(caller).user.id)
    if caller.organization is not None and caller.name != "other":
        return issued_invoice(world, world.callers["owner"].user.id, caller.organization)
    return issued_invoice(world, caller.user.id)


def invoice_request(suffix: str = "", state: str = "pending") -> Callable[[World, Caller, Target], Request]:
    """A fresh invoice (paid first for a refund), and the body its action needs."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        assert world.platform.billing is not None
        invoice_id = invoice_of(world, caller, target)
        with world.platform.billing.connect() as conn:
            total = conn.execute(sa.select(invoice_table.c.total).where(invoice_table.c.id == invoice_id)).scalar_one()
        if state == "paid":
            invoice_life.record_payment(
                invoice_id,
                str(total),
                "paypal",
                "PAYID-MX",
                None,
                Billing(world.platform.billing, BillingRules()).uow(),
            )
        body: Any = None
        if suffix == "/actions/pay":
            body = {"amount": str(total), "method": "credit_card", "reference": f"pi_{uuid.uuid4().hex[:8]}"}
        elif suffix in ("/actions/cancel", "/actions/refund"):
            body = {"reason": "matrix"}
        method = "POST" if suffix.startswith("/actions") else "GET"
        return (method, f"/v1/invoices/{invoice_id}{suffix}", body)

    return build


INVOICE_READERS = staff(OK, NOT_FOUND, OK, NOT_FOUND)
HELPDESK = staff(OK, OK, FORBIDDEN, FORBIDDEN)
"""The helpdesk (/v1/admin/tickets): platform admins and support staff, every tenant's ticket."""
EVERYONE_ELSES = staff(NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND)
"""The customer's view of tickets (/v1/tickets): another tenant's ticket is 404 to anyone, staff
included (staff work tickets through the helpdesk)."""
SCREENSHOT = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)).decode()


def ticket_of(world: World, owner: Caller, *, attachment: bool = False, resolved: bool = False) -> tuple[int, int]:
    """A fresh ticket ``owner`` opened (with an attachment, resolved by an admin): its id and
    its first attachment's (0 without one)."""
    body: dict[str, Any] = {"subject": "Matrix", "message": "Please help."}
    if attachment:
        body["attachments"] = [{"file_name": "screen.png", "content": SCREENSHOT}]
    opened = world.call("POST", "/v1/tickets", owner, body)
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["ticket"]["id"]
    if resolved:
        moved = world.call(
            "POST", f"/v1/admin/tickets/{ticket_id}/status", world.callers["admin"], {"status": "resolved"}
        )
        assert moved.status_code == 200, moved.text
    files = opened.json()["message"]["attachments"]
    return ticket_id, files[0]["id"] if files else 0


def ticket_request(
    method: str, prefix: str, suffix: str = "", body: Any = None, *, attachment: bool = False, resolved: bool = False
) -> Callable[[World, Caller, Target], Request]:
    """A fresh ticket of the caller's own, or of the other tenant's owner, on ``prefix``
    (/v1/tickets or /v1/admin/tickets); ``{attachment}`` in ``suffix`` is its attachment's id."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        owner = caller if target == "own" else world.other_of(caller)
        ticket_id, attachment_id = ticket_of(world, owner, attachment=attachment, resolved=resolved)
        return (method, f"{prefix}/{ticket_id}{suffix.format(attachment=attachment_id)}", body)

    return build


def window_body(hours: int = 1) -> dict[str, Any]:
    start = utcnow() + timedelta(hours=hours)
    return {
        "title": "Matrix maintenance",
        "affected_datacenters": ["fsn1-dc14"],
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=1)).isoformat(),
    }


def window_request(method: str, suffix: str = "", body: Any = None) -> Callable[[World, Caller, Target], Request]:
    """A fresh maintenance window an admin scheduled (windows belong to no tenant)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        made = world.call("POST", "/v1/admin/maintenance_windows", world.callers["admin"], window_body())
        assert made.status_code == 201, made.text
        return (method, f"/v1/admin/maintenance_windows/{made.json()['maintenance_window']['id']}{suffix}", body)

    return build


def notification_read(world: World, caller: Caller, target: Target) -> Request:
    """A fresh notification in the caller's inbox, or in the other tenant's owner's."""
    owner = caller if target == "own" else world.other_of(caller)
    support = world.platform.support
    assert support is not None
    made = Notification(str(uuid.uuid4()), "ticket_replied", "user", owner.user.id, {"ticket_id": 1})
    with support.uow() as uow:
        uow.notifications.add(made, utcnow())
        uow.commit()
    return ("POST", f"/v1/notifications/{made.id}/read", None)


def ticket_assignment(world: World, caller: Caller, target: Target) -> Request:
    owner = caller if target == "own" else world.other_of(caller)
    ticket_id, _ = ticket_of(world, owner)
    return ("POST", f"/v1/admin/tickets/{ticket_id}/assign", {"assigned_to": world.callers["support"].user.id})


"""Another tenant's invoice: billing staff (admin, billing) reach it; anyone else 404."""
OWN_INVOICE: dict[str, Expected] = {
    "admin": OK,
    "support": OK,
    "billing": OK,
    "owner": OK,
    "member": NOT_FOUND,
    "other": OK,
}
"""The caller's own invoice; for a plain member of A, A's invoice: not its to see."""
BILLING_STAFF = staff(OK, FORBIDDEN, OK, FORBIDDEN)
ADMINS_ONLY = staff(OK, FORBIDDEN, FORBIDDEN, FORBIDDEN)


def payment_method_request(method: str, suffix: str = "") -> Callable[[World, Caller, Target], Request]:
    """A fresh card of the caller's own, or of the other tenant's owner."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        assert world.platform.billing is not None
        owner = caller if target == "own" else world.other_of(caller)
        card = NewPaymentMethod(
            type="credit_card",
            provider_reference=f"pm_{uuid.uuid4().hex[:8]}",
            last_four="4242",
            exp_month=1,
            exp_year=utcnow().year + 14,  # never expired, whatever the year the suite runs in
        )
        billing = Billing(world.platform.billing, BillingRules())
        row = payment_methods.add(owner.user.id, None, card, False, billing.uow())
        body = {"billing_name": "Matrix"} if method == "PUT" else None
        return (method, f"/v1/payment_methods/{row.id}{suffix}", body)

    return build


def new_payment_method(world: World, caller: Caller, target: Target) -> Request:
    body = {
        "type": "credit_card",
        "provider_reference": "pm_new",
        "last_four": "1881",
        "exp_month": 3,
        "exp_year": utcnow().year + 15,
    }
    return ("POST", "/v1/payment_methods", body)


def new_credit(world: World, caller: Caller, target: Target) -> Request:
    whose = caller if target == "own" else world.other_of(caller)
    return ("POST", "/v1/credits", {"user_id": whose.user.id, "type": "promotional", "amount": "1.00"})


def pricing_plan_request(method: str) -> Callable[[World, Caller, Target], Request]:
    def build(world: World, caller: Caller, target: Target) -> Request:
        code = f"mx-{uuid.uuid4().hex[:8]}"
        body = {"name": "Matrix plan", "resource_type": "volume", "price_per_gb": "0.05"}
        if method == "POST":
            return ("POST", "/v1/pricing_plans", {**body, "code": code})
        return (method, "/v1/pricing_plans/1", body if method == "PUT" else None)

    return build


def catalog_item(kind: str) -> Callable[[World, Caller, Target], Request]:
    """One entry of the catalog (every principal reads the catalog; there is no other tenant's)."""

    def build(world: World, caller: Caller, target: Target) -> Request:
        if kind == "server_types":
            ident = compute_catalog.list_server_types(world.compute.uow())[0].id
        elif kind == "images":
            ident = compute_catalog.list_images(world.compute.uow())[0].id
        elif kind == "isos":
            ident = world.compute.isos.list()[0].hetzner_id  # upstream's ISOs, read through
        elif kind == "load_balancer_types":
            ident = compute_catalog.list_load_balancer_types(world.compute.uow())[0].id
        else:
            ident = compute_catalog.list_datacenters(world.compute.uow())[0].id
        return ("GET", f"/v1/{kind}/{ident}", None)

    return build


ENDPOINTS = (
    Endpoint("GET /v1/api_keys", fixed("GET", "/v1/api_keys")),
    Endpoint("POST /v1/api_keys", fixed("POST", "/v1/api_keys", {"name": "m", "scopes": ["api_keys:read"]})),
    Endpoint("GET /v1/api_keys/{id}", lambda w, c, t: key_path(w, c, t, "GET"), other=NOT_FOUND),
    Endpoint("PUT /v1/api_keys/{id}", key_request("PUT", "", {"name": "renamed"}), other=NOT_FOUND),
    Endpoint(
        "POST /v1/api_keys/{id}/actions/rotate",
        key_request("POST", "/actions/rotate", {"grace_period_seconds": 3600}),
        other=NOT_FOUND,
    ),
    Endpoint("DELETE /v1/api_keys/{id}", lambda w, c, t: key_path(w, c, t, "DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/me", fixed("GET", "/v1/me")),
    Endpoint("PATCH /v1/me", fixed("PATCH", "/v1/me", {"company_name": "Matrix GmbH"})),
    Endpoint("GET /v1/me/sessions", fixed("GET", "/v1/me/sessions")),
    Endpoint("DELETE /v1/me/sessions/{id}", session_path, other=NOT_FOUND),
    Endpoint("GET /v1/me/two_factor", fixed("GET", "/v1/me/two_factor")),
    Endpoint("GET /v1/quotas", fixed("GET", "/v1/quotas")),
    Endpoint("GET /v1/organizations", fixed("GET", "/v1/organizations")),
    Endpoint("POST /v1/organizations", new_slug),
    Endpoint("GET /v1/organizations/{id}", org_request("GET"), own=OK, other=ADMIN_REACHES, in_organization=True),
    Endpoint(
        "PUT /v1/organizations/{id}",
        org_request("PUT", body={"name": "Renamed"}),
        own=org_roles(OK, FORBIDDEN),
        other=ADMIN_REACHES,
        in_organization=True,
    ),
    Endpoint(
        "GET /v1/organizations/{id}/members",
        org_request("GET", "/members"),
        own=OK,
        other=ADMIN_REACHES,
        in_organization=True,
    ),
    Endpoint(
        "PUT /v1/organizations/{id}/members/{user_id}",
        member_change,
        own=org_roles(OK, FORBIDDEN),
        other=ADMIN_REACHES,
        in_organization=True,
    ),
    Endpoint(
        "DELETE /v1/organizations/{id}/members/{user_id}",
        member_removal,
        own=org_roles(OK, FORBIDDEN),
        other=ADMIN_REACHES,
        in_organization=True,
    ),
    Endpoint(
        "POST /v1/organizations/{id}/actions/transfer_ownership",
        transfer,
        own=org_roles(OK, FORBIDDEN),
        # Not even an admin moves ownership for an owner: it is the owner's own act.
        other=staff(FORBIDDEN, NOT_FOUND, NOT_FOUND, NOT_FOUND),
        in_organization=True,
    ),
    Endpoint(
        "GET /v1/organizations/{id}/invitations",
        org_request("GET", "/invitations"),
        own=org_roles(OK, FORBIDDEN),
        other=ADMIN_REACHES,
        in_organization=True,
    ),
    Endpoint(
        "POST /v1/organizations/{id}/invitations",
        lambda w, c, t: org_request("POST", "/invitations", {"email": f"i-{uuid.uuid4().hex[:8]}@example.com"})(
            w, c, t
        ),
        own=org_roles(OK, FORBIDDEN),
        other=ADMIN_REACHES,
        in_organization=True,
    ),
    Endpoint(
        "DELETE /v1/organizations/{id}/invitations/{invitation_id}",
        invitation_revocation,
        own=org_roles(OK, FORBIDDEN),
        other=ADMIN_REACHES,
        in_organization=True,
    ),
    # "other": an invitation sent to somebody else's address is not the caller's to accept.
    Endpoint("POST /v1/organizations/invitations/accept", accept, own=OK, other=FORBIDDEN),
    Endpoint("GET /v1/admin/users", fixed("GET", "/v1/admin/users"), own=staff(OK, OK, OK, FORBIDDEN)),
    Endpoint(
        "GET /v1/admin/users/{id}",
        lambda w, c, t: ("GET", f"/v1/admin/users/{w.other_of(c).user.id}", None),
        own=staff(OK, OK, OK, FORBIDDEN),
    ),
    Endpoint("POST /v1/admin/users/{id}/actions/suspend", victim(), own=staff(OK, OK, FORBIDDEN, FORBIDDEN)),
    Endpoint(
        "POST /v1/admin/users/{id}/actions/activate",
        victim(UserStatus.SUSPENDED),
        own=staff(OK, OK, FORBIDDEN, FORBIDDEN),
    ),
    Endpoint(
        "POST /v1/admin/users/{id}/actions/ban", admin_action("ban"), own=staff(OK, FORBIDDEN, FORBIDDEN, FORBIDDEN)
    ),
    Endpoint(
        "POST /v1/admin/users/{id}/actions/erase",
        admin_action("erase"),
        own=staff(OK, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ),
    Endpoint(
        "GET /v1/admin/settings", fixed("GET", "/v1/admin/settings"), own=staff(OK, FORBIDDEN, FORBIDDEN, FORBIDDEN)
    ),
    Endpoint(
        "GET /v1/admin/settings/{key}",
        fixed("GET", "/v1/admin/settings/support_email"),
        own=staff(OK, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ),
    Endpoint(
        "PUT /v1/admin/settings/{key}",
        fixed("PUT", "/v1/admin/settings/default_server_limit", {"value": 10}),
        own=staff(OK, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ),
    Endpoint(
        "PUT /v1/admin/quotas",
        lambda w, c, t: (
            "PUT",
            "/v1/admin/quotas",
            {"user_id": w.other_of(c).user.id, "resource_type": "server", "limit": 12},
        ),
        own=staff(OK, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ),
    Endpoint("GET /v1/audit_logs", audit_logs_of, own=OK, other=OK),
    Endpoint("GET /v1/me/login_activity", fixed("GET", "/v1/me/login_activity")),
    Endpoint("GET /v1/server_types", fixed("GET", "/v1/server_types")),
    Endpoint("GET /v1/server_types/{id}", catalog_item("server_types")),
    Endpoint("GET /v1/locations", fixed("GET", "/v1/locations")),
    Endpoint("GET /v1/locations/{id}", catalog_item("locations")),
    Endpoint("GET /v1/datacenters", fixed("GET", "/v1/datacenters")),
    Endpoint("GET /v1/datacenters/{id}", catalog_item("datacenters")),
    Endpoint("GET /v1/images", fixed("GET", "/v1/images")),
    Endpoint("GET /v1/images/{id}", catalog_item("images")),
    Endpoint("GET /v1/isos", fixed("GET", "/v1/isos")),
    Endpoint("GET /v1/isos/{id}", catalog_item("isos")),
    # A tenant's snapshots are its own: no one else's, not even an admin's, through these routes.
    Endpoint("PUT /v1/images/{id}", snapshot_request("PUT", {"description": "renamed"}), other=NOT_FOUND),
    Endpoint("DELETE /v1/images/{id}", snapshot_request("DELETE"), other=NOT_FOUND),
    Endpoint(
        "POST /v1/images/{id}/actions/change_protection",
        snapshot_request("POST", {"delete": True}, "/actions/change_protection"),
        other=NOT_FOUND,
    ),
    Endpoint("GET /v1/images/{id}/actions", snapshot_request("GET", None, "/actions"), other=NOT_FOUND),
    Endpoint("GET /v1/images/{id}/actions/{action_id}", image_action_request(of_image=True), other=NOT_FOUND),
    Endpoint("GET /v1/images/actions", fixed("GET", "/v1/images/actions")),
    Endpoint("GET /v1/images/actions/{id}", image_action_request(of_image=False), other=NOT_FOUND),
    Endpoint("GET /v1/pricing", fixed("GET", "/v1/pricing")),
    Endpoint("GET /v1/load_balancer_types", fixed("GET", "/v1/load_balancer_types")),
    Endpoint("GET /v1/load_balancer_types/{id}", catalog_item("load_balancer_types")),
    Endpoint("GET /v1/alert_rules", fixed("GET", "/v1/alert_rules")),
    Endpoint("POST /v1/alert_rules", fixed("POST", "/v1/alert_rules", ALERT_RULE)),
    Endpoint("GET /v1/alert_rules/{id}", alert_rule_request("GET"), other=ADMIN_REACHES),
    Endpoint("PUT /v1/alert_rules/{id}", alert_rule_request("PUT"), other=ADMIN_REACHES),
    Endpoint("DELETE /v1/alert_rules/{id}", alert_rule_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/uptime_monitors", fixed("GET", "/v1/uptime_monitors")),
    Endpoint("POST /v1/uptime_monitors", fixed("POST", "/v1/uptime_monitors", UPTIME_MONITOR)),
    Endpoint("GET /v1/uptime_monitors/{id}", uptime_monitor_request("GET"), other=ADMIN_REACHES),
    Endpoint("PUT /v1/uptime_monitors/{id}", uptime_monitor_request("PUT"), other=ADMIN_REACHES),
    Endpoint("DELETE /v1/uptime_monitors/{id}", uptime_monitor_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/uptime_monitors/{id}/results", uptime_monitor_request("GET", "/results"), other=ADMIN_REACHES),
    Endpoint("GET /v1/uptime_monitors/{id}/uptime", uptime_monitor_request("GET", "/uptime"), other=ADMIN_REACHES),
    Endpoint("GET /v1/alerts", fixed("GET", "/v1/alerts")),
    Endpoint("GET /v1/alerts/{id}", alert_request("GET"), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/alerts/{id}/actions/acknowledge",
        alert_request("POST", "/actions/acknowledge"),
        other=ADMIN_REACHES,
    ),
    Endpoint("GET /v1/placement_groups", fixed("GET", "/v1/placement_groups")),
    Endpoint("POST /v1/placement_groups", new_placement_group),
    # Another tenant's group: only a platform admin reaches it (compute checks the same).
    Endpoint("GET /v1/placement_groups/{id}", placement_group_request("GET"), other=ADMIN_REACHES),
    Endpoint("PUT /v1/placement_groups/{id}", placement_group_request("PUT"), other=ADMIN_REACHES),
    Endpoint("DELETE /v1/placement_groups/{id}", placement_group_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/floating_ips", fixed("GET", "/v1/floating_ips")),
    Endpoint("POST /v1/floating_ips", new_floating_ip),
    # Another tenant's floating IP and its actions: only a platform admin reaches them (network checks the same).
    Endpoint("GET /v1/floating_ips/{id}", floating_ip_request("GET"), other=ADMIN_REACHES),
    Endpoint(
        "PUT /v1/floating_ips/{id}",
        floating_ip_request("PUT", body=lambda w, o, f: {"description": "matrix"}),
        other=ADMIN_REACHES,
    ),
    Endpoint("DELETE /v1/floating_ips/{id}", floating_ip_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/floating_ips/{id}/actions", floating_ip_request("GET", "/actions"), other=ADMIN_REACHES),
    Endpoint("GET /v1/floating_ips/{id}/actions/{action_id}", floating_ip_action(True), other=ADMIN_REACHES),
    Endpoint("GET /v1/floating_ips/actions", fixed("GET", "/v1/floating_ips/actions")),
    Endpoint("GET /v1/floating_ips/actions/{id}", floating_ip_action(False), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/floating_ips/{id}/actions/assign",
        floating_ip_request("POST", "/actions/assign", assign_body),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/floating_ips/{id}/actions/unassign",
        floating_ip_request("POST", "/actions/unassign"),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/floating_ips/{id}/actions/change_dns_ptr",
        floating_ip_request("POST", "/actions/change_dns_ptr", dns_ptr_body),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/floating_ips/{id}/actions/change_protection",
        floating_ip_request("POST", "/actions/change_protection", lambda w, o, f: {"delete": True}),
        other=ADMIN_REACHES,
    ),
    Endpoint("GET /v1/primary_ips", fixed("GET", "/v1/primary_ips")),
    Endpoint("POST /v1/primary_ips", new_primary_ip),
    # Another tenant's primary IP and its actions: only a platform admin reaches them (network checks the same).
    Endpoint("GET /v1/primary_ips/{id}", primary_ip_request("GET"), other=ADMIN_REACHES),
    Endpoint(
        "PUT /v1/primary_ips/{id}",
        primary_ip_request("PUT", body=lambda w, o, p: {"labels": {"matrix": "yes"}}),
        other=ADMIN_REACHES,
    ),
    Endpoint("DELETE /v1/primary_ips/{id}", primary_ip_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/primary_ips/{id}/actions", primary_ip_request("GET", "/actions"), other=ADMIN_REACHES),
    Endpoint("GET /v1/primary_ips/{id}/actions/{action_id}", primary_ip_action(True), other=ADMIN_REACHES),
    Endpoint("GET /v1/primary_ips/actions", fixed("GET", "/v1/primary_ips/actions")),
    Endpoint("GET /v1/primary_ips/actions/{id}", primary_ip_action(False), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/primary_ips/{id}/actions/assign",
        primary_ip_request(
            "POST",
            "/actions/assign",
            lambda w, o, p: {"assignee_id": stopped_server(w, o).id, "assignee_type": "server"},
        ),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/primary_ips/{id}/actions/unassign",
        primary_ip_request("POST", "/actions/unassign", assigned=True),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/primary_ips/{id}/actions/change_dns_ptr",
        primary_ip_request(
            "POST", "/actions/change_dns_ptr", lambda w, o, p: {"ip": p.ip_address, "dns_ptr": "matrix.example.com"}
        ),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/primary_ips/{id}/actions/change_protection",
        primary_ip_request("POST", "/actions/change_protection", lambda w, o, p: {"delete": True}),
        other=ADMIN_REACHES,
    ),
    Endpoint("GET /v1/networks", fixed("GET", "/v1/networks")),
    Endpoint("POST /v1/networks", new_network),
    # Another tenant's network and its actions: only a platform admin reaches them (network checks the same).
    Endpoint("GET /v1/networks/{id}", network_request("GET"), other=ADMIN_REACHES),
    Endpoint("PUT /v1/networks/{id}", network_request("PUT", body={"labels": {"matrix": "yes"}}), other=ADMIN_REACHES),
    Endpoint("DELETE /v1/networks/{id}", network_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/networks/{id}/actions", network_request("GET", "/actions"), other=ADMIN_REACHES),
    Endpoint("GET /v1/networks/{id}/actions/{action_id}", network_action(True), other=ADMIN_REACHES),
    Endpoint("GET /v1/networks/actions", fixed("GET", "/v1/networks/actions")),
    Endpoint("GET /v1/networks/actions/{id}", network_action(False), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/networks/{id}/actions/add_subnet",
        network_request(
            "POST", "/actions/add_subnet", {"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.2.0/24"}
        ),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/networks/{id}/actions/delete_subnet",
        network_request("POST", "/actions/delete_subnet", {"ip_range": "10.0.1.0/24"}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/networks/{id}/actions/add_route",
        network_request("POST", "/actions/add_route", {"destination": "10.101.0.0/24", "gateway": "10.0.1.6"}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/networks/{id}/actions/delete_route",
        network_request("POST", "/actions/delete_route", {"destination": "10.100.0.0/24", "gateway": "10.0.1.5"}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/networks/{id}/actions/change_ip_range",
        network_request("POST", "/actions/change_ip_range", {"ip_range": "10.0.0.0/15"}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/networks/{id}/actions/change_protection",
        network_request("POST", "/actions/change_protection", {"delete": True}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/servers/{id}/actions/attach_to_network",
        server_network_action("attach_to_network", attached=False),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/servers/{id}/actions/detach_from_network",
        server_network_action("detach_from_network", attached=True),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/servers/{id}/actions/change_alias_ips",
        server_network_action("change_alias_ips", attached=True),
        other=ADMIN_REACHES,
    ),
    Endpoint("GET /v1/firewalls", fixed("GET", "/v1/firewalls")),
    Endpoint("POST /v1/firewalls", new_firewall),
    # Another tenant's firewall and its actions: only a platform admin reaches them (network checks the same).
    Endpoint("GET /v1/firewalls/{id}", firewall_request("GET"), other=ADMIN_REACHES),
    Endpoint(
        "PUT /v1/firewalls/{id}", firewall_request("PUT", body={"labels": {"matrix": "yes"}}), other=ADMIN_REACHES
    ),
    Endpoint("DELETE /v1/firewalls/{id}", firewall_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/firewalls/{id}/actions", firewall_request("GET", "/actions"), other=ADMIN_REACHES),
    Endpoint("GET /v1/firewalls/{id}/actions/{action_id}", firewall_action(True), other=ADMIN_REACHES),
    Endpoint("GET /v1/firewalls/actions", fixed("GET", "/v1/firewalls/actions")),
    Endpoint("GET /v1/firewalls/actions/{id}", firewall_action(False), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/firewalls/{id}/actions/set_rules",
        firewall_request(
            "POST",
            "/actions/set_rules",
            {"rules": [{"direction": "out", "protocol": "icmp", "destination_ips": ["0.0.0.0/0"]}]},
        ),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/firewalls/{id}/actions/apply_to_resources",
        firewall_request("POST", "/actions/apply_to_resources", {"apply_to": [SEL_OTHER]}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/firewalls/{id}/actions/remove_from_resources",
        firewall_request("POST", "/actions/remove_from_resources", {"remove_from": [SEL_MATRIX]}, applied=True),
        other=ADMIN_REACHES,
    ),
    Endpoint("GET /v1/load_balancers", fixed("GET", "/v1/load_balancers")),
    Endpoint("POST /v1/load_balancers", new_load_balancer),
    # Another tenant's load balancer and its actions: only a platform admin reaches them (network checks the same).
    Endpoint("GET /v1/load_balancers/{id}", load_balancer_request("GET"), other=ADMIN_REACHES),
    Endpoint(
        "PUT /v1/load_balancers/{id}",
        load_balancer_request("PUT", body={"labels": {"matrix": "yes"}}),
        other=ADMIN_REACHES,
    ),
    Endpoint("DELETE /v1/load_balancers/{id}", load_balancer_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/load_balancers/{id}/actions", load_balancer_request("GET", "/actions"), other=ADMIN_REACHES),
    Endpoint("GET /v1/load_balancers/{id}/actions/{action_id}", load_balancer_action(True), other=ADMIN_REACHES),
    Endpoint("GET /v1/load_balancers/actions", fixed("GET", "/v1/load_balancers/actions")),
    Endpoint("GET /v1/load_balancers/actions/{id}", load_balancer_action(False), other=ADMIN_REACHES),
    *(
        Endpoint(
            f"POST /v1/load_balancers/{{id}}/actions/{name}",
            load_balancer_request("POST", f"/actions/{name}", body, attached),
            other=ADMIN_REACHES,
        )
        for name, body, attached in (
            ("add_service", {"protocol": "tcp", "listen_port": 8443, "destination_port": 8443}, False),
            ("update_service", {"listen_port": 80, "destination_port": 81}, False),
            ("delete_service", {"listen_port": 80}, False),
            ("add_target", {"type": "ip", "ip": {"ip": "1.1.1.1"}}, False),
            ("remove_target", {"type": "ip", "ip": {"ip": "1.1.1.2"}}, False),
            ("change_algorithm", {"type": "least_connections"}, False),
            ("change_type", {"load_balancer_type": "lb21"}, False),
            ("attach_to_network", {"network": 0}, False),
            ("detach_from_network", {"network": 0}, True),
            ("enable_public_interface", {}, False),
            ("disable_public_interface", {}, True),
            ("change_dns_ptr", {"ip": "own", "dns_ptr": "lb.example.com"}, False),
            ("change_protection", {"delete": False}, False),
        )
    ),
    Endpoint("GET /v1/certificates", fixed("GET", "/v1/certificates")),
    Endpoint("POST /v1/certificates", new_certificate),
    Endpoint("GET /v1/certificates/{id}", certificate_request("GET"), other=ADMIN_REACHES),
    Endpoint(
        "PUT /v1/certificates/{id}",
        certificate_request("PUT", {"labels": {"matrix": "yes"}}),
        other=ADMIN_REACHES,
    ),
    Endpoint("DELETE /v1/certificates/{id}", certificate_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/ssh_keys", fixed("GET", "/v1/ssh_keys")),
    Endpoint("POST /v1/ssh_keys", new_ssh_key),
    # Another tenant's key: only a platform admin reaches it (compute checks the same).
    Endpoint("GET /v1/ssh_keys/{id}", ssh_key_request("GET"), other=ADMIN_REACHES),
    Endpoint("PUT /v1/ssh_keys/{id}", ssh_key_request("PUT"), other=ADMIN_REACHES),
    Endpoint("DELETE /v1/ssh_keys/{id}", ssh_key_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/servers", fixed("GET", "/v1/servers")),
    Endpoint("POST /v1/servers", new_server),
    # Another tenant's server and its actions: only a platform admin reaches them (compute checks the same).
    Endpoint("GET /v1/servers/{id}", server_request("GET"), other=ADMIN_REACHES),
    Endpoint("DELETE /v1/servers/{id}", server_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/servers/{id}/actions", server_request("GET", "/actions"), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/servers/{id}/actions/poweroff", server_request("POST", "/actions/poweroff"), other=ADMIN_REACHES
    ),
    Endpoint("POST /v1/servers/{id}/actions/poweron", server_request("POST", "/actions/poweron"), other=ADMIN_REACHES),
    Endpoint("POST /v1/servers/{id}/actions/reboot", server_request("POST", "/actions/reboot"), other=ADMIN_REACHES),
    Endpoint("GET /v1/servers/actions", fixed("GET", "/v1/servers/actions")),
    Endpoint("GET /v1/servers/actions/{action_id}", tenant_server_action, other=ADMIN_REACHES),
    Endpoint("PUT /v1/servers/{id}", server_with_body("PUT", "", {"labels": {"k": "v"}}), other=ADMIN_REACHES),
    Endpoint("GET /v1/servers/{id}/actions/{action_id}", server_create_action, other=ADMIN_REACHES),
    Endpoint("GET /v1/servers/{id}/metrics", metrics_request, other=ADMIN_REACHES),
    Endpoint("GET /v1/servers/{id}/backups", backups_request("GET"), other=ADMIN_REACHES),
    Endpoint("DELETE /v1/servers/{id}/backups/{backup_id}", backups_request("DELETE"), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/servers/{id}/actions/rebuild",
        server_action("rebuild", {"image": "debian-12"}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/servers/{id}/actions/change_type",
        server_action("change_type", {"server_type": "cx32", "upgrade_disk": False}, powered_off),
        other=ADMIN_REACHES,
    ),
    Endpoint("POST /v1/servers/{id}/actions/enable_rescue", server_action("enable_rescue", {}), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/servers/{id}/actions/disable_rescue",
        server_action("disable_rescue", None, in_rescue),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/servers/{id}/actions/create_image",
        server_action("create_image", {"description": "matrix"}),
        other=ADMIN_REACHES,
    ),
    Endpoint("POST /v1/servers/{id}/actions/shutdown", server_action("shutdown"), other=ADMIN_REACHES),
    Endpoint("POST /v1/servers/{id}/actions/reset", server_action("reset"), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/servers/{id}/actions/attach_iso",
        server_action("attach_iso", {"iso": "virtio-win-0.1.248.iso"}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/servers/{id}/actions/detach_iso",
        server_action("detach_iso", None, with_iso),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/servers/{id}/actions/change_protection",
        server_action("change_protection", {"delete": True, "rebuild": True}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/servers/{id}/actions/change_dns_ptr",
        server_dns_ptr,
        other=ADMIN_REACHES,
    ),
    Endpoint("POST /v1/servers/{id}/actions/enable_backup", server_action("enable_backup"), other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/servers/{id}/actions/disable_backup",
        server_action("disable_backup", None, with_backups),
        other=ADMIN_REACHES,
    ),
    Endpoint("POST /v1/servers/{id}/actions/request_console", server_action("request_console"), other=ADMIN_REACHES),
    Endpoint("POST /v1/servers/{id}/actions/reset_password", server_action("reset_password"), other=ADMIN_REACHES),
    Endpoint("POST /v1/servers/{id}/actions/add_to_placement_group", add_to_placement_group, other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/servers/{id}/actions/remove_from_placement_group",
        remove_from_placement_group,
        other=ADMIN_REACHES,
    ),
    Endpoint("GET /v1/volumes", fixed("GET", "/v1/volumes")),
    Endpoint("POST /v1/volumes", new_volume),
    # Another tenant's volume and its actions: only a platform admin reaches them (storage checks the same).
    Endpoint("GET /v1/volumes/{id}", volume_request("GET"), other=ADMIN_REACHES),
    Endpoint("PUT /v1/volumes/{id}", volume_request("PUT", "", {"labels": {"k": "v"}}), other=ADMIN_REACHES),
    Endpoint("DELETE /v1/volumes/{id}", volume_request("DELETE"), other=ADMIN_REACHES),
    Endpoint("GET /v1/volumes/actions", fixed("GET", "/v1/volumes/actions")),
    Endpoint("GET /v1/volumes/actions/{id}", volume_action_request(of_volume=False), other=ADMIN_REACHES),
    Endpoint("GET /v1/volumes/{id}/actions", volume_request("GET", "/actions"), other=ADMIN_REACHES),
    Endpoint("GET /v1/volumes/{id}/actions/{action_id}", volume_action_request(of_volume=True), other=ADMIN_REACHES),
    Endpoint("POST /v1/volumes/{id}/actions/attach", volume_attach, other=ADMIN_REACHES),
    Endpoint(
        "POST /v1/volumes/{id}/actions/create_snapshot",
        volume_request("POST", "/actions/create_snapshot"),
        own=NOT_SUPPORTED,
        other=staff(NOT_SUPPORTED, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    ),
    Endpoint(
        "POST /v1/volumes/{id}/actions/detach",
        volume_request("POST", "/actions/detach", attached=True),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/volumes/{id}/actions/resize",
        volume_request("POST", "/actions/resize", {"size": 20}),
        other=ADMIN_REACHES,
    ),
    Endpoint(
        "POST /v1/volumes/{id}/actions/change_protection",
        volume_request("POST", "/actions/change_protection", {"delete": True}),
        other=ADMIN_REACHES,
    ),
    Endpoint("GET /v1/actions/{id}", action_request(listing=False), other=ADMIN_REACHES),
    # Listing by id: actions the caller does not reach are left out (an empty list, 200).
    Endpoint("GET /v1/actions", action_request(listing=True), other=OK),
    Endpoint("GET /v1/invoices", fixed("GET", "/v1/invoices")),
    Endpoint("GET /v1/invoices/{id}", invoice_request(), own=OWN_INVOICE, other=INVOICE_READERS),
    Endpoint("GET /v1/invoices/{id}/pdf", invoice_request("/pdf"), own=OWN_INVOICE, other=INVOICE_READERS),
    Endpoint(
        "POST /v1/invoices/{id}/actions/pay", invoice_request("/actions/pay"), own=BILLING_STAFF, other=BILLING_STAFF
    ),
    Endpoint(
        "POST /v1/invoices/{id}/actions/cancel",
        invoice_request("/actions/cancel"),
        own=BILLING_STAFF,
        other=BILLING_STAFF,
    ),
    Endpoint(
        "POST /v1/invoices/{id}/actions/refund",
        invoice_request("/actions/refund", state="paid"),
        own=BILLING_STAFF,
        other=BILLING_STAFF,
    ),
    Endpoint("GET /v1/billing/usage", fixed("GET", "/v1/billing/usage")),
    Endpoint("GET /v1/billing/statement", fixed("GET", "/v1/billing/statement")),
    Endpoint("GET /v1/credits", fixed("GET", "/v1/credits")),
    Endpoint("POST /v1/credits", new_credit, BILLING_STAFF, BILLING_STAFF),
    Endpoint("GET /v1/payment_methods", fixed("GET", "/v1/payment_methods")),
    Endpoint("POST /v1/payment_methods", new_payment_method),
    # Another tenant's payment method: billing staff (admin, billing) reach it; anyone else 404.
    Endpoint("GET /v1/payment_methods/{id}", payment_method_request("GET"), other=INVOICE_READERS),
    Endpoint("PUT /v1/payment_methods/{id}", payment_method_request("PUT"), other=INVOICE_READERS),
    Endpoint("DELETE /v1/payment_methods/{id}", payment_method_request("DELETE"), other=INVOICE_READERS),
    Endpoint(
        "POST /v1/payment_methods/{id}/actions/set_default",
        payment_method_request("POST", "/actions/set_default"),
        other=INVOICE_READERS,
    ),
    Endpoint("GET /v1/pricing_plans", fixed("GET", "/v1/pricing_plans")),
    Endpoint("GET /v1/pricing_plans/{id}", pricing_plan_request("GET")),
    Endpoint("POST /v1/pricing_plans", pricing_plan_request("POST"), ADMINS_ONLY),
    Endpoint("PUT /v1/pricing_plans/{id}", pricing_plan_request("PUT"), ADMINS_ONLY),
    Endpoint("GET /v1/tickets", fixed("GET", "/v1/tickets")),
    Endpoint("POST /v1/tickets", fixed("POST", "/v1/tickets", {"subject": "Matrix", "message": "Hello"})),
    Endpoint("GET /v1/tickets/{id}", ticket_request("GET", "/v1/tickets"), other=EVERYONE_ELSES),
    Endpoint("GET /v1/tickets/{id}/messages", ticket_request("GET", "/v1/tickets", "/messages"), other=EVERYONE_ELSES),
    Endpoint(
        "POST /v1/tickets/{id}/messages",
        ticket_request("POST", "/v1/tickets", "/messages", {"message": "More detail."}),
        other=EVERYONE_ELSES,
    ),
    Endpoint(
        "GET /v1/tickets/{id}/attachments/{attachment_id}",
        ticket_request("GET", "/v1/tickets", "/attachments/{attachment}", attachment=True),
        other=EVERYONE_ELSES,
    ),
    Endpoint("POST /v1/tickets/{id}/close", ticket_request("POST", "/v1/tickets", "/close"), other=EVERYONE_ELSES),
    Endpoint(
        "POST /v1/tickets/{id}/reopen",
        ticket_request("POST", "/v1/tickets", "/reopen", resolved=True),
        other=EVERYONE_ELSES,
    ),
    Endpoint(
        "POST /v1/tickets/{id}/rate",
        ticket_request("POST", "/v1/tickets", "/rate", {"rating": 4}, resolved=True),
        other=EVERYONE_ELSES,
    ),
    Endpoint("GET /v1/admin/tickets", fixed("GET", "/v1/admin/tickets"), own=HELPDESK),
    Endpoint("GET /v1/admin/tickets/{id}", ticket_request("GET", "/v1/admin/tickets"), own=HELPDESK, other=HELPDESK),
    Endpoint(
        "GET /v1/admin/tickets/{id}/messages",
        ticket_request("GET", "/v1/admin/tickets", "/messages"),
        own=HELPDESK,
        other=HELPDESK,
    ),
    Endpoint(
        "POST /v1/admin/tickets/{id}/messages",
        ticket_request("POST", "/v1/admin/tickets", "/messages", {"message": "We are on it."}),
        own=HELPDESK,
        other=HELPDESK,
    ),
    Endpoint(
        "POST /v1/admin/tickets/{id}/notes",
        ticket_request("POST", "/v1/admin/tickets", "/notes", {"message": "Internal."}),
        own=HELPDESK,
        other=HELPDESK,
    ),
    Endpoint(
        "GET /v1/admin/tickets/{id}/attachments/{attachment_id}",
        ticket_request("GET", "/v1/admin/tickets", "/attachments/{attachment}", attachment=True),
        own=HELPDESK,
        other=HELPDESK,
    ),
    Endpoint("POST /v1/admin/tickets/{id}/assign", ticket_assignment, own=HELPDESK, other=HELPDESK),
    Endpoint(
        "POST /v1/admin/tickets/{id}/status",
        ticket_request("POST", "/v1/admin/tickets", "/status", {"status": "resolved"}),
        own=HELPDESK,
        other=HELPDESK,
    ),
    # The caller's own inbox: another's notification is 404 to anyone, staff included.
    Endpoint("GET /v1/notifications", fixed("GET", "/v1/notifications")),
    Endpoint("POST /v1/notifications/read_all", fixed("POST", "/v1/notifications/read_all")),
    Endpoint("POST /v1/notifications/{id}/read", notification_read, other=EVERYONE_ELSES),
    Endpoint("GET /v1/notifications/preferences", fixed("GET", "/v1/notifications/preferences")),
    Endpoint(
        "PUT /v1/notifications/preferences",
        fixed(
            "PUT",
            "/v1/notifications/preferences",
            {"preferences": [{"kind": "maintenance_completed", "channel": "email", "enabled": False}]},
        ),
    ),
    # The caller's own webhook secret (an organization's needs a key bound to it, as its owner or admin).
    Endpoint("GET /v1/notifications/webhook_secret", fixed("GET", "/v1/notifications/webhook_secret")),
    Endpoint("POST /v1/notifications/webhook_secret/rotate", fixed("POST", "/v1/notifications/webhook_secret/rotate")),
    # Maintenance windows belong to no tenant: the helpdesk's staff keep them (the public list
    # needs no credentials: tests/integration/support).
    Endpoint("GET /v1/admin/maintenance_windows", fixed("GET", "/v1/admin/maintenance_windows"), own=HELPDESK),
    Endpoint(
        "POST /v1/admin/maintenance_windows",
        lambda world, caller, target: ("POST", "/v1/admin/maintenance_windows", window_body()),
        own=HELPDESK,
    ),
    Endpoint("GET /v1/admin/maintenance_windows/{id}", window_request("GET"), own=HELPDESK),
    Endpoint("PUT /v1/admin/maintenance_windows/{id}", window_request("PUT", "", {"title": "Moved"}), own=HELPDESK),
    Endpoint("POST /v1/admin/maintenance_windows/{id}/cancel", window_request("POST", "/cancel"), own=HELPDESK),
    # Last: once a caller has two-factor authentication on, its password alone signs in no more.
    Endpoint("POST /v1/me/two_factor/confirm", two_factor_flow),
)

CELLS = [
    pytest.param(endpoint, caller, target, id=f"{endpoint.name} | {caller} | {target}")
    for endpoint in ENDPOINTS
    for caller in CALLERS
    for target in ("own", "other")
    if endpoint.expected(caller, target) is not None
]


@pytest.mark.parametrize(("endpoint", "caller", "target"), CELLS)
def test_each_role_and_tenant_is_allowed_or_denied(
    world: World, endpoint: Endpoint, caller: str, target: Target
) -> None:
    who = world.callers[caller]
    built = endpoint.request(world, who, target)
    assert built is not None
    method, path, body = built
    answer = world.call(method, path, who, body)
    expected = endpoint.expected(caller, target)
    if expected == OK:
        assert 200 <= answer.status_code < 300, f"{method} {path} as {caller}: {answer.status_code} {answer.text}"
    else:
        assert answer.status_code == expected, f"{method} {path} as {caller}: {answer.status_code} {answer.text}"
        code = {FORBIDDEN: "forbidden", NOT_FOUND: "not_found", NOT_SUPPORTED: "not_supported"}[expected]
        assert answer.json()["error"]["code"] == code, answer.text


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_without_credentials_every_endpoint_answers_401(world: World, endpoint: Endpoint) -> None:
    """Refused before anything is looked at: ids and body do not matter."""
    method, _, template = endpoint.name.partition(" ")
    path = re.sub(r"\{[a-z_]+\}", "1", template)
    answer = world.call(method, path, None, {} if method in ("POST", "PUT", "PATCH") else None)
    assert answer.status_code == 401, f"{method} {path}: {answer.status_code} {answer.text}"
    assert answer.json()["error"]["code"] == "unauthorized"


def test_the_matrix_covers_every_authenticated_route_of_the_document(world: World) -> None:
    document = httpx.get(f"{world.platform.gateway}/v1/openapi.json", timeout=10).json()
    public = {
        "/v1/auth/signup",
        "/v1/auth/verify",
        "/v1/auth/verify/resend",
        "/v1/auth/password_reset",
        "/v1/auth/password_reset/confirm",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/maintenance_windows",
        # The invitation mail's link (GET, no credentials); its POST is a row of the matrix.
        "/v1/organizations/invitations/accept",
    }
    routes = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if path not in public and path != "/v1/auth/logout"
    }
    covered = {re.sub(r"/actions/(suspend|activate|ban)$", "/actions/{action}", e.name) for e in ENDPOINTS}
    # Covered by their own flows (tests/integration/gateway/test_two_factor_api.py, test_auth.py).
    elsewhere = {
        "POST /v1/me/two_factor",
        "POST /v1/me/two_factor/disable",
        "POST /v1/me/two_factor/recovery_codes",
        "POST /v1/me/password",
    }
    normalised = {re.sub(r"\{[a-z_]+\}", "{id}", r) for r in routes}
    missing = normalised - {re.sub(r"\{[a-z_]+\}", "{id}", c) for c in covered} - elsewhere
    assert not missing, f"routes with no row in the matrix: {sorted(missing)}"
