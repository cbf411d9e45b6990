"""The backend clients of a request: the one place a route gets one (the app wires them into its
state at start, ``gateway_service.app``)."""

from __future__ import annotations

from fastapi import Request

from gateway_service.clients.accounts import AccountsClient
from gateway_service.clients.admin import AdminClient
from gateway_service.clients.audit import AuditClient
from gateway_service.clients.billing import BillingClient
from gateway_service.clients.compute import ComputeClient
from gateway_service.clients.identity import IdentityClient
from gateway_service.clients.organizations import OrganizationsClient
from gateway_service.clients.placement_groups import PlacementGroupClient
from gateway_service.clients.servers import ServerClient
from gateway_service.clients.two_factor import TwoFactorClient


def identity_client(request: Request) -> IdentityClient:
    client: IdentityClient = request.app.state.identity
    return client


def accounts_client(request: Request) -> AccountsClient:
    client: AccountsClient = request.app.state.accounts
    return client


def admin_client(request: Request) -> AdminClient:
    client: AdminClient = request.app.state.admin
    return client


def organizations_client(request: Request) -> OrganizationsClient:
    client: OrganizationsClient = request.app.state.organizations
    return client


def two_factor_client(request: Request) -> TwoFactorClient:
    client: TwoFactorClient = request.app.state.two_factor
    return client


def audit_client(request: Request) -> AuditClient:
    client: AuditClient = request.app.state.audit
    return client


def compute_client(request: Request) -> ComputeClient:
    """Compute's ComputeService: the catalog and SSH keys."""
    client: ComputeClient = request.app.state.compute
    return client


def server_client(request: Request) -> ServerClient:
    """Compute's ServerService: servers, their actions and images."""
    client: ServerClient = request.app.state.servers
    return client


def placement_group_client(request: Request) -> PlacementGroupClient:
    client: PlacementGroupClient = request.app.state.placement_groups
    return client


def billing_client(request: Request) -> BillingClient:
    client: BillingClient = request.app.state.billing
    return client
