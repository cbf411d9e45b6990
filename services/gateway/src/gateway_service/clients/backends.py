"""The gateway's backend clients, wired once when the app is made and reached by every route the
same way: ``backends(request).compute``, ``backends(request).servers``, ..."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from grpc import aio

from gateway_service.clients.accounts import AccountsClient
from gateway_service.clients.admin import AdminClient
from gateway_service.clients.audit import AuditClient
from gateway_service.clients.billing import BillingClient
from gateway_service.clients.compute import ComputeClient
from gateway_service.clients.firewalls import FirewallClient
from gateway_service.clients.floating_ips import FloatingIpClient
from gateway_service.clients.identity import IdentityClient
from gateway_service.clients.load_balancers import CertificateClient, LoadBalancerClient
from gateway_service.clients.maintenance import MaintenanceClient
from gateway_service.clients.monitoring import AlertClient, AlertRuleClient, MonitoringClient, UptimeMonitorClient
from gateway_service.clients.networks import NetworkClient
from gateway_service.clients.notifications import NotificationClient
from gateway_service.clients.organizations import OrganizationsClient
from gateway_service.clients.placement_groups import PlacementGroupClient
from gateway_service.clients.primary_ips import PrimaryIpClient
from gateway_service.clients.servers import ServerClient
from gateway_service.clients.storage import StorageClient
from gateway_service.clients.tickets import TicketClient
from gateway_service.clients.two_factor import TwoFactorClient
from gateway_service.price_list import PriceListCache


@dataclass(frozen=True)
class Backends:
    """One client per backend gRPC service the routes call."""

    identity: IdentityClient
    """Identity's IdentityService: authentication and API keys."""
    accounts: AccountsClient
    admin: AdminClient
    organizations: OrganizationsClient
    two_factor: TwoFactorClient
    audit: AuditClient
    compute: ComputeClient
    """Compute's ComputeService: the catalog and SSH keys."""
    servers: ServerClient
    """Compute's ServerService: servers, their actions and images."""
    placement_groups: PlacementGroupClient
    floating_ips: FloatingIpClient
    """Network's FloatingIpService: floating IPs and network's actions."""
    primary_ips: PrimaryIpClient
    """Network's PrimaryIpService: primary IPs (a server's own addresses too)."""
    storage: StorageClient
    """Storage's VolumeService: volumes and their actions."""
    networks: NetworkClient
    """Network's PrivateNetworkService: private networks and the servers' attachments."""
    firewalls: FirewallClient
    """Network's FirewallService: firewalls and the servers they cover."""
    load_balancers: LoadBalancerClient
    """Network's LoadBalancerService: load balancers, their actions and the servers they target."""
    certificates: CertificateClient
    """Network's CertificateService: uploaded certificates."""
    billing: BillingClient
    tickets: TicketClient
    """Support's TicketService: tickets, their threads and attachments."""
    maintenance: MaintenanceClient
    """Support's MaintenanceService: maintenance windows."""
    notifications: NotificationClient
    """Support's NotificationService: the caller's in-app inbox."""
    monitoring: MonitoringClient
    """Monitoring's MonitoringService: servers' stored metrics."""
    alert_rules: AlertRuleClient
    """Monitoring's AlertRuleService."""
    alerts: AlertClient
    """Monitoring's AlertService."""
    uptime_monitors: UptimeMonitorClient
    """Monitoring's UptimeMonitorService."""
    prices: PriceListCache
    """Billing's price list (plans and included VAT), cached per process: ``await ….prices.get()``."""

    @classmethod
    def wire(cls, channel: Callable[[str], aio.Channel]) -> Backends:
        """The clients over ``channel(backend)``, asked at each call: the channels are opened in
        the app's lifespan, after wiring."""

        def of(backend: str) -> Callable[[], aio.Channel]:
            return lambda: channel(backend)

        billing = BillingClient(of("billing"))
        return cls(
            identity=IdentityClient(of("identity")),
            accounts=AccountsClient(of("identity")),
            admin=AdminClient(of("identity")),
            organizations=OrganizationsClient(of("identity")),
            two_factor=TwoFactorClient(of("identity")),
            audit=AuditClient(of("audit")),
            compute=ComputeClient(of("compute")),
            servers=ServerClient(of("compute")),
            placement_groups=PlacementGroupClient(of("compute")),
            floating_ips=FloatingIpClient(of("network")),
            primary_ips=PrimaryIpClient(of("network")),
            storage=StorageClient(of("storage")),
            networks=NetworkClient(of("network")),
            firewalls=FirewallClient(of("network")),
            load_balancers=LoadBalancerClient(of("network")),
            certificates=CertificateClient(of("network")),
            billing=billing,
            tickets=TicketClient(of("support")),
            maintenance=MaintenanceClient(of("support")),
            notifications=NotificationClient(of("support")),
            monitoring=MonitoringClient(of("monitoring")),
            alert_rules=AlertRuleClient(of("monitoring")),
            alerts=AlertClient(of("monitoring")),
            uptime_monitors=UptimeMonitorClient(of("monitoring")),
            prices=PriceListCache(billing.price_list),
        )


BACKENDS_STATE = "backends"


def backends(request: Request) -> Backends:
    """The app's backend clients (``create_app`` keeps them in its state)."""
    wired: Backends = getattr(request.app.state, BACKENDS_STATE)
    return wired
